#!/usr/bin/env python3
"""Parity fixtures for the Gemma 4 audio tower alone: transformers 5.17 Gemma4AudioModel (`model.audio_tower.*`) and
the audio Gemma4MultimodalEmbedder (`model.embed_audio.*`), built as Gemma4Model builds them from the tiny preset
(tools/device/presets/gemma4-tiny/config.json), with random weights of visible spread and finite clip bounds that
really clip. For tests/models/gemma4_audio_test.cpp.

Run on the GPU machine from the repository root (everything on the CPU, float32):
    python3 tools/make_gemma4_audio_fixtures.py --out tests/fixtures/audio/gemma4-tower
Writes into --out:
  model/config.json         the preset, unchanged
  model/model.safetensors   model.audio_tower.* and model.embed_audio.* only (float32)
  inputs.safetensors        features [3, T, n_mel] float32, feature_mask [3, T] bool, lengths [3] int64, and
                            alone.<i>.features [1, lengths[i], n_mel] (clip i by itself, every frame valid)
  expected.safetensors      see EXPECTED_DOC below
  meta.json                 versions, command, seed, weight rules, clip-bound calibration and clip rates, checks
(README.md in --out, which describes the fixture, is left alone.)
Regenerate with this script; never edit the numbers.

The batch holds 3 clips of 37, 96 and 161 feature frames (T = 161): after the two stride-2 convolutions they give
10 (fewer than one 12-frame attention chunk), 24 (exactly two chunks) and 41 (odd, three chunks and 5) tokens.
The padded frames of the shorter clips hold large random values, not zeros, so a tower that forgets to mask its
input shows it. n_mel: the preset's subsampling_conv_channels [8, 4] give input_proj_linear (8 // 4) * 4 = 8 inputs,
which the convolutions produce from 8 mel bins (128 in the released models, whose channels are [128, 32]); so the
tiny tower is fed 8-bin features here (random values: the tower is tested, not the feature extractor).
"""
import argparse
import json
import math
import os
import platform
import shutil
import sys

import torch
import torch.nn as nn

import safetensors
import transformers
from safetensors.torch import save_file
from transformers import AutoConfig
from transformers.models.gemma4.modeling_gemma4 import Gemma4ClippableLinear, Gemma4Model, Gemma4RMSNorm

SEED = 20261127
PRESET = os.path.join("tools", "device", "presets", "gemma4-tiny")
CLIP_FRAMES = (37, 96, 161)
FEATURE_MEAN, FEATURE_STD = -1.0, 2.0      # valid frames ~ N(-1, 2^2), log-mel-like range
GARBAGE_MEAN, GARBAGE_STD = 3.0, 5.0       # padded frames: must never reach the output of a valid token
# Clip bounds: per bound a quantile drawn from these ranges, of the values the linear sees (input) or produces
# (output) in an unclipped run of the batch, so that every bound cuts off a few percent of the entries.
CLIP_LOW_Q, CLIP_HIGH_Q = (0.03, 0.12), (0.88, 0.97)
TEXT_IDS = (3, 200)                        # random text ids around the audio spans of the merge check

EXPECTED_DOC = {
    "encoder_output": "Gemma4AudioModel last_hidden_state of the batch [3, T', output_proj_dims], every position",
    "encoder_mask": "its attention_mask [3, T'] bool, True = valid token (the input mask subsampled twice, [::2])",
    "embedder_output": "embed_audio(encoder_output) = get_audio_features pooler_output [3, T', text hidden]",
    "soft_tokens": "the rows Gemma4Model.forward scattered into the <|audio|> positions of inputs_embeds, in order "
                   "[sum(tokens_per_clip), text hidden] (= embedder_output[encoder_mask])",
    "tokens_per_clip": "encoder_mask.sum(-1) [3] int64",
    "attention_mask_blocked": "the 5-D boolean mask the audio attention layers received [3, 1, U, chunk, context]",
    "trace.subsample": "output of subsample_conv_projection (after input_proj_linear) [3, T', hidden]",
    "trace.layers.<i>": "output of conformer layer i [3, T', hidden]",
    "encoder_output_unclipped": "encoder_output with every clip bound set to -inf/+inf (the module defaults)",
    "soft_tokens_unclipped": "soft_tokens with every clip bound set to -inf/+inf",
    "alone.<i>.encoder_output": "clip i run alone (features inputs alone.<i>.features, all frames valid) [1, n_i, .]",
    "alone.<i>.encoder_mask": "its mask [1, n_i] (all True)",
    "alone.<i>.soft_tokens": "its soft tokens [n_i, text hidden]",
}


