#!/usr/bin/env bash
# On the GPU machine, everything the open issues need from it in one call (device time is scarce and a machine may
# not start twice): the fixtures first (they are what the CPU tests need), then one CUDA build, then the benchmarks
# beside their Python baselines, then the parity tests on CUDA. Each stage has its own time limit so the fixtures
# come back even if a later stage runs long. Results: $OUT/*.tgz (folders relative to tests/fixtures) and logs.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
t0=$(date +%s)
stamp() { echo "== $1 at $(( $(date +%s) - t0 )) s"; }
stamp "vision model fixtures"
timeout 150 bash tools/device/vision_fixtures.sh make_image_model_fixtures
stamp "generation fixtures"
timeout 120 python3 tools/make_generation_fixtures.py --out tests/fixtures/generation > "$OUT/generation.log" 2>&1
echo "rc=$?"; tail -4 "$OUT/generation.log"
tar -czf "$OUT/generation-fixtures.tgz" -C tests/fixtures generation
stamp "merged exports in transformers"
# merged-check/ holds gemma-tune exports of the text fixtures made before the call (tools/check_merged_export.py).
[ -d merged-check ] && timeout 90 python3 tools/check_merged_export.py merged-check 2>&1 | grep -v Warning | tail -8
stamp "CUDA build"
source tools/device/env.sh
configure_cuda_build > "$OUT/configure.log" 2>&1 || tail -20 "$OUT/configure.log"
timeout 240 ninja -C build-cuda -j16 bench/bench_generate bench/bench_train_step tests/gt_torch_tests gemma-tune > "$OUT/build.log" 2>&1
echo "build rc=$?"; grep -E "error|FAILED" "$OUT/build.log" | head -20
stamp "decoding speed"
for fam in gemma4 gemma3n; do
  timeout 60 ./build-cuda/bench/bench_generate --family $fam --size E2B --batch 1 --prompt 128 --new 256 --device cuda
  timeout 90 python3 bench/hf_generate_baseline.py --family $fam --size E2B --batch 1 --prompt 128 --new 256 2>/dev/null | tail -1
done
stamp "image training step"
for fam in gemma4 gemma3n; do
  timeout 60 ./build-cuda/bench/bench_train_step --family $fam --size E2B --modality image --batch 4 --seq 128 \
    --image-tokens 280 --device cuda --phases
  timeout 90 python3 .device/hf_peft_baseline.py --family $fam --size E2B --modality image --batch 4 --seq 128 \
    --image-tokens 280 2>/dev/null | tail -1
done
stamp "CUDA parity tests"
GT_TEST_DEVICE=cuda GT_TEST_FULL_MOBILENET=1 timeout 120 ./build-cuda/tests/gt_torch_tests \
  --gtest_filter='Gemma4Vision*:Gemma3nVision*:*ImageModelParity*:*GenerationParity*:Generator*' 2>&1 \
  | grep -E "parity\]|PASSED|FAILED|Failure|SKIPPED" | head -60
stamp "done"
