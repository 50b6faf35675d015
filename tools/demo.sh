#!/usr/bin/env bash
# `make demo`: the main jobs on the bundled defaults. A tiny random-weight Gemma 4 checkpoint (made by init-random,
# with the real Gemma tokenizer, audio and vision towers included) is LoRA-trained on data/sample-text, then on the
# speech-recognition set data/sample-audio (--modality audio), then on the captioning set data/sample-image
# (--modality image), on whatever device this machine has, and each time evaluated on the validation split without
# and with the new adapter. Then the image adapter is used: a caption generated, the validation captions scored
# (eval --generate, base vs adapter), the adapter merged and exported, the export verified, the runs listed.
set -euo pipefail
build="${1:-build}"
bin="$build/gemma-tune"
work=".cache/demo"
model="$work/gemma4-tiny"
mkdir -p "$work"

echo "== gemma-tune doctor"
"$bin" doctor
echo
# (re)made when missing, or when an older gemma-tune wrote it without the audio tower
if ! head -c 200000 "$model/model.safetensors" 2>/dev/null | grep -q "model.audio_tower"; then
  rm -rf "$model"
  echo "== init-random: a tiny Gemma 4 checkpoint in $model"
  "$bin" init-random --family gemma4 --size tiny --out "$model" --tokenizer .cache/gemma3-tokenizer/tokenizer.json --seed 1
  echo
fi
echo "== eval before training (validation split)"
before=$("$bin" eval --model "$model" --data data/sample-text --json)
echo "$before"
echo
echo "== train: LoRA r=16 on the 7 projections, 40 steps"
"$bin" train --model "$model" --data data/sample-text --out "$work/runs" --name demo \
  --max-steps 40 --batch-size 4 --lr 1e-2 --max-seq-len 256 --eval-every 20 --save-every 20
run=$(ls -td "$work"/runs/*-demo* | head -1)
echo
echo "== training loss by step ($run/metrics.jsonl)"
grep '"loss"' "$run/metrics.jsonl" | awk -F'"loss":' 'NR % 5 == 0 { split($2, a, ","); printf "  step %2d  loss %s\n", NR, a[1] }'
echo
echo "== eval after training (validation split, with the adapter)"
after=$("$bin" eval --model "$model" --adapter "$run/adapter" --data data/sample-text --json)
echo "$after"
echo
echo "eval loss without the adapter: $(echo "$before" | sed 's/.*"loss":\([0-9.]*\).*/\1/')"
echo "eval loss with the adapter:    $(echo "$after" | sed 's/.*"loss":\([0-9.]*\).*/\1/')"
echo "adapter (PEFT format): $run/adapter"
echo
echo "== audio: eval before training (data/sample-audio, validation split: espeak-ng speech + transcripts)"
before_a=$("$bin" eval --model "$model" --data data/sample-audio --modality audio --json)
echo "$before_a"
echo
echo "== audio: train (speech recognition), 24 steps"
"$bin" train --model "$model" --data data/sample-audio --modality audio --out "$work/runs" --name demo-audio \
  --max-steps 24 --batch-size 4 --lr 1e-2 --max-seq-len 512 --eval-every 12 --save-every 12
run_a=$(ls -td "$work"/runs/*-demo-audio* | head -1)
after_a=$("$bin" eval --model "$model" --adapter "$run_a/adapter" --data data/sample-audio --modality audio --json)
echo
echo "audio eval loss without the adapter: $(echo "$before_a" | sed 's/.*"loss":\([0-9.]*\).*/\1/')"
echo "audio eval loss with the adapter:    $(echo "$after_a" | sed 's/.*"loss":\([0-9.]*\).*/\1/')"
echo "adapter (PEFT format): $run_a/adapter"
echo
echo "== image: eval before training (data/sample-image, validation split: drawn shapes and words + captions)"
before_i=$("$bin" eval --model "$model" --data data/sample-image --modality image --image-token-budget 70 --json)
echo "$before_i"
echo
echo "== image: train (captioning, 70 soft tokens per image), 24 steps"
"$bin" train --model "$model" --data data/sample-image --modality image --image-token-budget 70 --out "$work/runs" \
  --name demo-image --max-steps 24 --batch-size 4 --lr 1e-2 --max-seq-len 256 --eval-every 12 --save-every 12
run_i=$(ls -td "$work"/runs/*-demo-image* | head -1)
# the adapter brings its image token budget to eval
after_i=$("$bin" eval --model "$model" --adapter "$run_i/adapter" --data data/sample-image --modality image --json)
echo
echo "image eval loss without the adapter: $(echo "$before_i" | sed 's/.*"loss":\([0-9.]*\).*/\1/')"
echo "image eval loss with the adapter:    $(echo "$after_i" | sed 's/.*"loss":\([0-9.]*\).*/\1/')"
echo "adapter (PEFT format): $run_i/adapter"
echo
echo "== use it: generate a caption for a validation image with the image adapter"
"$bin" generate --model "$model" --adapter "$run_i/adapter" --image data/sample-image/images/shape-05.png \
  --prompt "Describe this image." --temperature 0 --max-new-tokens 16
echo "(reference: Three green triangles on a white background.)"
echo
echo "== eval --generate: captions of the validation split scored against the references, base vs adapter"
rm -rf "$work/eval-image"
"$bin" eval --generate --model "$model" --adapter "$run_i/adapter" --compare-adapter --data data/sample-image \
  --modality image --max-new-tokens 16 --out "$work/eval-image"
echo
echo "== export: the image adapter merged into the model (Hugging Face layout), then verified"
rm -rf "$work/merged-image"
"$bin" export --model "$model" --adapter "$run_i/adapter" --format merged --out "$work/merged-image"
"$bin" verify "$work/merged-image"
echo
echo "== runs list"
"$bin" runs list --dir "$work/runs"
