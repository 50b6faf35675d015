#!/usr/bin/env python3
"""Parity fixtures for the Gemma 4 vision tower alone: transformers 5.17 Gemma4VisionModel (`model.vision_tower.*`)
and the vision Gemma4MultimodalEmbedder (`model.embed_vision.*`), built as Gemma4Model builds them from a tiny
vision_config (below) inside the tiny preset (tools/device/presets/gemma4-tiny/config.json, text hidden 64), with
random weights of visible spread and finite clip bounds that really clip. For tests/models/gemma4_vision_test.cpp.

Run on the GPU machine from the repository root (everything on the CPU, float32):
    python3 tools/make_gemma4_vision_fixtures.py --out tests/fixtures/vision/gemma4-tower
Writes into --out:
  model/config.json                    the preset with vision_config replaced by VISION_CONFIG
  model/model.safetensors              model.vision_tower.* and model.embed_vision.* only (float32)
  model-standardize/config.json        the same with "standardize": true
  model-standardize/model.safetensors  the same weights plus random std_bias / std_scale
  inputs.safetensors                   see INPUTS_DOC below
  expected.safetensors                 see EXPECTED_DOC below
  meta.json                            versions, command, seed, sizes, weight rules, clip bounds and rates, checks
(README.md in --out, which describes the fixture, is left alone.)
Regenerate with this script; never edit the numbers.

Inputs: three images made here in numpy (colour gradients, a disc, a rectangle, a diagonal line, mild noise) of
168x240, 100x60 and 64x333 pixels, run through the real Gemma4ImageProcessor (torchvision backend) at
max_soft_tokens 70 with patch_size 8 (the tower's patch_size is 8 too, so a patch is 8*8*3 = 192 values; the
processor's resize rule, patch layout and padding are those of patch 16 scaled down; this keeps the pixels at a
quarter of the size). The first image is exactly the budget (21x30 patches = 630 = max_patches: no padding, so run
alone it takes transformers' no-mask path); the others are up- and down-scaled to 30x18 and 9x57 patches and padded.
"""
import argparse
import copy
import inspect
import json
import math
import os
import platform
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn

import safetensors
import transformers
from safetensors.torch import save_file
from transformers import AutoConfig
from transformers.models.gemma4 import modeling_gemma4 as mg

try:
    from transformers import Gemma4ImageProcessor
except ImportError:  # not exported at the top level
    from transformers.models.gemma4.image_processing_gemma4 import Gemma4ImageProcessor

SEED = 20261204
PRESET = os.path.join("tools", "device", "presets", "gemma4-tiny")
MAX_SOFT_TOKENS = 70
PATCH = 8
IMAGE_SIZES = ((168, 240), (100, 60), (64, 333))   # (height, width) before the processor
VISION_CONFIG = {
    "model_type": "gemma4_vision",
    "hidden_size": 32,
    "intermediate_size": 80,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 12,                 # 2 x 12 = 24 != hidden 32; 12 / 2 = 6 channels per RoPE axis (3 frequencies)
    "hidden_activation": "gelu_pytorch_tanh",
    "rms_norm_eps": 1e-06,
    "patch_size": PATCH,
    "pooling_kernel_size": 3,
    "position_embedding_size": 80,  # the widest image has 57 patch columns
    "default_output_length": MAX_SOFT_TOKENS,
    "rope_parameters": {"rope_type": "default", "rope_theta": 100.0},
    "standardize": False,
    "use_clipped_linears": True,
}
CLIP_LOW_Q, CLIP_HIGH_Q = (0.03, 0.12), (0.88, 0.97)

