#!/usr/bin/env bash
# On the GPU machine: gemma-tune's side of one bench config run once per variant of extra bench_train_step options,
# one JSON line each to $OUT/variants.jsonl (tokens/s, peak, MFU and the options), so levers are compared in one call
# on one card. Variants are separated by '|'; an empty one is the default:
#   VARIANTS="|--composite-attention-above 256|--lora-precision float32" BENCH=... bash tools/device/variants.sh gemma4-E2B-text-4x1024
# BENCH: the bench_train_step to run (default build-cuda/bench/bench_train_step); LIMIT_S as in pair.sh.
set -uo pipefail
source tools/device/env.sh
t0=$(date +%s); left() { echo $(( ${LIMIT_S:-585} - ($(date +%s) - t0) )); }
BENCH=${BENCH:-build-cuda/bench/bench_train_step}
for name in "$@"; do
  base=$(python3 -c "import sys; sys.path.insert(0, 'tools'); import bench_pair; a, o = bench_pair.parse(sys.argv[1]); print(' '.join(a + o))" "$name")
  IFS='|' read -ra variants <<< "${VARIANTS:-}"
  [ ${#variants[@]} -eq 0 ] && variants=("")
  for v in "${variants[@]}"; do
    [ "$(left)" -le 20 ] && { echo "== out of time before '$name $v'"; break 2; }
    line=$(timeout "$(left)" $BENCH $base $v --device cuda | grep '^{' | tail -1)
    echo "$name [$v] $line"
    [ -n "$line" ] && python3 -c "import json, sys; d = json.loads(sys.argv[1]); d['config'] = sys.argv[2]; d['variant'] = sys.argv[3]; print(json.dumps(d))" "$line" "$name" "$v" >> "$OUT/variants.jsonl"
  done
done
echo "== variants done at $(( $(date +%s) - t0 )) s"