def log(*a):
    print(*a, flush=True)


def fnum(x):
    return float(x.item()) if torch.is_tensor(x) else float(x)


def maxdiff(a, b):
    return fnum((a.double() - b.double()).abs().max())


# ---------------------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------------------

def weight_rule(name, mod, pname, p):
    """(kind, a, b) for one parameter of the audio tower or embedder: spreads that make a wrong op visible."""
    if pname == "per_dim_scale":
        return ("uniform", -1.0, 1.0)                      # softplus(.) then spans about 0.3 .. 1.3
    if isinstance(mod, (Gemma4RMSNorm, nn.LayerNorm)):
        return ("uniform", 0.5, 1.5)
    if isinstance(mod, nn.Linear) and pname == "bias":
        return ("normal", 0.5)
    if isinstance(mod, nn.Linear):
        # q/k and the relative-position keys get twice the spread, so attention logits reach +-15 or so: the
        # soft-cap's tanh curves them and the softmax is neither flat nor one-hot.
        wide = name.endswith(("q_proj.linear.weight", "k_proj.linear.weight", "relative_k_proj.weight"))
        return ("normal", (2.0 if wide else 1.0) / math.sqrt(mod.in_features))
    if isinstance(mod, nn.modules.conv._ConvNd):
        return ("normal", 1.0 / math.sqrt(p[0].numel()))   # fan-in: in_channels/groups * kernel taps
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
    return [(n, m) for n, m in tower.named_modules() if isinstance(m, Gemma4ClippableLinear)]


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


def calibrate_bounds(model, feats, mask, g):
    """Bounds at random low/high quantiles of what each linear sees and produces in an unclipped run."""
    tower = model.audio_tower
    set_bounds(tower, None)
    seen, handles = record_linear_io(tower)
    with torch.no_grad():
        model.get_audio_features(feats, mask, return_dict=True)
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


def clip_rates(model, feats, mask):
    """Per clippable linear, the fraction of entries the stored bounds change in the real (clipped) run."""
    tower = model.audio_tower
    seen_pre = {}
    handles = []
    for n, m in clippables(tower):
        def pre(mod, args, n=n):
            seen_pre[n] = args[0].detach().clone()            # before the input clamp
        handles.append(m.register_forward_pre_hook(pre))
    seen, lin_handles = record_linear_io(tower)
    with torch.no_grad():
        model.get_audio_features(feats, mask, return_dict=True)
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

def make_inputs(n_mel, g):
    T = max(CLIP_FRAMES)
    feats = torch.randn(len(CLIP_FRAMES), T, n_mel, generator=g) * FEATURE_STD + FEATURE_MEAN
    garbage = torch.randn(len(CLIP_FRAMES), T, n_mel, generator=g) * GARBAGE_STD + GARBAGE_MEAN
    mask = torch.zeros(len(CLIP_FRAMES), T, dtype=torch.bool)
    for i, n in enumerate(CLIP_FRAMES):
        mask[i, :n] = True
    feats = torch.where(mask[..., None], feats, garbage)
    return feats.float().contiguous(), mask


