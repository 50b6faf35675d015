#!/usr/bin/env bash
# `make demo`: the main job on the bundled defaults. A tiny random-weight Gemma 4 checkpoint (made by init-random,
# with the real Gemma tokenizer) is LoRA-trained on data/sample-text on whatever device this machine has, and
# evaluated on the validation split without and with the new adapter.
set -euo pipefail
build="${1:-build}"
bin="$build/gemma-tune"
work=".cache/demo"
model="$work/gemma4-tiny"
mkdir -p "$work"

echo "== gemma-tune doctor"
"$bin" doctor
echo
if [ ! -f "$model/model.safetensors" ]; then
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
