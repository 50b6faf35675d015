#!/usr/bin/env bash
# On the GPU machine: build, the audio parity tests on the GPU (towers alone, whole model from the reference
# features), then an audio LoRA step at the real E2B shapes for both families, gemma-tune and transformers + PEFT
# (../shared/bench/hf_peft_baseline.py --modality audio) on the same GPU in the same call: batch 4, 10 s of audio
# (random log-mel features) and 128 text tokens per row, bf16, LoRA r16/alpha32 on the language model's 7
# projections, AdamW. One JSON line per run.
set -uo pipefail
source tools/device/env.sh
exec > >(tee "$OUT/bench_audio.log") 2>&1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
t0=$(date +%s)
configure_cuda_build
ninja -C build-cuda -j16 gemma-tune tests/gt_torch_tests bench/bench_train_step 2>&1 | grep -E "error|FAILED" | head -40
echo "build: $(( $(date +%s) - t0 )) s"
GT_TEST_DEVICE=cuda ./build-cuda/tests/gt_torch_tests --gtest_filter='*AudioModelParity*:Gemma3nAudio*:Gemma4Audio*:*TextParity*' 2>&1 \
  | grep -E "\[audio-parity\]|\[parity\]|parity|PASSED|FAILED|Failure" | head -80
for fam in ${FAMILIES:-gemma3n gemma4}; do
  ./build-cuda/bench/bench_train_step --family $fam --size E2B --modality audio --batch 4 --seq 128 --audio-seconds 10 --device cuda --phases
  python3 .device/hf_peft_baseline.py --family $fam --size E2B --modality audio --batch 4 --seq 128 --audio-seconds 10 2>/dev/null | tail -1
done
echo "total: $(( $(date +%s) - t0 )) s"