INPUTS_DOC = {
    "pixel_values_u8": "the processor's pixel_values [3, 630, 192] as uint8 = round(v * 255) (exact: "
                       "pixel_values == pixel_lut[pixel_values_u8] bit for bit; padded rows 0)",
    "pixel_lut": "[256] float32: the processor's float value of each uint8 level",
    "pixel_values": "only when no lookup rule was exact: the processor's float32 pixel_values",
    "pixel_position_ids": "the processor's image_position_ids [3, 630, 2] int64 (x, y), (-1, -1) for padding",
    "image_sizes": "[3, 2] (height, width) of the images given to the processor",
    "resized_sizes": "[3, 2] (height, width) after the processor's resize",
}
EXPECTED_DOC = {
    "tokens": "Gemma4VisionModel last_hidden_state of the batch = get_image_features(..).last_hidden_state "
              "[sum(tokens_per_image), hidden]: pooled, scaled, padding dropped, images concatenated",
    "embed_vision": "get_image_features(..).pooler_output = embed_vision(tokens) [sum, text hidden]",
    "tokens_per_image": "[3] int64, the kept pooled tokens of each image (= the processor's num_soft_tokens)",
    "trace.patch_embedder": "patch_embedder output [3, 630, hidden] (every row, padding patches included)",
    "trace.layers.<i>": "encoder layer i output [3, 630, hidden]",
    "trace.pooler": "pooler hidden states [3, 70, hidden] (averaged, scaled, before the padding is dropped)",
    "trace.pooler_mask": "pooler mask [3, 70] bool, True = kept",
    "tokens_unclipped": "tokens with every clip bound at -inf/+inf (the module defaults)",
    "alone.<i>.tokens": "image i run alone (its own row of the batch, N = 1) [n_i, hidden]",
    "alone.<i>.embed_vision": "its embed_vision output [n_i, text hidden]",
    "standardize.tokens": "tokens of model-standardize (same weights, standardize = true, random std_bias/std_scale)",
    "standardize.embed_vision": "embed_vision of standardize.tokens",
}


def log(*a):
    print(*a, flush=True)


def fnum(x):
    return float(x.item()) if torch.is_tensor(x) else float(x)


def maxdiff(a, b):
    return fnum((a.double() - b.double()).abs().max())


def joined(x, what, notes):
    """A tensor, or the per-image parts of a tuple/list joined in image order (noted in `notes`)."""
    if torch.is_tensor(x):
        return x
    if isinstance(x, (tuple, list)) and x and all(torch.is_tensor(t) for t in x):
        notes[what] = f"{type(x).__name__} of {len(x)} tensors {[list(t.shape) for t in x]}, joined along dim 0"
        return torch.cat([t.reshape(-1, t.shape[-1]) for t in x], 0)
    if isinstance(x, (tuple, list)) and sum(torch.is_tensor(t) for t in x) == 1:
        notes[what] = f"{type(x).__name__} of {[type(t).__name__ for t in x]}, its one tensor taken"
        return next(t for t in x if torch.is_tensor(t))
    raise RuntimeError(f"{what} is a {type(x).__name__}, expected a tensor or tensors")


# ---------------------------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------------------------

