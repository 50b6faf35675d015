#!/usr/bin/env bash
# Makes data/sample-audio: 25 short English sentences spoken by espeak-ng with varied voices, speeds and pitches,
# stored as 16 kHz mono 16-bit wav clips, with train.csv (20 rows) and validation.csv (5 rows) in the
# `audio_path,text` layout of an ASR dataset. Deterministic: the same espeak-ng and ffmpeg versions give the same
# bytes (ffmpeg runs with bitexact flags, so no version tag lands in the files).
#
#   tools/make_sample_audio.sh [OUT_DIR]      (default: data/sample-audio next to this script's folder)
#
# Needs the espeak-ng and ffmpeg programs (`make deps` installs both).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/../data/sample-audio}"

for tool in espeak-ng ffmpeg; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make_sample_audio: $tool is not installed (run \`make deps\`)" >&2; exit 1; }
done

# One line per clip: espeak-ng voice (language+variant) | words per minute | pitch (0-99) | sentence.
# Every fifth clip goes to validation, so both splits hear every kind of voice.
clips=(
  "en-us|160|50|The quick brown fox jumps over the lazy dog."
  "en-gb+f3|150|60|Please turn off the lights when you leave the room."
  "en-us+m3|175|40|It is going to rain tomorrow afternoon."
  "en-gb-scotland|140|45|The train to Edinburgh leaves at half past nine."
  "en-us+f2|165|70|I would like a cup of tea, please."
  "en-029+m2|150|35|Seven plus five is twelve."
  "en-gb-x-rp+f4|135|55|The museum is closed on Mondays."
  "en-us+m1|185|50|Can you hear me clearly now?"
  "en-gb+m4|155|30|Water boils at one hundred degrees Celsius."
  "en-us+f1|145|65|My favourite colour is green."
  "en-us|170|45|She sells sea shells by the sea shore."
  "en-gb-scotland+f2|160|60|Open the window, it is warm in here."
  "en-029|140|50|The library opens at eight in the morning."
  "en-us+m7|180|25|Turn left at the next corner."
  "en-gb+f1|150|75|Birds fly south for the winter."
  "en-gb-x-rp|165|40|The meeting has been moved to Thursday."
  "en-us+f4|155|55|A small cat is sleeping on the sofa."
  "en-gb+m2|145|45|Remember to bring your umbrella."
  "en-us+m4|190|50|Good morning, everyone."
  "en-gb-x-rp+f3|140|65|The river flows into the sea."
  "en-us+f3|150|60|Four hundred people came to the concert."
  "en-gb|175|50|Please speak a little more slowly."
  "en-029+f1|160|55|Fresh bread smells wonderful."
  "en-us+m2|150|35|The north star has helped sailors find their way across the ocean for thousands of years."
  "en-gb-scotland+m3|170|45|Thank you for listening."
)

mkdir -p "$out/clips"
rm -f "$out"/clips/*.wav
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

csv_text() {  # RFC 4180 quoting when the sentence holds a comma or a quote
  local t="$1"
  if [[ "$t" == *[,\"]* ]]; then t="\"${t//\"/\"\"}\""; fi
  printf '%s' "$t"
}

header="audio_path,text"
printf '%s\n' "$header" >"$out/train.csv"
printf '%s\n' "$header" >"$out/validation.csv"

i=0
for line in "${clips[@]}"; do
  IFS='|' read -r voice speed pitch text <<<"$line"
  i=$((i + 1))
  name="$(printf '%03d' "$i").wav"
  espeak-ng -v "$voice" -s "$speed" -p "$pitch" -w "$tmp/raw.wav" "$text"
  # espeak-ng writes 22050 Hz; resample to 16 kHz mono 16-bit and cut the trailing silence it appends.
  ffmpeg -hide_banner -loglevel error -nostdin -y -i "$tmp/raw.wav" \
    -af "areverse,silenceremove=start_periods=1:start_threshold=-50dB:start_silence=0.1,areverse" \
    -ac 1 -ar 16000 -c:a pcm_s16le -map_metadata -1 -fflags +bitexact -flags:a +bitexact "$out/clips/$name"
  split="train"
  if ((i % 5 == 0)); then split="validation"; fi
  printf 'clips/%s,%s\n' "$name" "$(csv_text "$text")" >>"$out/$split.csv"
done

echo "make_sample_audio: wrote $i clips to $out ($(du -sh "$out" | cut -f1))"
