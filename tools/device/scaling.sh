#!/usr/bin/env bash
# On a machine with several GPUs (issue #14): the real `train` command on a random-weight E2B checkpoint, one process
# and then NPROC processes (default: every GPU) at the same per-GPU batch (4 x 1024), tokens/s of each (median of the
# metrics rows after the first two) and the scaling efficiency (N-process tokens/s over N x one process's). Then the
# same global batch G both ways (G = max(N, 4): --nproc N --batch-size G/N against one process with --batch-size G,
# dropout off) and the largest difference of their step losses (bf16 noise expected). Carry .cache/gemma3-tokenizer and .device.
# FAMILY (default gemma4), STEPS (default 20).
set -uo pipefail
source tools/device/env.sh
fam=${FAMILY:-gemma4}
n=${NPROC:-$(nvidia-smi -L | wc -l)}
t0=$(date +%s); stamp() { echo "== $1 at $(( $(date +%s) - t0 )) s"; }
configure_cuda_build
cmake --build build-cuda -j16 --target gemma-tune 2>&1 | tail -1
./build-cuda/gemma-tune doctor | grep -E "^(libtorch|devices|processes)"
stamp built
m=/tmp/scaling-$fam
[ -d $m ] || ./build-cuda/gemma-tune init-random --family $fam --size E2B --dtype bfloat16 --out $m \
  --tokenizer .cache/gemma3-tokenizer/tokenizer.json > /dev/null
python3 tools/device/words_dataset.py /tmp/scaling-data 400 1400
stamp data
train() {  # NAME ARGS...
  local name=$1; shift
  ./build-cuda/gemma-tune train --model $m --data /tmp/scaling-data --out /tmp/scaling-runs --name $name \
    --mode completion --max-seq-len 1024 --max-steps ${STEPS:-20} --save-every 0 --log-every 1 --device cuda \
    --lora-dropout 0 "$@" 2>&1 | tr '\r' '\n' | grep -E "^(processes|schedule|error)|train \[" | tail -3
  stamp "$name"
}
rm -rf /tmp/scaling-runs
train one --batch-size 4
train many --batch-size 4 --nproc $n
g=$(( n > 4 ? n : 4 ))
[ $g -ne 4 ] && train ref --batch-size $g
train same --batch-size $((g / n)) --nproc $n
python3 - "$n" "$g" <<'PY'
import glob, json, statistics, sys
n, g = int(sys.argv[1]), int(sys.argv[2])
def rows(name):
    path = glob.glob(f"/tmp/scaling-runs/*-{name}/metrics.jsonl")[0]
    return [json.loads(l) for l in open(path) if '"tokens_per_s"' in l]
tps = {k: statistics.median(r["tokens_per_s"] for r in rows(k)[2:]) for k in ("one", "many")}
diff = max(abs(a["loss"] - b["loss"]) for a, b in zip(rows("one" if g == 4 else "ref"), rows("same")))
print(json.dumps({"processes": n, "tokens_per_s_1": tps["one"], f"tokens_per_s_{n}": tps["many"],
                  "scaling_efficiency": tps["many"] / (n * tps["one"]), "max_loss_diff_same_global_batch": diff}))
PY