def make_image(h, w, i):
    """A deterministic RGB uint8 image [h, w, 3]: gradients, a disc, a rectangle, a diagonal line, mild noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([255.0 * x / max(w - 1, 1),
                    255.0 * y / max(h - 1, 1),
                    127.5 + 127.5 * np.sin((x + 2.0 * y) / (5.0 + 3.0 * i))], axis=-1)
    disc = (y - 0.45 * h) ** 2 + (x - 0.6 * w) ** 2 < (0.28 * min(h, w)) ** 2
    img[disc] = (230.0, 40.0 + 60.0 * i, 60.0)
    img[int(0.1 * h):int(0.35 * h), int(0.08 * w):int(0.4 * w)] = (20.0, 200.0, 90.0 + 50.0 * i)
    img[np.abs(x - y * (w / h)) < 1.5] = 255.0
    img += np.random.default_rng(SEED + i).normal(0.0, 6.0, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def pixel_lookup(pixel_values):
    """(uint8 levels, lut, rule) with lut[levels] == pixel_values bit for bit, or (None, None, None)."""
    pv = pixel_values.float()
    levels = torch.round(pv * 255.0)
    if levels.min() < 0 or levels.max() > 255:
        return None, None, None
    u8 = levels.to(torch.uint8)
    ramp = torch.arange(256, dtype=torch.uint8)
    rules = {
        "float32(u) * (1/255) (a Python float)": ramp.float() * (1 / 255),
        "float32(u) / 255": ramp.float() / 255,
        "float64(u) / 255 rounded to float32": (ramp.double() / 255).float(),
    }
    for rule, lut in rules.items():
        if torch.equal(lut[u8.long()], pv):
            return u8, lut, rule
    return None, None, None


# ---------------------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------------------

def weight_rule(name, mod, pname, p):
    """(kind, a, b) for one parameter of the vision tower or embedder: spreads that make a wrong op visible."""
    if pname == "position_embedding_table":
        return ("normal", 0.5)
    if isinstance(mod, mg.Gemma4RMSNorm):
        return ("uniform", 0.5, 1.5)
    if isinstance(mod, nn.Linear):
        return ("normal", 1.0 / math.sqrt(mod.in_features))
    raise RuntimeError(f"no init rule for {name} ({type(mod).__name__}.{pname}, shape {list(p.shape)})")


def randomize(modules, g):
    counts = {}
    with torch.no_grad():
        for prefix, root in modules.items():
            for mname, mod in root.named_modules():
                for pname, p in mod.named_parameters(recurse=False):
                    name = f"{prefix}.{mname}.{pname}" if mname else f"{prefix}.{pname}"
                    rule = weight_rule(name, mod, pname, p)
                    t = torch.empty(p.shape, dtype=torch.float32)
                    if rule[0] == "normal":
                        t.normal_(0.0, rule[1], generator=g)
                    else:
                        t.uniform_(rule[1], rule[2], generator=g)
                    p.copy_(t)
                    key = f"{type(mod).__name__}.{pname} {rule[0]}{tuple(round(v, 4) for v in rule[1:])}"
                    counts[key] = counts.get(key, 0) + 1
    return counts


def clippables(tower):
    return [(n, m) for n, m in tower.named_modules() if isinstance(m, mg.Gemma4ClippableLinear)]


def set_bounds(tower, bounds):
    """bounds: {module name: (in_min, in_max, out_min, out_max)}; None sets the module defaults -inf/+inf."""
    with torch.no_grad():
        for n, m in clippables(tower):
            b = bounds[n] if bounds is not None else (-math.inf, math.inf, -math.inf, math.inf)
            m.input_min.fill_(b[0])
            m.input_max.fill_(b[1])
            m.output_min.fill_(b[2])
            m.output_max.fill_(b[3])


def record_linear_io(tower):
    """Forward hooks on every clippable linear's inner nn.Linear: its (clamped) input and its raw output."""
    seen, handles = {}, []
    for n, m in clippables(tower):
        def hook(mod, args, out, n=n):
            seen[n] = (args[0].detach().clone(), out.detach().clone())
        handles.append(m.linear.register_forward_hook(hook))
    return seen, handles


def calibrate_bounds(model, pv, pos, g):
    """Bounds at random low/high quantiles of what each linear sees and produces in an unclipped run."""
    tower = model.vision_tower
    set_bounds(tower, None)
    seen, handles = record_linear_io(tower)
    with torch.no_grad():
        model.get_image_features(pv, pos, return_dict=True)
    for h in handles:
        h.remove()
    bounds, quantiles = {}, {}
    for n, _ in clippables(tower):
        x, y = seen[n]
        q = [CLIP_LOW_Q[0] + (CLIP_LOW_Q[1] - CLIP_LOW_Q[0]) * fnum(torch.rand((), generator=g)),
             CLIP_HIGH_Q[0] + (CLIP_HIGH_Q[1] - CLIP_HIGH_Q[0]) * fnum(torch.rand((), generator=g)),
             CLIP_LOW_Q[0] + (CLIP_LOW_Q[1] - CLIP_LOW_Q[0]) * fnum(torch.rand((), generator=g)),
             CLIP_HIGH_Q[0] + (CLIP_HIGH_Q[1] - CLIP_HIGH_Q[0]) * fnum(torch.rand((), generator=g))]
        xf, yf = x.flatten().float(), y.flatten().float()
        b = (fnum(torch.quantile(xf, q[0])), fnum(torch.quantile(xf, q[1])),
             fnum(torch.quantile(yf, q[2])), fnum(torch.quantile(yf, q[3])))
        if not (all(math.isfinite(v) for v in b) and b[0] < b[1] and b[2] < b[3]):
            raise RuntimeError(f"bad clip bounds for {n}: {b}")
        bounds[n] = b
        quantiles[n] = [round(v, 4) for v in q]
    return bounds, quantiles


