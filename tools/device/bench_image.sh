#!/usr/bin/env bash
# On the GPU machine: build, an image LoRA step at the real E2B shapes for both families, gemma-tune
# and transformers + PEFT (../shared/bench/hf_peft_baseline.py --modality image, carried as .device/) on the same GPU
# in the same call: batch 4, one random image per row (Gemma 4: budget 280, a square patch grid; Gemma 3n: 768x768)
# and 128 text tokens, bf16, LoRA r16/alpha32 on the language model's 7 projections, AdamW. One JSON line per run.
# Then the vision parity tests on the GPU (both towers alone, the full-size MobileNet-V5, the whole models).
set -uo pipefail
source tools/device/env.sh
exec > >(tee "$OUT/bench_image.log") 2>&1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
t0=$(date +%s)
configure_cuda_build
ninja -C build-cuda -j16 bench/bench_train_step 2>&1 | grep -E "error|FAILED" | head -40
echo "build: $(( $(date +%s) - t0 )) s"
for fam in ${FAMILIES:-gemma4 gemma3n}; do
  ./build-cuda/bench/bench_train_step --family $fam --size E2B --modality image --batch 4 --seq 128 --image-tokens 280 \
    --device cuda --phases
  python3 .device/hf_peft_baseline.py --family $fam --size E2B --modality image --batch 4 --seq 128 --image-tokens 280 \
    2>/dev/null | tail -1
done
ninja -C build-cuda -j16 tests/gt_torch_tests 2>&1 | grep -E "error|FAILED" | head -40
GT_TEST_DEVICE=cuda GT_TEST_FULL_MOBILENET=1 ./build-cuda/tests/gt_torch_tests \
  --gtest_filter='Gemma4Vision*:Gemma3nVision*:*AudioModelParity*:*ImageModelParity*' 2>&1 \
  | grep -E "parity\]|PASSED|FAILED|Failure|SKIPPED" | head -80
echo "total: $(( $(date +%s) - t0 )) s"
