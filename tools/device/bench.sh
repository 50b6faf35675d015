#!/usr/bin/env bash
# On the GPU machine, after build_and_test.sh: gemma-tune and transformers + PEFT (../shared/bench/hf_peft_baseline.py,
# carried as .device/hf_peft_baseline.py) on the same GPU in the same call, text LoRA at the real E2B shapes,
# 4 x 1024 tokens, bf16, LoRA r16/alpha32 on the 7 projections, AdamW. One JSON line per run.
set -uo pipefail
source tools/device/env.sh
exec > >(tee "$OUT/bench.log") 2>&1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
for fam in ${FAMILIES:-gemma3n gemma4}; do
  ./build-cuda/bench/bench_train_step --family $fam --size E2B --batch 4 --seq 1024 --device cuda --phases ${GC:+--gc}
  python3 .device/hf_peft_baseline.py --family $fam --size E2B --batch 4 --seq 1024 ${GC:+--gc} 2>/dev/null | tail -1
done