def clip_rates(model, pv, pos):
    """Per clippable linear, the fraction of entries the stored bounds change in the real (clipped) run."""
    tower = model.vision_tower
    seen_pre, handles = {}, []
    for n, m in clippables(tower):
        def pre(mod, args, n=n):
            seen_pre[n] = args[0].detach().clone()            # before the input clamp
        handles.append(m.register_forward_pre_hook(pre))
    seen, lin_handles = record_linear_io(tower)
    with torch.no_grad():
        model.get_image_features(pv, pos, return_dict=True)
    for h in handles + lin_handles:
        h.remove()
    rates = {}
    for n, m in clippables(tower):
        x, y = seen_pre[n], seen[n][1]
        rates[n] = dict(input=fnum(((x < m.input_min) | (x > m.input_max)).float().mean()),
                        output=fnum(((y < m.output_min) | (y > m.output_max)).float().mean()))
    return rates


# ---------------------------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------------------------

def traced_run(model, pv, pos):
    """get_image_features with hooks on the patch embedder, each encoder layer and the pooler."""
    tower = model.vision_tower
    trace, handles = {}, []

    def first(out):
        return out[0] if isinstance(out, tuple) else out
    handles.append(tower.patch_embedder.register_forward_hook(
        lambda mod, args, out: trace.__setitem__("trace.patch_embedder", first(out).detach().clone())))
    for i, layer in enumerate(tower.encoder.layers):
        handles.append(layer.register_forward_hook(
            lambda mod, args, out, i=i: trace.__setitem__(f"trace.layers.{i}", first(out).detach().clone())))

    def pool_hook(mod, args, out):
        trace["trace.pooler"] = out[0].detach().clone()
        trace["trace.pooler_mask"] = out[1].detach().clone()
    handles.append(tower.pooler.register_forward_hook(pool_hook))
    with torch.no_grad():
        out = model.get_image_features(pv, pos, return_dict=True)
    for h in handles:
        h.remove()
    return out, trace


def merged_image_tokens(model, cfg, pv, pos, counts):
    """Gemma4Model.forward on one text row holding one image span per image: image_hidden_states."""
    row = [2, 100, 101]
    for n in counts:
        row += [cfg.boi_token_id] + [cfg.image_token_id] * n + [cfg.eoi_token_id] + [102, 103]
    input_ids = torch.tensor([row])
    with torch.no_grad():
        out = model(input_ids=input_ids, pixel_values=pv, image_position_ids=pos, use_cache=False)
    return out.image_hidden_states


