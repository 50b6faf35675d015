#!/usr/bin/env python3
"""One LoRA step benchmark per named config, gemma-tune and transformers + PEFT side by side, one after the other on
the same GPU, each pair appended to a results file as one JSON line.

    python3 tools/bench_pair.py gemma4-E2B-text-4x1024 gemma3n-E2B-text-1x2048-gc gemma4-E2B-audio-4x10s \\
        gemma4-E2B-image-4x280 [--results bench/results.jsonl] [--bench build-cuda/bench/bench_train_step] \\
        [--baseline hf_peft_baseline.py] [--commit HASH]

Config names: {family}-{size}-{text|audio|image}-{shape}[-gc] with family gemma3n or gemma4, size E2B or E4B, and
shape BATCHxSEQ for text (4x1024: 4 rows of 1024 tokens), BATCHxSECONDSs for audio (4x10s: 10 s clips and 128 text
tokens a row) and BATCHxBUDGET for images (4x280: one image at that token budget and 128 text tokens a row); -gc turns
gradient checkpointing on; -int8 or -nf4 quantizes gemma-tune's frozen decoder linears (--quantize; the baseline has no
such option and runs in bf16). The baseline is the shared hf_peft_baseline.py with the same settings.

Each line: {"config", "gpu", "date", "commit", "gemma_tune": {"tokens_per_s", "peak_gib", "mfu", "step_s"},
"baseline": {"tokens_per_s", "peak_gib", "step_s"}} (a side that failed has {"error": ...}).
"""
import argparse
import datetime
import json
import re
import subprocess
import sys

CONFIG = re.compile(r"^(gemma3n|gemma4)-(E2B|E4B)-(text|audio|image)-(\d+)x(\d+)(s?)(-gc)?(-int8|-nf4)?$")


def parse(name):
    m = CONFIG.match(name)
    if not m:
        sys.exit(f"bench_pair: '{name}' is not a config name like gemma4-E2B-text-4x1024[-gc], gemma4-E2B-audio-4x10s "
                 "or gemma4-E2B-image-4x280")
    family, size, modality, batch, second, seconds_suffix, gc, quant = m.groups()
    if (modality == "audio") != (seconds_suffix == "s"):
        sys.exit(f"bench_pair: '{name}': audio shapes are BATCHxSECONDSs (4x10s), others BATCHxN")
    args = ["--family", family, "--size", size, "--modality", modality, "--batch", batch]
    if modality == "text":
        args += ["--seq", second]
    elif modality == "audio":
        args += ["--seq", "128", "--audio-seconds", second]
    else:
        args += ["--seq", "128", "--image-tokens", second]
    if gc:
        args.append("--gc")
    return args, (["--quantize", quant[1:]] if quant else [])


def last_json(cmd):
    """The last JSON line a command prints, or {"error": ...}."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    for line in reversed(r.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                pass
    tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {r.returncode}: " + " | ".join(tail)}


def pick(result, keys):
    if "error" in result:
        return {"error": result["error"]}
    return {k: result.get(k) for k in keys}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("configs", nargs="+")
    p.add_argument("--results", default="bench/results.jsonl")
    p.add_argument("--bench", default="build-cuda/bench/bench_train_step")
    p.add_argument("--baseline", default="../shared/bench/hf_peft_baseline.py")
    p.add_argument("--commit", default="")
    a = p.parse_args()
    commit = a.commit
    if not commit:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        commit = r.stdout.strip() or "unknown"
    print(f"{'config':34} {'gemma-tune tok/s':>16} {'GiB':>6} {'MFU':>6}   {'baseline tok/s':>14} {'GiB':>6}")
    for name in a.configs:
        args, ours_only = parse(name)
        ours = last_json([a.bench, *args, *ours_only, "--device", "cuda"])
        theirs = last_json([sys.executable, a.baseline, *args])
        line = {
            "config": name,
            "gpu": ours.get("gpu") or theirs.get("gpu"),
            "date": datetime.date.today().isoformat(),
            "commit": commit,
            "gemma_tune": pick(ours, ["tokens_per_s", "peak_gib", "mfu", "step_s"]),
            "baseline": pick(theirs, ["tokens_per_s", "peak_gib", "step_s"]),
        }
        with open(a.results, "a") as f:
            f.write(json.dumps(line) + "\n")

        def cell(side, key, fmt):
            v = line[side].get(key)
            return format(v, fmt) if isinstance(v, (int, float)) else "-"

        print(f"{name:34} {cell('gemma_tune', 'tokens_per_s', ',.0f'):>16} {cell('gemma_tune', 'peak_gib', '.2f'):>6} "
              f"{cell('gemma_tune', 'mfu', '.3f'):>6}   {cell('baseline', 'tokens_per_s', ',.0f'):>14} "
              f"{cell('baseline', 'peak_gib', '.2f'):>6}", flush=True)
        for side in ("gemma_tune", "baseline"):
            if "error" in line[side]:
                print(f"  {side}: {line[side]['error']}", flush=True)


if __name__ == "__main__":
    main()
