#!/usr/bin/env bash
# On the GPU machine: build bench_train_step and run tools/bench_pair.py on the named configs (gemma-tune and
# transformers + PEFT side by side), results to $OUT/results.jsonl (copy the lines into bench/results.jsonl).
#   COMMIT=$(git rev-parse --short HEAD) bash tools/device/pair.sh gemma4-E2B-text-4x1024 ...   (carry .device)
# PHASES="config ..." first runs those gemma-tune configs with --phases (time and peak memory per phase) into
# $OUT/phases.jsonl. The whole call stops cleanly before the device's 600 s limit (LIMIT_S, default 585).
set -uo pipefail
source tools/device/env.sh
t0=$(date +%s); left() { echo $(( ${LIMIT_S:-585} - ($(date +%s) - t0) )); }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
configure_cuda_build
cmake --build build-cuda -j16 --target bench_train_step 2>&1 | tail -1
echo "== built at $(( $(date +%s) - t0 )) s"
if [ -n "${PHASES:-}" ]; then
  for name in $PHASES; do
    args=$(python3 -c "import sys; sys.path.insert(0, 'tools'); import bench_pair; a, o = bench_pair.parse(sys.argv[1]); print(' '.join(a + o))" "$name")
    timeout "$(left)" ./build-cuda/bench/bench_train_step $args --device cuda --phases | tee -a "$OUT/phases.jsonl"
  done
  echo "== phases at $(( $(date +%s) - t0 )) s"
fi
timeout "$(left)" python3 tools/bench_pair.py "$@" --baseline .device/hf_peft_baseline.py \
  --bench build-cuda/bench/bench_train_step --results "$OUT/results.jsonl" --commit "${COMMIT:-unknown}"
echo "== done at $(( $(date +%s) - t0 )) s"