def reference_source():
    """The transformers code this fixture pins, for the record (meta.json keeps only its length and a hash)."""
    parts = []
    for name in ("Gemma4VisionPatchEmbedder", "Gemma4VisionPooler", "Gemma4VisionRotaryEmbedding",
                 "apply_multidimensional_rope", "Gemma4VisionAttention", "Gemma4VisionEncoderLayer",
                 "Gemma4VisionEncoder", "Gemma4VisionModel", "Gemma4ClippableLinear", "Gemma4RMSNorm",
                 "Gemma4MultimodalEmbedder", "Gemma4Model.get_image_features"):
        obj = mg
        for part in name.split("."):
            obj = getattr(obj, part, None)
        parts.append(f"# ---- {name}\n" + (inspect.getsource(obj) if obj is not None else "(missing)\n"))
    return "".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--source-dump", help="also write the transformers source of the vision classes to this file")
    a = ap.parse_args()
    out_root = a.out
    # Replace what this script writes; README.md beside it is kept.
    for d in ("model", "model-standardize"):
        shutil.rmtree(os.path.join(out_root, d), ignore_errors=True)
        os.makedirs(os.path.join(out_root, d))
    for f in ("inputs.safetensors", "expected.safetensors", "meta.json"):
        if os.path.exists(os.path.join(out_root, f)):
            os.remove(os.path.join(out_root, f))
    torch.set_grad_enabled(False)
    if a.source_dump:
        with open(a.source_dump, "w") as f:
            f.write(reference_source())

    # --- configs: the preset with the tiny vision_config
    with open(os.path.join(PRESET, "config.json")) as f:
        full = json.load(f)
    full["vision_config"] = copy.deepcopy(VISION_CONFIG)
    model_dir = os.path.join(out_root, "model")
    std_dir = os.path.join(out_root, "model-standardize")
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(full, f, indent=2, sort_keys=True)
        f.write("\n")
    full_std = copy.deepcopy(full)
    full_std["vision_config"]["standardize"] = True
    with open(os.path.join(std_dir, "config.json"), "w") as f:
        json.dump(full_std, f, indent=2, sort_keys=True)
        f.write("\n")
    cfg = AutoConfig.from_pretrained(model_dir)
    cfg_std = AutoConfig.from_pretrained(std_dir)
    vc = cfg.vision_config
    log(f"vision: hidden {vc.hidden_size}, layers {vc.num_hidden_layers}, heads {vc.num_attention_heads}x{vc.head_dim}"
        f", patch {vc.patch_size}, rope {vc.rope_parameters}, text hidden {cfg.text_config.hidden_size}")

    # --- inputs through the real processor
    images = [make_image(h, w, i) for i, (h, w) in enumerate(IMAGE_SIZES)]
    proc = Gemma4ImageProcessor(patch_size=PATCH, max_soft_tokens=MAX_SOFT_TOKENS, pooling_kernel_size=3)
    enc = proc(images=images, return_tensors="pt")
    pv, pos = enc["pixel_values"], enc["image_position_ids"]
    proc_counts = [int(c) for c in enc["num_soft_tokens_per_image"]]
    if pv.dtype != torch.float32:
        raise RuntimeError(f"processor pixel_values dtype {pv.dtype}, expected float32")
    valid = (pos != -1).all(-1)
    resized = []
    for i in range(len(images)):
        p = pos[i][valid[i]]
        resized.append([int(p[:, 1].max() + 1) * PATCH, int(p[:, 0].max() + 1) * PATCH])
    log(f"processor: pixel_values {list(pv.shape)} {pv.dtype}, positions {list(pos.shape)} {pos.dtype}, "
        f"patches {valid.sum(-1).tolist()}, resized {resized}, soft tokens {proc_counts}")
    if int(pos.max()) >= vc.position_embedding_size:
        raise RuntimeError(f"position {int(pos.max())} outside position_embedding_size {vc.position_embedding_size}")
    u8, lut, lut_rule = pixel_lookup(pv)
    log(f"pixel lookup rule: {lut_rule}")

    # --- the model, as Gemma4Model builds it
    torch.manual_seed(SEED)
    model = mg.Gemma4Model(cfg).float().eval()
    impl = model.vision_tower.config._attn_implementation
    log(f"vision tower attn_implementation: {impl}")
    g = torch.Generator().manual_seed(SEED + 1)
    init_counts = randomize({"model.vision_tower": model.vision_tower, "model.embed_vision": model.embed_vision}, g)
    bounds, quantiles = calibrate_bounds(model, pv, pos, torch.Generator().manual_seed(SEED + 2))
    set_bounds(model.vision_tower, bounds)
    rates = clip_rates(model, pv, pos)

    # --- the batch, traced
    out, trace = traced_run(model, pv, pos)
    notes = {}
    tokens = joined(out.last_hidden_state, "last_hidden_state", notes)
    embedded = joined(out.pooler_output, "pooler_output", notes)
    kept = trace["trace.pooler_mask"]
    counts = kept.sum(-1).tolist()
    checks = dict(output_structure=notes, tokens_per_image_vs_processor=[counts, proc_counts],
                  tokens_vs_pooler_masked=maxdiff(tokens, trace["trace.pooler"][kept]))
    if counts != proc_counts or sum(counts) != tokens.shape[0]:
        raise RuntimeError(f"token counts {counts} (tokens {tokens.shape[0]}) vs processor {proc_counts}")
    try:
        merged = joined(merged_image_tokens(model, cfg, pv, pos, counts), "image_hidden_states", notes)
        checks["image_hidden_states_vs_embed_vision"] = maxdiff(merged, embedded)
    except Exception as e:  # the fixture is about the tower; record, do not fail
        checks["image_hidden_states_vs_embed_vision"] = f"not run: {type(e).__name__}: {e}"

    # eager attention instead of the default, for the record
    try:
        model.vision_tower.set_attn_implementation("eager")
        eager = joined(model.get_image_features(pv, pos, return_dict=True).last_hidden_state, "eager", {})
        checks[f"tokens_eager_vs_{impl}"] = maxdiff(eager, tokens)
    except Exception as e:
        checks[f"tokens_eager_vs_{impl}"] = f"not run: {type(e).__name__}: {e}"
    if model.vision_tower.config._attn_implementation != impl:
        model.vision_tower.set_attn_implementation(impl)
    if model.vision_tower.config._attn_implementation != impl:
        raise RuntimeError("could not restore the attention implementation")

    # --- every bound at +-inf
    set_bounds(model.vision_tower, None)
    tokens_u = joined(model.get_image_features(pv, pos, return_dict=True).last_hidden_state, "unclipped", {})
    set_bounds(model.vision_tower, bounds)
    checks["unclipped_vs_clipped_tokens"] = maxdiff(tokens_u, tokens)

    expected = {"tokens": tokens, "embed_vision": embedded,
                "tokens_per_image": torch.tensor(counts, dtype=torch.long), "tokens_unclipped": tokens_u}
    expected.update(trace)
    for k in list(expected):
        expected[k] = joined(expected[k], k, notes)

    # --- each image alone (the first has no padding patch: transformers builds no attention mask)
    alone_diffs, offset = [], 0
    for i in range(len(images)):
        o = model.get_image_features(pv[i:i + 1], pos[i:i + 1], return_dict=True)
        t_i = joined(o.last_hidden_state, f"alone.{i}.last_hidden_state", {})
        expected[f"alone.{i}.tokens"] = t_i
        expected[f"alone.{i}.embed_vision"] = joined(o.pooler_output, f"alone.{i}.pooler_output", {})
        n = counts[i]
        alone_diffs.append(dict(image=i, padding_patches=int((~valid[i]).sum()), tokens=int(t_i.shape[0]),
                                batch_vs_alone=maxdiff(t_i, tokens[offset:offset + n])))
        offset += n
    checks["transformers_batch_vs_alone"] = alone_diffs

    # --- standardize: the same weights in a tower with standardize = true
    tower_s = mg.Gemma4VisionModel(cfg_std.vision_config).float().eval()
    if tower_s.config._attn_implementation != impl:
        tower_s.set_attn_implementation(impl)
    checks["standardize_attn_implementation"] = tower_s.config._attn_implementation
    missing, unexpected = tower_s.load_state_dict(model.vision_tower.state_dict(), strict=False)
    if sorted(missing) != ["std_bias", "std_scale"] or unexpected:
        raise RuntimeError(f"standardize tower: missing {missing}, unexpected {unexpected}")
    gs = torch.Generator().manual_seed(SEED + 3)
    with torch.no_grad():
        tower_s.std_bias.copy_(torch.randn(vc.hidden_size, generator=gs) * 0.5)
        tower_s.std_scale.copy_(torch.rand(vc.hidden_size, generator=gs) + 0.5)
    tok_s = joined(tower_s(pixel_values=pv, pixel_position_ids=pos).last_hidden_state, "standardize", {})
    expected["standardize.tokens"] = tok_s
    expected["standardize.embed_vision"] = model.embed_vision(tok_s)
    for k in list(expected):
        expected[k] = joined(expected[k], k, notes)
    checks["standardize_vs_plain_tokens"] = maxdiff(tok_s, tokens)

    # --- save
    sd = {"model." + k: v.detach().float().contiguous() for k, v in model.state_dict().items()
          if k.startswith(("vision_tower.", "embed_vision."))}
    save_file(sd, os.path.join(model_dir, "model.safetensors"), metadata={"format": "pt"})
    sd_std = {"model.vision_tower." + k: v.detach().float().contiguous() for k, v in tower_s.state_dict().items()}
    sd_std.update({k: v for k, v in sd.items() if k.startswith("model.embed_vision.")})
    save_file(sd_std, os.path.join(std_dir, "model.safetensors"), metadata={"format": "pt"})

    inputs = {"pixel_position_ids": pos.long(),
              "image_sizes": torch.tensor(IMAGE_SIZES, dtype=torch.long),
              "resized_sizes": torch.tensor(resized, dtype=torch.long)}
    if u8 is not None:
        inputs["pixel_values_u8"] = u8
        inputs["pixel_lut"] = lut
    else:
        inputs["pixel_values"] = pv

    def tensors(d):
        return {k: (v.detach().float() if v.is_floating_point() else v.detach()).contiguous().clone() for k, v in d.items()}
    save_file(tensors(inputs), os.path.join(out_root, "inputs.safetensors"))
    save_file(tensors(expected), os.path.join(out_root, "expected.safetensors"))

    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out_root) for f in fs)
    meta = dict(
        description="Gemma 4 vision tower + vision embedder alone, tiny vision_config, random weights, float32 on CPU",
        versions=dict(transformers=transformers.__version__, torch=torch.__version__, numpy=np.__version__,
                      safetensors=safetensors.__version__, python=platform.python_version()),
        command=" ".join(["python3"] + sys.argv), device="cpu", dtype="float32", seed=SEED, preset=PRESET,
        built_as="Gemma4Model(config): vision_tower = AutoModel.from_config(config.vision_config), "
                 "embed_vision = Gemma4MultimodalEmbedder(vision_config, text_config); outputs from "
                 "Gemma4Model.get_image_features",
        attn_implementation=impl, vision_config=vc.to_dict(), text_hidden_size=cfg.text_config.hidden_size,
        processor=dict(cls="Gemma4ImageProcessor", patch_size=PATCH, max_soft_tokens=MAX_SOFT_TOKENS,
                       pooling_kernel_size=3, pixel_lookup_rule=lut_rule),
        inputs=dict(image_sizes=[list(s) for s in IMAGE_SIZES], resized_sizes=resized,
                    patches=valid.sum(-1).tolist(), max_patches=int(pv.shape[1]),
                    images="make_image(): gradients, disc, rectangle, diagonal line, N(0, 6) noise, uint8"),
        tokens_per_image=counts,
        weights=dict(rules=init_counts, saved_tensors=len(sd),
                     clip_bounds="per bound a quantile of the unclipped run's values (input: what the linear "
                                 f"sees, output: what it produces), low in {CLIP_LOW_Q}, high in {CLIP_HIGH_Q}",
                     clip_quantiles=quantiles,
                     clip_bounds_values={n: [round(v, 6) for v in b] for n, b in bounds.items()},
                     standardize="std_bias ~ N(0, 0.5^2), std_scale ~ U(0.5, 1.5)"),
        clip_rates_in_the_clipped_run=rates, checks=checks, inputs_doc=INPUTS_DOC, expected=EXPECTED_DOC,
        size_bytes=size)
    with open(os.path.join(out_root, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, default=str)
        f.write("\n")
    log(f"tokens per image {counts}; checks {json.dumps(checks, default=str)}")
    log(f"clip rates (min over linears): input {min(r['input'] for r in rates.values()):.3f}, "
        f"output {min(r['output'] for r in rates.values()):.3f}")
    log(f"wrote {out_root} ({size} bytes)")


if __name__ == "__main__":
    main()
