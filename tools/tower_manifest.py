#!/usr/bin/env python3
"""Lists every tensor (name, shape) that transformers puts in a Gemma 3n / Gemma 4 checkpoint for a config.json,
built on the meta device (no memory). Used to check that init-random writes the published layout.
    python3 tools/tower_manifest.py CONFIG_DIR [CONFIG_DIR ...] --out FILE.json
"""
import argparse, json, sys
import torch
import transformers
from transformers import AutoConfig, AutoModelForImageTextToText

ap = argparse.ArgumentParser()
ap.add_argument("dirs", nargs="+")
ap.add_argument("--out", required=True)
a = ap.parse_args()
result = {"transformers": transformers.__version__}
for d in a.dirs:
    name = d.rstrip("/").split("/")[-1]
    try:
        cfg = AutoConfig.from_pretrained(d)
        with torch.device("meta"):
            model = AutoModelForImageTextToText.from_config(cfg)
        sd = model.state_dict()
        result[name] = {k: list(v.shape) for k, v in sd.items() if ".language_model." not in k and k != "lm_head.weight"}
        print(name, len(result[name]), "tower tensors", sum(int(torch.tensor(s).prod()) for s in result[name].values()), "elements")
    except Exception as e:  # report and go on: the 3n vision tower needs timm
        result[name] = {"error": f"{type(e).__name__}: {e}"}
        print(name, "error", e, file=sys.stderr)
json.dump(result, open(a.out, "w"), indent=1, sort_keys=True)
