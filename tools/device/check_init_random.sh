#!/usr/bin/env bash
# On the GPU machine: `gemma-tune init-random` at the real E2B shapes of both families (towers included), then
# transformers loads each folder and reports missing / unexpected tensors (tools/check_checkpoint_layout.py).
set -uo pipefail
source tools/device/env.sh
exec > >(tee "$OUT/check_init_random.log") 2>&1
configure_cuda_build
ninja -C build-cuda -j16 gemma-tune 2>&1 | grep -E "error|FAILED" | head -20
for fam in gemma3n gemma4; do
  rm -rf /tmp/ir-$fam
  t0=$(date +%s)
  ./build-cuda/gemma-tune init-random --family $fam --size E2B --out /tmp/ir-$fam
  echo "init-random $fam E2B: $(( $(date +%s) - t0 )) s, $(du -sh /tmp/ir-$fam | cut -f1)"
  python3 tools/check_checkpoint_layout.py /tmp/ir-$fam 2>&1 | tail -1
  rm -rf /tmp/ir-$fam
done