def traced_encoder_run(model, feats, mask):
    """get_audio_features with hooks: subsampler output, each layer's output, the attention mask layers received."""
    tower = model.audio_tower
    trace, handles = {}, []
    handles.append(tower.subsample_conv_projection.register_forward_hook(
        lambda mod, args, out: trace.__setitem__("trace.subsample", out[0].detach().clone())))
    for i, layer in enumerate(tower.layers):
        handles.append(layer.register_forward_hook(
            lambda mod, args, out, i=i: trace.__setitem__(f"trace.layers.{i}",
                                                          (out[0] if isinstance(out, tuple) else out).detach().clone())))

    def attn_pre(mod, args, kwargs):
        trace["attention_mask_blocked"] = kwargs["attention_mask"].detach().clone()
    handles.append(tower.layers[0].self_attn.register_forward_pre_hook(attn_pre, with_kwargs=True))
    with torch.no_grad():
        out = model.get_audio_features(feats, mask, return_dict=True)
    for h in handles:
        h.remove()
    return out, trace


def merged_soft_tokens(model, cfg, feats, mask, counts, g):
    """Runs Gemma4Model.forward on one text row holding one <|audio|> span per clip; returns the rows of
    inputs_embeds at the placeholder positions as the language model received them, and audio_hidden_states."""
    audio_id, boa, eoa = cfg.audio_token_id, cfg.boa_token_id, cfg.eoa_token_id

    def ids(k):
        return torch.randint(TEXT_IDS[0], TEXT_IDS[1], (k,), generator=g).tolist()

    row = [2] + ids(3)
    for n in counts:
        row += [boa] + [audio_id] * n + [eoa] + ids(2)
    input_ids = torch.tensor([row])
    got = {}

    def lm_pre(mod, args, kwargs):
        got["inputs_embeds"] = kwargs["inputs_embeds"].detach().clone()
    h = model.language_model.register_forward_pre_hook(lm_pre, with_kwargs=True)
    with torch.no_grad():
        out = model(input_ids=input_ids, input_features=feats, input_features_mask=mask, use_cache=False)
    h.remove()
    scattered = got["inputs_embeds"][0][input_ids[0] == audio_id]
    return scattered, out.audio_hidden_states, input_ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out_root = a.out
    # Replace what this script writes; README.md beside it is kept.
    shutil.rmtree(os.path.join(out_root, "model"), ignore_errors=True)
    for f in ("inputs.safetensors", "expected.safetensors", "meta.json"):
        if os.path.exists(os.path.join(out_root, f)):
            os.remove(os.path.join(out_root, f))
    os.makedirs(os.path.join(out_root, "model"))
    torch.set_grad_enabled(False)

    cfg = AutoConfig.from_pretrained(PRESET)
    ac = cfg.audio_config
    c0, c1 = ac.subsampling_conv_channels
    proj_in = (c0 // 4) * c1                               # Gemma4AudioSubSampleConvProjection's formula
    n_mel = 4 * (proj_in // c1)                            # bins that two stride-2 convs turn into proj_in // c1
    log(f"preset {PRESET}: audio hidden {ac.hidden_size}, layers {ac.num_hidden_layers}, channels {[c0, c1]}, "
        f"n_mel {n_mel}, text hidden {cfg.text_config.hidden_size}")

    torch.manual_seed(SEED)
    model = Gemma4Model(cfg).float().eval()           # float32 whatever the preset's "dtype" says
    bad = [n for n, t in list(model.named_parameters()) + list(model.named_buffers())
           if t.is_floating_point() and t.dtype != torch.float32]
    if bad:
        raise RuntimeError(f"not float32: {bad[:5]}")
    impl = model.audio_tower.config._attn_implementation
    if impl != "sdpa":
        log(f"audio tower attn_implementation {impl!r}; switching to 'sdpa' (eager builds an additive mask that "
            "this attention treats as boolean)")
        model.set_attn_implementation("sdpa")
        impl = model.audio_tower.config._attn_implementation
    if impl != "sdpa":
        raise RuntimeError(f"audio tower attn_implementation is {impl!r}, wanted 'sdpa'")
    assert model.audio_tower.subsample_conv_projection.input_proj_linear.in_features == proj_in

    g = torch.Generator().manual_seed(SEED + 1)
    init_counts = randomize({"model.audio_tower": model.audio_tower, "model.embed_audio": model.embed_audio}, g)
    feats, mask = make_inputs(n_mel, torch.Generator().manual_seed(SEED + 2))
    bounds, quantiles = calibrate_bounds(model, feats, mask, torch.Generator().manual_seed(SEED + 3))
    set_bounds(model.audio_tower, bounds)
    rates = clip_rates(model, feats, mask)

    # --- the batch, traced
    enc, trace = traced_encoder_run(model, feats, mask)
    amask = trace["attention_mask_blocked"]
    if amask.dtype != torch.bool:
        raise RuntimeError(f"audio attention received a {amask.dtype} mask, wanted the SDPA boolean mask")
    enc_mask = enc.attention_mask.bool()
    counts = enc_mask.sum(-1).tolist()
    embedded = enc.pooler_output
    scattered, audio_hidden, input_ids = merged_soft_tokens(model, cfg, feats, mask, counts,
                                                            torch.Generator().manual_seed(SEED + 4))
    checks = dict(
        soft_tokens_scatter_vs_audio_hidden_states=maxdiff(scattered, audio_hidden),
        soft_tokens_vs_embedder_output_masked=maxdiff(scattered, embedded[enc_mask]),
        tokens_per_clip_vs_processor_rule=[],
        layer_output_vs_final=maxdiff(trace[f"trace.layers.{ac.num_hidden_layers - 1}"] @
                                      model.audio_tower.output_proj.weight.T + model.audio_tower.output_proj.bias,
                                      enc.last_hidden_state),
    )
    for n, c in zip(CLIP_FRAMES, counts):
        # the processor's count (spec 3.7): twice t_out = (t + 2 - 3) // 2 + 1 on the valid frames
        t = n
        for _ in range(2):
            t = (t + 2 - 3) // 2 + 1
        checks["tokens_per_clip_vs_processor_rule"].append([c, t])
    if checks["soft_tokens_scatter_vs_audio_hidden_states"] != 0.0 or \
            checks["soft_tokens_vs_embedder_output_masked"] != 0.0:
        raise RuntimeError(f"merge check failed: {checks}")

    # --- every bound at +-inf (what the C++ test compares its own unclipped run with)
    set_bounds(model.audio_tower, None)
    enc_u = model.get_audio_features(feats, mask, return_dict=True)
    soft_u = enc_u.pooler_output[enc_u.attention_mask.bool()]
    set_bounds(model.audio_tower, bounds)
    checks["unclipped_vs_clipped_encoder_output"] = maxdiff(enc_u.last_hidden_state, enc.last_hidden_state)

    # --- each clip alone
    inputs = dict(features=feats, feature_mask=mask, lengths=torch.tensor(CLIP_FRAMES, dtype=torch.long))
    expected = {"encoder_output": enc.last_hidden_state, "encoder_mask": enc_mask, "embedder_output": embedded,
                "soft_tokens": scattered, "tokens_per_clip": torch.tensor(counts, dtype=torch.long),
                "attention_mask_blocked": amask, "encoder_output_unclipped": enc_u.last_hidden_state,
                "soft_tokens_unclipped": soft_u}
    expected.update({k: v for k, v in trace.items() if k.startswith("trace.")})
    alone_diffs = []
    offset = 0
    for i, n in enumerate(CLIP_FRAMES):
        f_i = feats[i:i + 1, :n].contiguous()
        m_i = torch.ones(1, n, dtype=torch.bool)
        o = model.get_audio_features(f_i, m_i, return_dict=True)
        om = o.attention_mask.bool()
        inputs[f"alone.{i}.features"] = f_i
        expected[f"alone.{i}.encoder_output"] = o.last_hidden_state
        expected[f"alone.{i}.encoder_mask"] = om
        expected[f"alone.{i}.soft_tokens"] = o.pooler_output[om]
        k = counts[i]
        alone_diffs.append(dict(clip=i, frames=n, tokens=int(om.sum()),
                                encoder_valid=maxdiff(o.last_hidden_state[0, :k], enc.last_hidden_state[i, :k]),
                                soft_tokens=maxdiff(o.pooler_output[om], scattered[offset:offset + k])))
        offset += k
    checks["transformers_batch_vs_alone"] = alone_diffs

    # --- save
    model_dir = os.path.join(out_root, "model")
    shutil.copyfile(os.path.join(PRESET, "config.json"), os.path.join(model_dir, "config.json"))
    sd = {"model." + k: v.detach().float().contiguous() for k, v in model.state_dict().items()
          if k.startswith(("audio_tower.", "embed_audio."))}
    save_file(sd, os.path.join(model_dir, "model.safetensors"), metadata={"format": "pt"})

    def tensors(d):
        return {k: (v.detach().float() if v.is_floating_point() else v.detach()).contiguous().clone() for k, v in d.items()}
    save_file(tensors(inputs), os.path.join(out_root, "inputs.safetensors"))
    save_file(tensors(expected), os.path.join(out_root, "expected.safetensors"))

    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out_root) for f in fs)
    meta = dict(
        description="Gemma 4 audio tower + audio embedder alone, tiny preset, random weights, float32 on CPU",
        versions=dict(transformers=transformers.__version__, torch=torch.__version__,
                      safetensors=safetensors.__version__, python=platform.python_version()),
        command=" ".join(["python3"] + sys.argv), device="cpu", dtype="float32", seed=SEED,
        preset=PRESET, built_as="Gemma4Model(config): audio_tower = AutoModel.from_config(config.audio_config), "
                                "embed_audio = Gemma4MultimodalEmbedder(audio_config, text_config)",
        attn_implementation=impl, audio_config=ac.to_dict(), text_hidden_size=cfg.text_config.hidden_size,
        n_mel=n_mel, n_mel_note="subsampling_conv_channels [8, 4] -> input_proj_linear takes (8 // 4) * 4 = 8 "
                                "values = 2 frequency rows x 4 channels, i.e. 8 mel bins in",
        inputs=dict(clip_frames=list(CLIP_FRAMES), T=max(CLIP_FRAMES),
                    valid_frames=f"N({FEATURE_MEAN}, {FEATURE_STD}^2)",
                    padded_frames=f"N({GARBAGE_MEAN}, {GARBAGE_STD}^2) garbage, feature_mask False",
                    merge_input_ids=input_ids[0].tolist()),
        tokens_per_clip=counts, encoder_T=int(enc.last_hidden_state.shape[1]),
        weights=dict(rules=init_counts, saved_tensors=len(sd),
                     clip_bounds="per bound a quantile of the unclipped run's values (input: what the linear "
                                 f"sees, output: what it produces), low in {CLIP_LOW_Q}, high in {CLIP_HIGH_Q}",
                     clip_quantiles=quantiles,
                     clip_bounds_values={n: [round(v, 6) for v in b] for n, b in bounds.items()}),
        clip_rates_in_the_clipped_run=rates, checks=checks, expected=EXPECTED_DOC, size_bytes=size)
    with open(os.path.join(out_root, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, default=str)
        f.write("\n")
    log(f"tokens per clip {counts}; checks {json.dumps(checks)}")
    log(f"clip rates (min over linears): input {min(r['input'] for r in rates.values()):.3f}, "
        f"output {min(r['output'] for r in rates.values()):.3f}")
    log(f"wrote {out_root} ({size} bytes)")


if __name__ == "__main__":
    main()
