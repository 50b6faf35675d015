#!/usr/bin/env python3
"""Parity fixtures for the Gemma 3n vision tower: timm's MobileNet-V5 encoder inside transformers' TimmWrapperModel
(the `model.vision_tower` of Gemma3nModel) and Gemma3nMultimodalEmbedder (`model.embed_vision`), for
tests/models/gemma3n_vision_test.cpp.

Run on the GPU machine from the repository root (CPU, float32; no network):
    python3 tools/make_gemma3n_vision_fixtures.py --out tests/fixtures/vision/gemma3n-tower

Two cases:
  (a) "reduced": a small MobileNet-V5 with the block kinds of mobilenetv5_300m_enc (er; uir with leading and/or
      middle depthwise convs or none; mqa with kv stride 2 and 1; layer scale; a repeated block, a "noskip" block,
      widths that timm rounds), built by transformers from a Gemma3nVisionConfig whose model_args hand timm the
      block strings (timm's mobilenetv5_300m_enc(**model_args) takes block_args, stem_size and
      msfa_output_resolution). timm's MobileNetV5Encoder always makes a 2048-wide MSFA; the script replaces it with
      timm's own MobileNetV5MultiScaleFusionAdapter built 64 wide (as the encoder builds it, other width), so the
      weights stay small. Random weights (seeded), two 192x192 images and one 75x61 image (odd sizes: asymmetric
      'same' padding, a non-integer nearest upsample and the MSFA's bilinear resize instead of its average pool).
      Saved: weights, inputs, outputs, the embed_vision path of Gemma3nModel.get_image_features, hard ids.
  (b) "full": the real mobilenetv5_300m_enc at 768x768 (as Gemma3nModel builds it: AutoModel.from_config of the
      default Gemma3nVisionConfig). Its 294 M weights are not stored: each tensor is filled by a recipe that C++
      reproduces bit for bit (integer hash -> uniform in [-1, 1) -> float64 scale -> float32; see fill_recipe),
      the input image is integer arithmetic on the pixel coordinates (recipe_image), and only a slice of the output
      (8 channels at all 256 positions), every channel's mean and the output's mean/std are stored.

Writes into --out (README.md there is kept):
  arch.json               the reduced architecture (parse_mobilenetv5_arch's format: timm block strings per stage)
  embedder.json           the reduced embed_vision's shape (text hidden size, vocabulary, offset, eps)
  model.safetensors       model.vision_tower.timm_model.* and model.embed_vision.* of (a), float32
  inputs.safetensors      batch.pixels [2, 3, 192, 192] u8, odd.pixels [1, 3, 75, 61] u8, hard_ids [2, 3] i64;
                          pixel_values = pixels (as float32) / 255, as the processor's rescale gives
  expected.safetensors    (a), see EXPECTED_DOC
  full.safetensors        (b), see FULL_DOC
  meta.json               versions, seed, weight draws, statistics, checks, what each tensor is
Regenerate with this script; never edit the numbers.
"""
import argparse
import copy
import json
import math
import os
import platform
import shutil
import sys
import time
import types

import numpy as np
import torch
import torch.nn as nn

import timm
from timm.layers import RmsNorm2d
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.mobilenetv5 import MobileNetV5MultiScaleFusionAdapter, _GELU

try:
    import transformers
    from transformers import AutoModel, Gemma3nVisionConfig
    from transformers.models.gemma3n.modeling_gemma3n import Gemma3nModel, Gemma3nMultimodalEmbedder
except ImportError:  # only for a local dry run with --timm-only
    transformers = None

try:
    from safetensors.torch import save_file
    import safetensors
except ImportError:  # local dry run: the same file format, written by hand
    safetensors = None

    def save_file(tensors, path, metadata=None):
        names = {torch.float32: "F32", torch.int64: "I64", torch.uint8: "U8"}
        header, blobs, offset = {}, [], 0
        for k, t in sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0])):  # aligned, as safetensors
            b = t.contiguous().numpy().tobytes()
            header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
            blobs.append(b)
            offset += len(b)
        if metadata:
            header["__metadata__"] = metadata
        h = json.dumps(header).encode()
        h += b" " * (-len(h) % 8)
        with open(path, "wb") as f:
            f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))

