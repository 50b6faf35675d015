#!/usr/bin/env python3
"""Checks gemma-tune's merged exports with transformers + PEFT: the exported folder, loaded by transformers'
from_pretrained, must give the logits of the base model with the PEFT adapter applied (PeftModel.from_pretrained).

Run on the GPU machine (transformers, peft, torch), from the repository root, after making the exports on any machine:
    gemma-tune export --model tests/fixtures/text/<case>/model --adapter tests/fixtures/text/<case>/adapter \
        --format merged --out merged-check/<case>-<dtype> [--dtype bfloat16]
    python3 tools/check_merged_export.py merged-check
For every <case>-<dtype> folder it prints one JSON line: max |logit difference| against base + adapter (in float32
for a float32 export; for a bfloat16 export, against the PEFT model run in bfloat16 and in float32) on the fixture's
inputs.safetensors, and whether transformers reported missing or unexpected keys.
"""
import json
import os
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoConfig, Gemma3nForCausalLM, Gemma4ForCausalLM

CLASSES = {"gemma3n_text": Gemma3nForCausalLM, "gemma4_text": Gemma4ForCausalLM}


def logits(model, inputs):
    with torch.no_grad():
        return model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits.float()


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "merged-check"
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        case, dtype_name = name.rsplit("-", 1)
        fixture = os.path.join("tests/fixtures/text", case)
        dtype = torch.bfloat16 if dtype_name == "bfloat16" else torch.float32
        cls = CLASSES[AutoConfig.from_pretrained(folder).model_type]
        inputs = load_file(os.path.join(fixture, "inputs.safetensors"))
        merged, info = cls.from_pretrained(folder, dtype=dtype, output_loading_info=True)
        merged.eval()
        out = dict(export=name, missing=sorted(info["missing_keys"]), unexpected=sorted(info["unexpected_keys"]))
        got = logits(merged, inputs)
        for ref_dtype in sorted({dtype, torch.float32}, key=str):
            base = cls.from_pretrained(os.path.join(fixture, "model"), dtype=ref_dtype)
            peft = PeftModel.from_pretrained(base, os.path.join(fixture, "adapter")).eval()
            ref = logits(peft, inputs)
            real = inputs["attention_mask"].bool()
            out[f"max_abs_vs_peft_{str(ref_dtype).split('.')[-1]}"] = float((got - ref)[real].abs().max())
            out["logit_abs_max"] = float(ref[real].abs().max())
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
