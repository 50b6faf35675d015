#!/usr/bin/env bash
# On the GPU machine: greedy decoding speed at the real E2B shapes for both families, gemma-tune (bench_generate)
# and transformers' generate (bench/hf_generate_baseline.py, shapes from the carried .device/hf_peft_baseline.py) on
# the same GPU in the same call: bf16, prompts of 128 random tokens, 256 new tokens, batch 1 and 8. One JSON line
# per run. Builds bench_generate in build-cuda first (tools/device/env.sh).
set -uo pipefail
source tools/device/env.sh
exec > >(tee "$OUT/bench_generate.log") 2>&1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
t0=$(date +%s)
configure_cuda_build
ninja -C build-cuda -j16 bench/bench_generate 2>&1 | grep -E "error|FAILED" | head -40
echo "build: $(( $(date +%s) - t0 )) s"
for fam in ${FAMILIES:-gemma4 gemma3n}; do
  for b in ${BATCHES:-1 8}; do
    ./build-cuda/bench/bench_generate --family $fam --size E2B --batch $b --prompt 128 --new 256 --device cuda
    python3 bench/hf_generate_baseline.py --family $fam --size E2B --batch $b --prompt 128 --new 256 2>/dev/null | tail -1
  done
done
echo "total: $(( $(date +%s) - t0 )) s"
