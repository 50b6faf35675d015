#!/usr/bin/env bash
# On the GPU machine: the real `train` command against bench_train_step at the same shape (issue #11: train within 10%
# of the step benchmark, GPU busy % in its progress line). A random-weight E2B checkpoint (init-random, bf16), 200
# completion rows longer than 1024 tokens (random common words, the real tokenizer: carry .cache/gemma3-tokenizer and
# .device), trained at 4 x 1024 for STEPS steps; tokens/s is the median of the metrics rows after the first; then the
# step benchmark with the same family and shape. FAMILY (default gemma4), EXTRA (more train flags, e.g. --quantize nf4).
set -uo pipefail
source tools/device/env.sh
fam=${FAMILY:-gemma4}
t0=$(date +%s); stamp() { echo "== $1 at $(( $(date +%s) - t0 )) s"; }
configure_cuda_build
cmake --build build-cuda -j16 --target gemma-tune bench_train_step 2>&1 | tail -1
stamp built
m=/tmp/tvb-$fam
[ -d $m ] || ./build-cuda/gemma-tune init-random --family $fam --size E2B --dtype bfloat16 --out $m \
  --tokenizer .cache/gemma3-tokenizer/tokenizer.json > /dev/null
stamp "init-random"
python3 tools/device/words_dataset.py /tmp/tvb-data 200 1400
rm -rf /tmp/tvb-runs
./build-cuda/gemma-tune train --model $m --data /tmp/tvb-data --out /tmp/tvb-runs --mode completion --max-seq-len 1024 \
  --batch-size 4 --max-steps ${STEPS:-30} --save-every 0 --log-every 1 --device cuda ${EXTRA:-} 2>&1 |
  tr '\r' '\n' | grep -E "^(model|quantized|schedule)|train \[" | tail -5
python3 - <<'PY'
import glob, json, statistics
rows = [json.loads(l) for l in open(glob.glob("/tmp/tvb-runs/*/metrics.jsonl")[0]) if '"tokens_per_s"' in l]
rows = rows[1:]
tps = statistics.median(r["tokens_per_s"] for r in rows)
util = [r["gpu_util"] for r in rows if "gpu_util" in r]
peak = max(r["peak_memory_bytes"] for r in rows) / 2**30
print(json.dumps({"tool": "gemma-tune train", "tokens_per_s": tps, "peak_gib": peak,
                  "gpu_util_median": statistics.median(util) if util else None, "rows": len(rows)}))
PY
stamp train
./build-cuda/bench/bench_train_step --family $fam --size E2B --batch 4 --seq 1024 --device cuda ${BENCH_EXTRA:-}
stamp bench
