#!/usr/bin/env bash
# On the GPU machine: the per-layer embedding table on the host (models::TablePlacement::Host, the default) against
# on the GPU, at the real E2B shapes, in the same call; the parity tests on CUDA first (they load with the table on
# the host). FAMILIES picks the families (default both); STAGE=tests|bench|all (default all). Carry .device.
set -uo pipefail
source tools/device/env.sh
exec > >(tee -a "$OUT/ple.log") 2>&1
t0=$(date +%s); stamp() { echo "== $1 at $(( $(date +%s) - t0 )) s"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
configure_cuda_build
cmake --build build-cuda -j16 --target bench_train_step gt_torch_tests 2>&1 | tail -1
stamp built
if [ "${STAGE:-all}" != bench ]; then
  ./build-cuda/tests/gt_torch_tests --gtest_filter='*Parity*:*Cuda*:*CUDA*' 2>&1 |
    grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED  \]|tests ran" | head -20
  stamp tests
fi
if [ "${STAGE:-all}" != tests ]; then
  for fam in ${FAMILIES:-gemma4 gemma3n}; do
    for ple in "" --ple-on-device; do
      ./build-cuda/bench/bench_train_step --family $fam --size E2B --batch 1 --seq 2048 --gc --device cuda $ple
      ./build-cuda/bench/bench_train_step --family $fam --size E2B --batch 4 --seq 1024 --device cuda $ple
    done
    stamp "$fam"
  done
fi
