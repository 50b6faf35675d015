#!/usr/bin/env bash
# On the GPU machine, one call: build HEAD (bench_train_step, gemma-tune, gt_torch_tests), run the tests that compare
# the CUDA paths against their composites (GT_TEST_DEVICE=cuda parity tests included), then, in this order, a Kineto
# trace summary of each config in PROFILE, an op census of each in CENSUS, each lever of LEVERS switched off in turn on LEVER_CONFIG
# (tools/device/variants.sh), the pairs named in PAIRS against transformers + PEFT, and GC_CONFIG's variants, all
# inside LIMIT_S (default 570) seconds. Carry .device and tools/npm/node_modules/uplot.
#   COMMIT=$(git rev-parse --short HEAD) PAIRS="gemma4-E2B-text-4x1024" LEVER_CONFIG=gemma4-E2B-text-4x1024 bash tools/device/levers.sh
set -uo pipefail
source tools/device/env.sh
t0=$(date +%s); left() { echo $(( ${LIMIT_S:-570} - ($(date +%s) - t0) )); }
configure_cuda_build; grep -E "data-parallel|kernels|CMake Error" -A3 "$OUT/configure.log" | head -30
cmake --build build-cuda -j16 --target bench_train_step gemma-tune gt_torch_tests 2>&1 | grep -E "error|FAILED" -A3 | head -40
echo "== built at $(( $(date +%s) - t0 )) s"
./build-cuda/gemma-tune doctor 2>&1 | grep -iE "processes|nccl|gloo|device"
(cd build-cuda && GT_TEST_DEVICE=cuda timeout 120 ./tests/gt_torch_tests \
  --gtest_filter='RmsNorm*:GroupedAttention*:Attention*:ChunkedLoss*:Rope*:*TextParity*:LoraLinear*:*Checkpointing*' 2>&1 |
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |Failure|actual|\[parity\]" | tee "$OUT/cuda_tests.log" | head -80)
echo "== tested at $(( $(date +%s) - t0 )) s"
BENCH=build-cuda/bench/bench_train_step
args_of() {
  python3 -c "import sys; sys.path.insert(0, 'tools'); import bench_pair; a, o = bench_pair.parse(sys.argv[1]); print(' '.join(a + o))" "$1"
}
for name in ${PROFILE:-}; do  # a Kineto trace of one step and its summary, as in pair.sh
  timeout "$(left)" $BENCH $(args_of "$name") --device cuda --steps 2 --warmup 2 --profile /tmp/trace.json &&
    python3 tools/trace_summary.py /tmp/trace.json > "$OUT/profile-$name.txt"; head -${PROFILE_LINES:-40} "$OUT/profile-$name.txt"
  echo "== profile of $name at $(( $(date +%s) - t0 )) s"
done
for name in ${CENSUS:-}; do  # kernel-running ops and host-device syncs of one step (bench/op_census.h)
  timeout "$(left)" $BENCH $(args_of "$name") --device cuda --steps 1 --warmup 1 --census 2>&1 | tail -50 |
    tee "$OUT/census-$name.txt" | head -4 | cut -c1-1500
  echo "== census of $name at $(( $(date +%s) - t0 )) s"
done
[ -n "${LEVER_CONFIG:-}" ] && BENCH=$BENCH LIMIT_S=$(left) \
  VARIANTS="${LEVERS:---composite-norm|--repeat-kv|--composite-attention-above 100000}" \
  bash tools/device/variants.sh $LEVER_CONFIG
for name in ${PAIRS:-}; do
  [ "$(left)" -le 60 ] && { echo "== no time for the pair $name"; break; }
  timeout "$(left)" python3 tools/bench_pair.py "$name" --baseline .device/hf_peft_baseline.py --bench $BENCH \
    --results "$OUT/results.jsonl" --commit "${COMMIT:-unknown}" 2>&1 | tail -2
  echo "== pair $name at $(( $(date +%s) - t0 )) s"
done
[ -n "${GC_CONFIG:-}" ] && BENCH=$BENCH LIMIT_S=$(left) VARIANTS="|--composite-attention-above 100000" \
  bash tools/device/variants.sh $GC_CONFIG
echo "== done at $(( $(date +%s) - t0 )) s"
