#!/usr/bin/env python3
"""Loads a checkpoint folder written by `gemma-tune init-random` with transformers (from_pretrained, strict report)
and prints one JSON line: the missing and unexpected tensor names (both must be empty for the published layout),
mismatched shapes, the parameter count, and a forward pass on a few tokens.
    python3 tools/check_checkpoint_layout.py MODEL_DIR
"""
import json, sys
import torch
from transformers import AutoModelForImageTextToText

d = sys.argv[1]
model, info = AutoModelForImageTextToText.from_pretrained(d, dtype=torch.bfloat16, output_loading_info=True)
out = {k: sorted(v)[:20] if isinstance(v, (list, set)) else str(v) for k, v in info.items()}
out["n_missing"] = len(info.get("missing_keys", []))
out["n_unexpected"] = len(info.get("unexpected_keys", []))
out["params"] = sum(p.numel() for p in model.parameters())
with torch.no_grad():
    ids = torch.tensor([[2, 1000, 2000, 3000]])
    logits = model(input_ids=ids).logits
out["logits_finite"] = bool(torch.isfinite(logits).all())
out["dir"] = d
print(json.dumps(out))
