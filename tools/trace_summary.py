#!/usr/bin/env python3
"""Where one training step's GPU time goes, from a Chrome trace written by `bench_train_step --profile FILE`:

    python3 tools/trace_summary.py FILE [--top 30]

Prints the step's wall time (first to last GPU kernel), the GPU's busy time (union of kernel intervals) and idle
share, the kernel count, time by kind (matmul, attention, elementwise/cast, reduction/norm, copy, other) and the
kernels that took the most time in total, then the ops that launched them: GPU time by the autograd function (or
outermost op) and the innermost ATen op with its input dtypes, so a cast can be traced to the layer that makes it
(traces written with input shapes carry the dtypes and sizes)."""
import argparse
import json
import re
from collections import defaultdict

KINDS = [
    ("matmul", re.compile(r"gemm|cutlass|matmul|sm\d+_xmma|cublas|nvjet", re.I)),
    ("attention", re.compile(r"flash|fmha|attention|sdpa|efficient_attention", re.I)),
    ("reduction/norm", re.compile(r"reduce|norm|softmax|logsumexp|sum_kernel|mean", re.I)),
    ("copy/cast", re.compile(r"copy|cast|convert|memcpy|memset|cat_|fill", re.I)),
    ("elementwise", re.compile(r"elementwise|vectorized|unrolled|pointwise|gelu|tanh|mul|add", re.I)),
]


def kind(name):
    for k, rx in KINDS:
        if rx.search(name):
            return k
    return "other"


def op_chains(events):
    """Maps each CPU op's External id to its chain of enclosing ops on the same thread, innermost first."""
    by_thread = defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and e.get("cat") == "cpu_op":
            by_thread[(e.get("pid"), e.get("tid"))].append(e)
    chains = {}
    for ops in by_thread.values():
        ops.sort(key=lambda e: (float(e["ts"]), -float(e.get("dur", 0))))
        stack = []
        for e in ops:
            start = float(e["ts"])
            while stack and float(stack[-1][0]["ts"]) + float(stack[-1][0].get("dur", 0)) <= start:
                stack.pop()
            chain = [e] + (stack[-1][1] if stack else [])
            stack.append((e, chain))
            ext = e.get("args", {}).get("External id")
            if ext is not None:
                chains[ext] = chain
    return chains


def describe(op):
    """aten::copy_ (BFloat16 [4, 1024, 2048] -> Float [...]) style label of an op and its inputs."""
    args = op.get("args", {})
    types = [t for t in args.get("Input type", []) if t]
    dims = [d for d in args.get("Input Dims", []) if d]
    inputs = ", ".join(f"{t} {d}" if d else t for t, d in zip(types, dims + [[]] * len(types)))
    return f"{op['name']}({inputs})" if inputs else op["name"]


def attribution(events, kernels, top):
    """GPU time by (autograd function or outermost op) and innermost op with its inputs."""
    chains = op_chains(events)
    if not chains:
        return
    by_site = defaultdict(lambda: [0.0, 0])
    for e in kernels:
        chain = chains.get(e.get("args", {}).get("External id"))
        if not chain:
            site = ("(no op)", e["name"][:60])
        else:
            outer = next((op["name"].split(": ", 1)[-1] for op in chain
                          if op["name"].startswith("autograd::engine::evaluate_function")), chain[-1]["name"])
            site = (outer, describe(chain[0]))
        by_site[site][0] += float(e.get("dur", 0))
        by_site[site][1] += 1
    print(f"top {top} launch sites by GPU time (autograd function or outermost op | innermost op and inputs):")
    for (outer, inner), (d, n) in sorted(by_site.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"  {d / 1e3:8.2f} ms {n:5}x  {outer[:40]:40} | {inner[:150]}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("trace")
    p.add_argument("--top", type=int, default=30)
    a = p.parse_args()
    with open(a.trace) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    kernels = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    if not kernels:
        raise SystemExit(f"{a.trace}: no GPU kernels in the trace (a CPU run?)")
    spans = sorted((float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0))) for e in kernels)
    busy, end = 0.0, spans[0][0]
    for s, e in spans:
        if e > end:
            busy += e - max(s, end)
            end = e
    wall = spans[-1][1] - spans[0][0]
    by_name, by_kind = defaultdict(lambda: [0.0, 0]), defaultdict(lambda: [0.0, 0])
    for e in kernels:
        d = float(e.get("dur", 0))
        by_name[e["name"]][0] += d
        by_name[e["name"]][1] += 1
        by_kind[kind(e["name"])][0] += d
        by_kind[kind(e["name"])][1] += 1
    launches = sum(1 for e in events if e.get("ph") == "X" and e.get("cat") == "cuda_runtime"
                   and "Launch" in e.get("name", ""))
    total = sum(v[0] for v in by_kind.values())
    print(f"step {wall / 1e3:.1f} ms from first to last kernel; GPU busy {busy / 1e3:.1f} ms "
          f"({100 * busy / wall:.0f}%), idle {100 * (1 - busy / wall):.0f}%; {len(kernels)} kernels, "
          f"{launches} launches")
    for k, (d, n) in sorted(by_kind.items(), key=lambda kv: -kv[1][0]):
        print(f"  {k:16} {d / 1e3:8.1f} ms {100 * d / total:5.1f}%  {n:6} kernels")
    print(f"top {a.top} kernels by total time:")
    for name, (d, n) in sorted(by_name.items(), key=lambda kv: -kv[1][0])[:a.top]:
        print(f"  {d / 1e3:8.2f} ms {n:5}x  {name[:150]}")
    attribution(events, kernels, a.top)


if __name__ == "__main__":
    main()
