#!/usr/bin/env bash
# Speaks a few English sentences with espeak-ng and writes them as 16 kHz mono 16-bit PCM wav files into
# tests/fixtures/audio/speech/ (committed). They are the real-speech inputs of the audio feature-extractor parity
# fixtures (tools/make_audio_feature_fixtures.py) and tests (tests/media/audio_features_test.cpp).
#
# Clips (lengths differ so that batching pads, and one has exact digital silence around the speech):
#   short.wav    ~0.8 s   one word
#   medium.wav   ~2.8 s   one sentence
#   long.wav     ~6 s     two clauses
#   padded.wav   ~3.0 s   a short sentence with 0.4 s of zeros before and 0.6 s after (log-floor frames, masks)
# espeak-ng writes 22,050 Hz; ffmpeg resamples to the 16 kHz both families' extractors expect. Flags keep the output
# byte-identical between runs (no encoder tag in the header). Usage, from the repository root:
#   tools/make_speech_clips.sh [out_dir]
set -euo pipefail

out=${1:-tests/fixtures/audio/speech}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in espeak-ng ffmpeg; do
  command -v "$tool" >/dev/null || { echo "make_speech_clips: $tool is not installed" >&2; exit 1; }
done

# speak NAME "TEXT" [ffmpeg audio filter]
speak() {
  local name=$1 text=$2 filter=${3:-anull}
  espeak-ng -v en-us -s 165 -w "$tmp/$name.wav" "$text"
  ffmpeg -nostdin -loglevel error -y -i "$tmp/$name.wav" -af "$filter" -ar 16000 -ac 1 -c:a pcm_s16le \
    -fflags +bitexact -flags:a +bitexact -map_metadata -1 "$out/$name.wav"
}

speak short "Hello."
speak medium "The quick brown fox jumps over the dog."
speak long "Fine tuning a small model on your own recordings takes a few minutes, and the results are often good."
# adelay pads the start with 400 ms of zeros; apad appends 600 ms of zeros (after resampling both stay exact 0).
speak padded "Please transcribe this audio." "adelay=400:all=1,apad=pad_dur=0.6"

for f in short medium long padded; do
  printf '%s  %s bytes\n' "$out/$f.wav" "$(stat -c %s "$out/$f.wav")"
done