SEED = 20261206
PREFIX = "model.vision_tower."
ARCH = {
    "stem_size": 12,  # timm rounds it to 16
    "block_strings": [
        ["er_r1_k3_s2_e4_c16", "er_r2_k3_s1_e4_c16"],
        ["uir_r1_a3_k5_s2_e4_c20", "uir_r1_a5_k0_s1_e4_c20", "uir_r1_a0_k3_s1_e2_c20"],  # c20 -> 24
        ["uir_r1_a5_k0_s2_e4_c32", "uir_r1_a0_k0_s1_e1_c32", "mqa_r1_k3_h2_v2_s1_d8_c32", "uir_r1_a0_k0_s1_e2_c32"],
        ["uir_r1_a0_k3_s2_e4_c48", "mqa_r1_k3_h3_s1_d8_c48", "uir_r1_a0_k0_s1_e2_c48_noskip"],
    ],
    "msfa_out_channels": 64,
    "msfa_output_resolution": 4,
}
EMBEDDER = {"text_hidden_size": 32, "vocab_size": 128, "vocab_offset": 262144, "rms_norm_eps": 1e-6}
BATCH_SIZE = (192, 192)
ODD_SIZE = (75, 61)
HARD_IDS = [[262144, 262145, 262200], [262230, 262270, 262271]]
FULL_CHANNELS = [0, 1, 2, 3, 511, 1024, 1500, 2047]

EXPECTED_DOC = {
    "batch.tower": "TimmWrapperModel(pixel_values=batch, do_pooling=False).last_hidden_state [2, 64, 4, 4] "
                   "(= timm forward_features: stage-2 output 12x12, stage-3 6x6 upsampled, MSFA average pool 3x3)",
    "batch.embedded": "Gemma3nModel.get_image_features(batch).pooler_output [2, 16, 32]: tower output reshaped to "
                      "[2, 64, 16], permuted to [2, 16, 64] (token y*4 + x), times sqrt(64), embed_vision soft",
    "alone.<i>.tower": "image i of the batch run alone [1, 64, 4, 4]",
    "odd.tower": "the 75x61 image [1, 64, 4, 4] (stage-2 output 5x4, stage 3 3x2: nearest upsample 3x2 -> 5x4, "
                 "then the MSFA resizes 5x4 -> 4x4 bilinearly because 5 is not a multiple of 4)",
    "odd.embedded": "get_image_features of the odd image [1, 16, 32]",
    "odd.stage.<s>": "the odd image: s = 0 the stem's output, s = 1..4 the output of stage s-1",
    "hard.embedded": "embed_vision(input_ids=hard_ids) [2, 3, 32]",
}
FULL_DOC = {
    "full.slice": "mobilenetv5_300m_enc on recipe_image (768x768), filled by fill_recipe: output channels "
                  "FULL_CHANNELS at all 16x16 positions [1, 8, 16, 16]",
    "full.channels": "the output channel indices of full.slice [8] i64",
    "full.channel_mean": "the output's mean over the 256 positions, every channel [2048]",
    "full.mean_std": "the output's mean and std (all values) [2]",
    "full.stage.<s>": "s = 0 stem, 1..4 stage s-1 output: [0, :8, :8, :8] (for locating a difference)",
    "full.image_sum": "sum of recipe_image's uint8 values [1] i64 (checks the C++ image recipe)",
}


def log(*a):
    print(*a, flush=True)


def versions():
    return dict(transformers=getattr(transformers, "__version__", None), timm=timm.__version__,
                torch=torch.__version__, numpy=np.__version__,
                safetensors=getattr(safetensors, "__version__", None), python=platform.python_version())


# ---------------------------------------------------------------------------------------------------------------
# Building the tower as Gemma3nModel does
# ---------------------------------------------------------------------------------------------------------------

