#!/usr/bin/env python3
"""Which SDPA kernel PyTorch picks, and how fast forward + backward run, for Gemma's attention shapes on this GPU:
repeated K/V against enable_gqa (no copies), each backend forced in turn, and a plain matmul-softmax-matmul
composite that groups the query heads over shared K/V (GQA without repeating, any head dim).

    python3 tools/device/sdpa_probe.py        (on the GPU machine; prints one line per shape and variant)
"""
import contextlib

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def timed(fn, reps=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]


def composite(q, k, v, mask, scale):
    B, H, T, D = q.shape
    Hk = k.shape[1]
    qg = q.view(B, Hk, H // Hk * T, D)
    s = torch.matmul(qg, k.transpose(-1, -2)).mul_(scale).view(B, Hk, H // Hk, T, -1)
    s = s + mask.view(mask.shape[0], 1, 1, T, -1) if mask is not None else s.masked_fill(
        torch.ones(T, k.shape[2], dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    p = torch.softmax(s, -1, dtype=torch.float32).to(q.dtype).view(B, Hk, H // Hk * T, -1)
    return torch.matmul(p, v).view(B, H, T, D)


def main():
    dev = "cuda"
    print(torch.__version__, torch.cuda.get_device_name())
    for (B, H, Hk, T, D, window) in [(4, 8, 1, 1024, 256, 512), (4, 8, 1, 1024, 512, 0), (1, 8, 1, 2048, 256, 512),
                                     (1, 8, 1, 2048, 512, 0), (4, 8, 2, 1024, 256, 512)]:
        torch.manual_seed(0)
        q = torch.randn(B, H, T, D, device=dev, dtype=torch.bfloat16, requires_grad=True)
        k = torch.randn(B, Hk, T, D, device=dev, dtype=torch.bfloat16, requires_grad=True)
        v = torch.randn(B, Hk, T, D, device=dev, dtype=torch.bfloat16, requires_grad=True)
        g = torch.randn(B, H, T, D, device=dev, dtype=torch.bfloat16)
        mask = None
        if window:
            i = torch.arange(T, device=dev)
            vis = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - window)
            mask = torch.where(vis, 0.0, float("-inf")).to(torch.bfloat16)[None, None].expand(B, 1, T, T)
        scale = 1.0
        ref = None
        rows = []
        variants = [("repeat, auto", lambda: F.scaled_dot_product_attention(
                        q, k.repeat_interleave(H // Hk, 1), v.repeat_interleave(H // Hk, 1), attn_mask=mask,
                        is_causal=mask is None, scale=scale), None),
                    ("composite GQA", lambda: composite(q, k, v, mask, scale), None)]
        for backend in [None, SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                        SDPBackend.MATH]:
            variants.append((f"enable_gqa, {backend.name if backend else 'auto'}", lambda: F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=mask is None, scale=scale, enable_gqa=True), backend))
        for name, fn, backend in variants:
            def step():
                out = fn()
                out.backward(g)
                return out
            try:
                with sdpa_kernel([backend]) if backend else contextlib.nullcontext():
                    q.grad = k.grad = v.grad = None
                    out = step().float()
                    grads = [q.grad.float(), k.grad.float(), v.grad.float()]
                    if ref is None:
                        ref = (out, grads)
                    err = max(((a - b).norm() / b.norm()).item() for a, b in zip([out] + grads, [ref[0]] + ref[1]))
                    torch.cuda.reset_peak_memory_stats()
                    ms = timed(step)
                    peak = torch.cuda.max_memory_allocated() / 2**20
                rows.append(f"  {name:28} {ms:7.3f} ms fwd+bwd  peak {peak:7.0f} MiB  rel.err vs first {err:.1e}")
            except Exception as e:  # a backend that cannot take these inputs
                rows.append(f"  {name:28} unavailable: {str(e).splitlines()[0][:100]}")
        print(f"B={B} H={H} Hk={Hk} T={T} D={D} window={window}")
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
