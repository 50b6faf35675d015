#!/usr/bin/env python3
"""The comparison point for bench_generate: transformers' greedy generate() with its default KV cache on a random
Gemma text model at the real E2B/E4B shapes (the configurations of hf_peft_baseline.py, which must sit in the folder
given by --baseline-dir), bf16, sdpa, one GPU. Run it in the same call, on the same GPU, as bench_generate.

  python3 bench/hf_generate_baseline.py --family gemma4 --size E2B --batch 1 --prompt 128 --new 256

Prints one JSON line: prefill seconds (a generate of one token), decode tokens/s ((new - 1) x batch tokens per second
of the rest), peak GPU memory. End-of-sequence is switched off so every run decodes --new tokens.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default="gemma4")
    ap.add_argument("--size", default="E2B")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--new", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline-dir", default=".device")
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.baseline_dir))
    from hf_peft_baseline import text_config  # noqa: E402  (the shapes every comparison uses)
    from transformers import Gemma3nForCausalLM, Gemma4ForCausalLM

    torch.manual_seed(0)
    cls = Gemma3nForCausalLM if a.family == "gemma3n" else Gemma4ForCausalLM
    model = cls(text_config(a.family, a.size)).to(device="cuda", dtype=torch.bfloat16).eval()
    model.generation_config.eos_token_id = None
    ids = torch.randint(3, 262000, (a.batch, a.prompt), device="cuda")
    kw = dict(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, pad_token_id=0,
              top_k=None, top_p=None, temperature=None)

    def timed(n):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(max_new_tokens=n, min_new_tokens=n, **kw)
        torch.cuda.synchronize()
        assert out.shape[1] == a.prompt + n
        return time.perf_counter() - t0

    timed(8)  # warm-up
    torch.cuda.reset_peak_memory_stats()
    prefill, per_s = [], []
    for _ in range(a.runs):
        p = timed(1)
        total = timed(a.new)
        prefill.append(p)
        per_s.append((a.new - 1) * a.batch / (total - p))
    print(json.dumps(dict(tool="transformers", version=__import__("transformers").__version__, family=a.family,
                          size=a.size, batch=a.batch, prompt=a.prompt, new=a.new, dtype="bfloat16", attn="sdpa",
                          prefill_s=statistics.median(prefill), decode_tokens_per_s=statistics.median(per_s),
                          peak_gib=torch.cuda.max_memory_allocated() / 2**30)))


if __name__ == "__main__":
    main()