def vision_tower(hidden_size, model_args, timm_only):
    """TimmWrapperModel from a Gemma3nVisionConfig (AutoModel.from_config, as Gemma3nModel.__init__), or with
    --timm-only the timm model alone (TimmWrapperModel creates it with num_classes=0 and model_args)."""
    if timm_only:
        wrapper = nn.Module()
        wrapper.timm_model = timm.create_model("mobilenetv5_300m_enc", pretrained=False, num_classes=0,
                                               **copy.deepcopy(model_args or {}))
        return wrapper, wrapper.timm_model
    cfg = Gemma3nVisionConfig(hidden_size=hidden_size, model_args=copy.deepcopy(model_args) if model_args else None,
                              vocab_size=EMBEDDER["vocab_size"], vocab_offset=EMBEDDER["vocab_offset"],
                              rms_norm_eps=EMBEDDER["rms_norm_eps"])
    tower = AutoModel.from_config(cfg)
    assert type(tower).__name__ == "TimmWrapperModel", type(tower)
    return tower, tower.timm_model


def run_tower(tower, pixel_values, timm_only):
    with torch.no_grad():
        if timm_only:
            return tower.timm_model.forward_features(pixel_values)
        return tower(pixel_values=pixel_values, do_pooling=False).last_hidden_state


def get_image_features(tower, embed_vision, vcfg_hidden, tokens_per_image, pixel_values, timm_only):
    """Gemma3nModel.get_image_features (its pooler_output), called on a stand-in holding only what it reads; the
    same steps are also written out here, and the two must agree."""
    with torch.no_grad():
        last = run_tower(tower, pixel_values, timm_only)
        manual = last.reshape(last.shape[0], vcfg_hidden, tokens_per_image).permute(0, 2, 1) * vcfg_hidden ** 0.5
        manual = embed_vision(inputs_embeds=manual)
        if timm_only:
            return manual, None
        stub = types.SimpleNamespace(
            vision_tower=tower, embed_vision=embed_vision,
            config=types.SimpleNamespace(vision_config=tower.config, vision_soft_tokens_per_image=tokens_per_image,
                                         return_dict=True, use_return_dict=True))
        try:
            real = Gemma3nModel.get_image_features(stub, pixel_values).pooler_output
        except Exception as e:  # noqa: BLE001 - recorded in meta.json
            log("get_image_features on a stand-in failed:", repr(e))
            return manual, repr(e)
        return real, float((real - manual).abs().max())


class TinyEmbedder(nn.Module):
    """--timm-only stand-in for Gemma3nMultimodalEmbedder (same parameters and order of operations)."""

    def __init__(self, d, text, vocab, offset, eps):
        super().__init__()
        self.vocab_offset, self.eps = offset, eps
        self.embedding = nn.Embedding(vocab, d)
        self.hard_embedding_norm = nn.Module()
        self.hard_embedding_norm.weight = nn.Parameter(torch.ones(d))
        self.soft_embedding_norm = nn.Module()
        self.soft_embedding_norm.weight = nn.Parameter(torch.ones(d))
        self.embedding_projection = nn.Linear(d, text, bias=False)

    def _norm(self, x, w):
        x32 = x.float()
        y = x32 * torch.pow(x32.pow(2).mean(-1, keepdim=True) + self.eps, -0.5)
        return (y * w.float() if w is not None else y).type_as(x)

    def forward(self, input_ids=None, inputs_embeds=None):
        if inputs_embeds is not None:
            e = self._norm(inputs_embeds, self.soft_embedding_norm.weight)
        else:
            e = self._norm(self.embedding(input_ids - self.vocab_offset), self.hard_embedding_norm.weight)
        return self._norm(self.embedding_projection(e), None)


def embedder(hidden, timm_only):
    if timm_only:
        return TinyEmbedder(hidden, EMBEDDER["text_hidden_size"], EMBEDDER["vocab_size"], EMBEDDER["vocab_offset"],
                            EMBEDDER["rms_norm_eps"])
    vcfg = types.SimpleNamespace(hidden_size=hidden, rms_norm_eps=EMBEDDER["rms_norm_eps"],
                                 vocab_offset=EMBEDDER["vocab_offset"], vocab_size=EMBEDDER["vocab_size"])
    tcfg = types.SimpleNamespace(hidden_size=EMBEDDER["text_hidden_size"])
    return Gemma3nMultimodalEmbedder(vcfg, tcfg)


