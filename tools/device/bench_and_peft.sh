#!/usr/bin/env bash
# Second GPU call: rebuild what changed, the Gemma 3n PEFT round trip with its messages, then the benchmarks.
set -uo pipefail
source tools/device/env.sh
configure_cuda_build > /dev/null
ninja -C build-cuda -j16 gemma-tune bench_train_step 2>&1 | grep -E "error|FAILED" | head
m=/tmp/peft-gemma3n
rm -rf $m /tmp/runs-gemma3n
./build-cuda/gemma-tune init-random --family gemma3n --out $m --tokenizer .cache/gemma3-tokenizer/tokenizer.json --dtype float32 > /dev/null
./build-cuda/gemma-tune train --model $m --data data/sample-text --out /tmp/runs-gemma3n --max-steps 20 --lr 5e-3 \
  --batch-size 4 --max-seq-len 256 --device cuda --dtype float32 --save-every 10 > /dev/null 2>&1
run=$(ls -d /tmp/runs-gemma3n/*/ | head -1)
python3 tools/check_peft_adapter.py write-rows $m /tmp/rows.jsonl
echo "gemma-tune eval (gemma3n):" $(./build-cuda/gemma-tune eval --model $m --adapter $run/adapter --data /tmp/rows.jsonl \
  --mode completion --dtype float32 --device cuda --json 2>/dev/null)
python3 tools/check_peft_adapter.py loss $m $run/adapter /tmp/rows.jsonl 2>&1 | grep -v Warning | tail -4
bash tools/device/bench.sh 2>&1 | grep -E "^\{|H100|what|rror" | head -20
