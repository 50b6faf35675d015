#!/usr/bin/env bash
# On the GPU machine: build bench_train_step and run tools/bench_pair.py on the named configs (gemma-tune and
# transformers + PEFT side by side), results to $OUT/results.jsonl (copy the lines into bench/results.jsonl).
#   COMMIT=$(git rev-parse --short HEAD) bash tools/device/pair.sh gemma4-E2B-text-4x1024 ...   (carry .device)
# With no config named, only PROFILE and PHASES run. PHASES="config ..." first runs those gemma-tune configs with
# --phases (time and peak memory per phase) into $OUT/phases.jsonl. PROFILE="config ..." writes a Kineto trace of one step of each config and its summary
# (tools/trace_summary.py) to $OUT/profile-CONFIG.txt. The whole call stops cleanly before the device's 600 s limit
# (LIMIT_S, default 585).
# A fresh machine needs minutes to build: the built binary is saved, stripped and xz-packed, as
# $OUT/bench_train_step.xz; put it in .device/ and the next call (also on a fresh machine of the same image) runs
# it instead of building, when its commit matches COMMIT (.device/bench_train_step.commit).
set -uo pipefail
source tools/device/env.sh
t0=$(date +%s); left() { echo $(( ${LIMIT_S:-585} - ($(date +%s) - t0) )); }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
BENCH=build-cuda/bench/bench_train_step
if [ -f .device/bench_train_step.xz ] && [ "$(cat .device/bench_train_step.commit 2>/dev/null)" = "${COMMIT:-}" ]; then
  BENCH=/tmp/bench_train_step
  xz -dc .device/bench_train_step.xz > $BENCH && chmod +x $BENCH
  echo "== prebuilt bench_train_step of ${COMMIT}"
else
  configure_cuda_build
  cmake --build build-cuda -j16 --target bench_train_step 2>&1 | tail -1
  strip -o /tmp/bench_train_step.stripped $BENCH && xz -T16 -3 -c /tmp/bench_train_step.stripped > "$OUT/bench_train_step.xz"
  echo "${COMMIT:-unknown}" > "$OUT/bench_train_step.commit"
  ls -la "$OUT/bench_train_step.xz"
fi
echo "== built at $(( $(date +%s) - t0 )) s"
args_of() {
  python3 -c "import sys; sys.path.insert(0, 'tools'); import bench_pair; a, o = bench_pair.parse(sys.argv[1]); print(' '.join(a + o))" "$1"
}
for name in ${PROFILE:-}; do
  timeout "$(left)" $BENCH $(args_of "$name") --device cuda --steps 2 --warmup 2 --profile /tmp/trace.json &&
    python3 tools/trace_summary.py /tmp/trace.json > "$OUT/profile-$name.txt"; head -${PROFILE_LINES:-40} "$OUT/profile-$name.txt"
  echo "== profile of $name at $(( $(date +%s) - t0 )) s"
done
if [ -n "${PHASES:-}" ]; then
  for name in $PHASES; do
    timeout "$(left)" $BENCH $(args_of "$name") --device cuda --phases | tee -a "$OUT/phases.jsonl"
  done
  echo "== phases at $(( $(date +%s) - t0 )) s"
fi
[ $# -gt 0 ] && timeout "$(left)" python3 tools/bench_pair.py "$@" --baseline .device/hf_peft_baseline.py \
  --bench $BENCH --results "$OUT/results.jsonl" --commit "${COMMIT:-unknown}"
echo "== done at $(( $(date +%s) - t0 )) s"