# ---------------------------------------------------------------------------------------------------------------
# (a) reduced variant
# ---------------------------------------------------------------------------------------------------------------

def draw_rule(name, p):
    if name.endswith("layer_scale.gamma"):
        return ("uniform", 0.2, 0.8)               # residual branches matter (timm's 1e-5 would hide them)
    if name.endswith("conv_stem.conv.bias"):
        return ("normal", 0.5)
    if p.dim() == 1:                               # RmsNorm2d / RMSNorm scales
        return ("uniform", 0.5, 1.5)
    if p.dim() == 4:                               # convs: fan-in scaled; q and k larger for peaked attention
        fan_in = p.shape[1] * p.shape[2] * p.shape[3]
        boost = 2.5 if name.endswith(("attn.query.proj.weight", "attn.key.proj.weight")) else 1.0
        return ("normal", boost / math.sqrt(fan_in))
    if name.endswith("embedding.weight"):
        return ("normal", 1.0)
    if name.endswith("embedding_projection.weight"):
        return ("normal", 1.0 / math.sqrt(p.shape[1]))
    raise RuntimeError(f"no draw rule for {name} {tuple(p.shape)}")


def randomize(named_params, gen):
    counts = {}
    with torch.no_grad():
        for name, p in named_params:
            rule = draw_rule(name, p)
            t = torch.empty(p.shape, dtype=torch.float32)
            if rule[0] == "normal":
                t.normal_(0.0, rule[1], generator=gen)
            else:
                t.uniform_(rule[1], rule[2], generator=gen)
            p.copy_(t)
            key = f"{rule[0]}{tuple(round(v, 4) for v in rule[1:])}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def scene(gen, h, w, variant):
    """An image with content: a colour gradient, a few discs and boxes, stripes, mild noise; uint8 [3, h, w]."""
    y = torch.linspace(0, 1, h).view(h, 1)
    x = torch.linspace(0, 1, w).view(1, w)
    img = torch.stack([0.2 + 0.6 * x.expand(h, w), 0.3 + 0.5 * y.expand(h, w), 0.5 + 0.3 * (x - y).expand(h, w)])
    for _ in range(4 + variant):
        c = torch.rand(3, generator=gen)
        cy, cx, r = float(torch.rand(1, generator=gen)), float(torch.rand(1, generator=gen)), \
            0.08 + 0.2 * float(torch.rand(1, generator=gen))
        disc = ((y - cy) ** 2 + (x - cx) ** 2) < r * r
        img = torch.where(disc, c.view(3, 1, 1), img)
    for _ in range(3):
        c = torch.rand(3, generator=gen)
        y0, x0 = float(torch.rand(1, generator=gen)) * 0.7, float(torch.rand(1, generator=gen)) * 0.7
        box = (y >= y0) & (y < y0 + 0.25) & (x >= x0) & (x < x0 + 0.3)
        img = torch.where(box, c.view(3, 1, 1), img)
    stripes = (torch.arange(w).view(1, w) // (3 + variant)) % 2 == 0
    band = (y > 0.8) & stripes
    img = torch.where(band, 1.0 - img, img)
    img = img + 0.04 * torch.randn(3, h, w, generator=gen)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def to_pixel_values(u8):
    return u8.to(torch.float32) / 255.0


class StageRecorder:
    def __init__(self, timm_model):
        self.saved, self.active = [], False
        self.handles = [timm_model.conv_stem.register_forward_hook(self._hook)]
        self.handles += [stage.register_forward_hook(self._hook) for stage in timm_model.blocks]

    def _hook(self, mod, args, out):
        if self.active:
            self.saved.append(out.detach().clone())

    def close(self):
        for h in self.handles:
            h.remove()


def make_reduced(out, timm_only, meta):
    gen = torch.Generator().manual_seed(SEED)
    model_args = dict(block_args=decode_arch_def(ARCH["block_strings"]), stem_size=ARCH["stem_size"],
                      msfa_output_resolution=ARCH["msfa_output_resolution"])
    hidden = ARCH["msfa_out_channels"]
    tower, tm = vision_tower(hidden, model_args, timm_only)
    # timm's MobileNetV5Encoder builds a 2048-wide MSFA; the same adapter, built as the encoder builds it but
    # `hidden` wide, keeps the fixture small.
    assert tm.msfa.out_channels == 2048 and tm.msfa_in_chs == tm.msfa.in_channels
    tm.msfa = MobileNetV5MultiScaleFusionAdapter(in_chs=tm.msfa_in_chs, out_chs=hidden,
                                                 output_resolution=tm.msfa_output_resolution,
                                                 norm_layer=RmsNorm2d, act_layer=_GELU)
    tower.eval()
    embed = embedder(hidden, timm_only).float().eval()
    log("reduced timm model:\n", tm)
    tower_named = [(PREFIX + n, p) for n, p in tower.named_parameters()]
    draws = {"vision_tower": randomize(tower_named, gen),
             "embed_vision": randomize([("model.embed_vision." + n, p) for n, p in embed.named_parameters()], gen)}
    weights = {PREFIX + k: v.detach().clone().contiguous() for k, v in tower.state_dict().items()}
    weights.update({"model.embed_vision." + k: v.detach().clone().contiguous() for k, v in embed.state_dict().items()})
    for k, v in weights.items():
        assert v.dtype == torch.float32, (k, v.dtype)
    save_file(weights, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    log(f"reduced: saved {len(weights)} tensors, {sum(v.numel() for v in weights.values())} values")

    batch_u8 = torch.stack([scene(gen, *BATCH_SIZE, 0), scene(gen, *BATCH_SIZE, 1)])
    odd_u8 = scene(gen, *ODD_SIZE, 2).unsqueeze(0)
    hard_ids = torch.tensor(HARD_IDS, dtype=torch.long)
    batch, odd = to_pixel_values(batch_u8), to_pixel_values(odd_u8)
    tokens = ARCH["msfa_output_resolution"] ** 2

    expected, checks = {}, {}
    expected["batch.tower"] = run_tower(tower, batch, timm_only)
    expected["batch.embedded"], checks["batch_get_image_features_vs_steps"] = get_image_features(
        tower, embed, hidden, tokens, batch, timm_only)
    for i in range(batch.shape[0]):
        expected[f"alone.{i}.tower"] = run_tower(tower, batch[i:i + 1], timm_only)
        checks[f"alone_{i}_vs_batch_max_abs"] = float((expected[f"alone.{i}.tower"][0] -
                                                       expected["batch.tower"][i]).abs().max())
    rec = StageRecorder(tm)
    rec.active = True
    expected["odd.tower"] = run_tower(tower, odd, timm_only)
    rec.active = False
    rec.close()
    for s, t in enumerate(rec.saved):
        expected[f"odd.stage.{s}"] = t
    expected["odd.embedded"], checks["odd_get_image_features_vs_steps"] = get_image_features(
        tower, embed, hidden, tokens, odd, timm_only)
    with torch.no_grad():
        expected["hard.embedded"] = embed(input_ids=hard_ids)

    save_file({"batch.pixels": batch_u8.contiguous(), "odd.pixels": odd_u8.contiguous(), "hard_ids": hard_ids},
              os.path.join(out, "inputs.safetensors"))
    save_file({k: v.float().contiguous() for k, v in expected.items()}, os.path.join(out, "expected.safetensors"))
    with open(os.path.join(out, "arch.json"), "w") as f:
        json.dump(ARCH, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "embedder.json"), "w") as f:
        json.dump(EMBEDDER, f, indent=1)
        f.write("\n")

    stats = {k: dict(shape=list(v.shape), mean=float(v.mean()), std=float(v.std()), max_abs=float(v.abs().max()))
             for k, v in expected.items()}
    blocks = [[type(b).__name__ + (f"(has_skip={b.has_skip})" if hasattr(b, "has_skip") else "") for b in stage]
              for stage in tm.blocks]
    meta["reduced"] = dict(
        arch=ARCH, embedder=EMBEDDER, seed=SEED, timm_blocks=blocks,
        feature_info=[{k: v for k, v in f.items() if k in ("num_chs", "reduction", "module")} for f in tm.feature_info],
        msfa_indices=[int(i) for i in tm.msfa_indices], msfa_in_chs=int(tm.msfa_in_chs),
        msfa="timm's 2048-wide MSFA replaced by MobileNetV5MultiScaleFusionAdapter(in_chs=msfa_in_chs, "
             f"out_chs={hidden}, output_resolution={ARCH['msfa_output_resolution']}, norm_layer=RmsNorm2d, "
             "act_layer=GELU(tanh)), as MobileNetV5Encoder builds it",
        built_by="timm.create_model (--timm-only, NOT the fixture)" if timm_only else
                 "AutoModel.from_config(Gemma3nVisionConfig(hidden_size, model_args)) -> TimmWrapperModel",
        weight_draws=dict(rules="conv weights N(0, 1/fan_in) (query/key proj 2.5x the std); stem bias N(0, 0.5^2); "
                                "RmsNorm2d and RMSNorm scales U(0.5, 1.5); layer-scale gamma U(0.2, 0.8); "
                                "embed_vision embedding N(0, 1), projection N(0, 1/fan_in)", counts=draws),
        inputs=dict(batch=list(BATCH_SIZE), odd=list(ODD_SIZE), pixel_values="pixels.float() / 255",
                    hard_ids=HARD_IDS),
        checks=checks, stats=stats, expected=EXPECTED_DOC,
        sdpa=bool(getattr(tm.blocks[2][2].attn, "fused_attn", False)))
    log(json.dumps(dict(checks=checks, stats=stats), indent=1))


# ---------------------------------------------------------------------------------------------------------------
# (b) full size, reproducible weights and image
# ---------------------------------------------------------------------------------------------------------------

MASK32 = 0xFFFFFFFF


def fnv1a32(s):
    h = 0x811C9DC5
    for byte in s.encode():
        h = ((h ^ byte) * 0x01000193) & MASK32
    return h


def uniform_recipe(name, numel):
    """u_i in [-1, 1), exactly representable (24 bits): lowbias32((fnv1a32(name) + i * 0x9E3779B9) mod 2^32)."""
    i = np.arange(numel, dtype=np.uint64)
    x = (np.uint64(fnv1a32(name)) + i * np.uint64(0x9E3779B9)) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(MASK32)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    return (x >> np.uint64(8)).astype(np.float64) * (2.0 ** -23) - 1.0


def fill_recipe(name, shape):
    """The value of every tensor of the full-size tower, from its checkpoint name and shape (C++: the same)."""
    numel = int(np.prod(shape))
    u = uniform_recipe(name, numel)
    if name.endswith("layer_scale.gamma"):
        v = 0.25 + 0.15 * u
    elif name.endswith(".bias"):
        v = 0.1 * u
    elif len(shape) == 1:
        v = 1.0 + 0.25 * u
    elif len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        a = math.sqrt(3.0) / math.sqrt(fan_in)   # uniform with std 1/sqrt(fan_in)
        if name.endswith(("attn.query.proj.weight", "attn.key.proj.weight")):
            a = a * 2.0
        v = a * u
    else:
        raise RuntimeError(f"no recipe for {name} {shape}")
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def recipe_image():
    """uint8 [3, 768, 768]: red = horizontal ramp (inverted in rows 500..559), green = vertical ramp, blue = a disc
    (230) over a 48-pixel checkerboard (20 / 200)."""
    y = torch.arange(768, dtype=torch.int64).view(768, 1).expand(768, 768)
    x = torch.arange(768, dtype=torch.int64).view(1, 768).expand(768, 768)
    r = (x * 255) // 767
    r = torch.where((y >= 500) & (y < 560), 255 - r, r)
    g = (y * 255) // 767
    disc = (x - 384) ** 2 + (y - 300) ** 2 < 200 * 200
    b = torch.where(disc, torch.full_like(x, 230), ((x // 48 + y // 48) % 2) * 180 + 20)
    return torch.stack([r, g, b]).to(torch.uint8)


def make_full(out, timm_only, meta):
    t0 = time.time()
    tower, tm = vision_tower(2048, None, timm_only)
    tower.eval()
    t1 = time.time()
    n = 0
    with torch.no_grad():
        for k, v in tower.state_dict().items():
            v.copy_(fill_recipe(PREFIX + k, tuple(v.shape)))
            n += v.numel()
    t2 = time.time()
    img_u8 = recipe_image()
    pixels = to_pixel_values(img_u8).unsqueeze(0)
    rec = StageRecorder(tm)
    rec.active = True
    y = run_tower(tower, pixels, timm_only)
    rec.active = False
    rec.close()
    t3 = time.time()
    assert tuple(y.shape) == (1, 2048, 16, 16), y.shape
    full = {"full.slice": y[:, FULL_CHANNELS].contiguous(),
            "full.channels": torch.tensor(FULL_CHANNELS, dtype=torch.long),
            "full.channel_mean": y[0].mean(dim=(1, 2)),
            "full.mean_std": torch.stack([y.mean(), y.std()]),
            "full.image_sum": img_u8.to(torch.int64).sum().view(1)}
    for s, t in enumerate(rec.saved):
        full[f"full.stage.{s}"] = t[0, :8, :8, :8].contiguous()
    save_file({k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in full.items()},
              os.path.join(out, "full.safetensors"))
    meta["full"] = dict(
        arch="mobilenetv5_300m_enc (default Gemma3nVisionConfig)", values=n,
        built_by="timm.create_model (--timm-only, NOT the fixture)" if timm_only else
                 "AutoModel.from_config(Gemma3nVisionConfig()) -> TimmWrapperModel",
        recipe=dict(
            uniform="u_i = (h >> 8) * 2^-23 - 1, h = lowbias32((fnv1a32(name) + i * 0x9E3779B9) mod 2^32), i the "
                    "row-major index, name the checkpoint name (model.vision_tower.timm_model.*); lowbias32: "
                    "x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16 (mod 2^32)",
            values="float32 of a float64 expression: layer_scale.gamma 0.25 + 0.15 u; conv_stem bias 0.1 u; other "
                   "1-D (norm scales) 1 + 0.25 u; 4-D conv weights (sqrt(3) / sqrt(fan_in)) * u with fan_in = "
                   "in/groups * k * k, times 2 for attn.query.proj and attn.key.proj",
            image="recipe_image(): uint8 [3, 768, 768], see the script; pixel_values = u8 / 255 (float32)"),
        image_sum=int(full["full.image_sum"]), output_mean=float(y.mean()), output_std=float(y.std()),
        channels=FULL_CHANNELS,
        stage_stats=[dict(shape=list(t.shape), mean=float(t.mean()), std=float(t.std()), max_abs=float(t.abs().max()))
                     for t in rec.saved],
        seconds=dict(build=round(t1 - t0, 1), fill=round(t2 - t1, 1), forward=round(t3 - t2, 1)),
        expected=FULL_DOC, torch_threads=torch.get_num_threads())
    log(json.dumps(meta["full"], indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-full", action="store_true", help="only the reduced variant")
    ap.add_argument("--timm-only", action="store_true",
                    help="dry run without transformers (timm.create_model, a stand-in embedder): not the fixture")
    args = ap.parse_args()
    if transformers is None and not args.timm_only:
        sys.exit("transformers is not installed (use --timm-only for a dry run)")
    torch.manual_seed(SEED)
    out = args.out
    readme = None
    if os.path.exists(os.path.join(out, "README.md")):
        with open(os.path.join(out, "README.md")) as f:
            readme = f.read()
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    if readme is not None:
        with open(os.path.join(out, "README.md"), "w") as f:
            f.write(readme)
    meta = dict(command=f"python3 tools/make_gemma3n_vision_fixtures.py --out {out}", versions=versions(),
                device="cpu", dtype="float32", timm_fused_attn=timm.layers.use_fused_attn())
    make_reduced(out, args.timm_only, meta)
    if not args.skip_full:
        make_full(out, args.timm_only, meta)
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, x)) for d, _, fs in os.walk(out) for x in fs)
    log(f"wrote {out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
