#!/usr/bin/env python3
"""Parity fixtures for the Gemma 3n audio tower alone: transformers 5.17 Gemma3nAudioEncoder (USM conformer) and
Gemma3nMultimodalEmbedder (embed_audio) with random weights, on a batch of 3 log-mel clips of different lengths.
For tests/models/gemma3n_audio_test.cpp.

Run on the GPU machine from the repository root (CPU, float32; no network):
    python3 tools/make_gemma3n_audio_fixtures.py --out tests/fixtures/audio/gemma3n-tower
Writes into --out:
  model/config.json         tools/device/presets/gemma3n-tiny/config.json, unchanged
  model/model.safetensors   model.audio_tower.* and model.embed_audio.* (float32), nothing else
  inputs.safetensors        batch.features [3, 161, 128] f32, batch.feature_mask [3, 161] u8 (1 = real frame, the
                            feature extractor's convention), alone.<i>.features [1, L_i, 128], hard_ids [2, 3] i64
  expected.safetensors      see EXPECTED_DOC (also copied into meta.json)
  meta.json                 versions, seed, weight draws, clip lengths, statistics, what each tensor is
  manifest.json             {preset: {tensor name: shape}} of model.audio_tower.* / model.embed_audio.* as
                            transformers builds them (on the meta device) for the tiny, E2B and E4B presets
Regenerate with this script; never edit the numbers.
"""
import argparse
import json
import math
import os
import platform
import shutil

import torch
import torch.nn as nn

import safetensors
import transformers
from safetensors.torch import save_file
from transformers import Gemma3nConfig
from transformers.models.gemma3n.modeling_gemma3n import (Gemma3nAudioCumulativeGroupNorm, Gemma3nAudioEncoder,
                                                          Gemma3nAudioRelativePositionEmbedding,
                                                          Gemma3nMultimodalEmbedder, Gemma3nRMSNorm)

SEED = 20261127
PRESET = "tools/device/presets/gemma3n-tiny"
# Frame counts of the 3 clips. With the tiny preset (chunk 12, 4x sub-sampling, reduction 4):
#   161 frames -> 41 conformer frames (4 attention blocks, the last one partly padding) -> 11 tokens
#   100 frames -> 25 conformer frames -> 7 tokens (in the batch: 25 real frames of 41, 7 real tokens of 11)
#    37 frames -> 10 conformer frames (one block) -> 3 tokens
# so the batch exercises padded keys inside and across blocks, masked tokens and the 188-token padding.
CLIP_FRAMES = (37, 100, 161)
SILENCE = math.log(1e-5)   # what Gemma3nAudioFeatureExtractor gives for frames of zero-padded waveform
HARD_IDS = [[262272, 262273, 262300], [262350, 262398, 262399]]   # audio "hard" ids (vocab_offset 262272 + 0..127)

EXPECTED_DOC = {
    "batch.tower": "Gemma3nAudioEncoder(batch.features, ~batch.feature_mask).last_hidden_state [3, 11, 32] "
                   "(masked tokens are 0)",
    "batch.tower_mask": "its audio_mel_mask [3, 11] u8, 1 = padding (the encoder's convention)",
    "batch.embedded": "embed_audio(inputs_embeds=batch.tower) [3, 11, 64] = get_audio_features' pooler_output",
    "batch.soft_tokens": "the audio features Gemma3nModel.forward scatters into the text [3, 188, 64]: masked "
                         "tokens replaced by embed_audio(input_ids=text vocab_size - 1), then padded to "
                         "audio_soft_tokens_per_image (188) with that same embedding",
    "alone.<i>.*": "the same four for clip i run alone (features [1, L_i, 128], no padding frames)",
    "hard.embedded": "embed_audio(input_ids=hard_ids) [2, 3, 64] (Gemma3nModel.forward's path for ids >= "
                     "embed_audio.vocab_offset)",
    "debug.sscp": "batch: output of subsample_conv_projection [3, 41, 32]",
    "debug.block.<j>": "batch: output of conformer block j [3, 41, 32] (padded frames included)",
    "debug.block0.rel_logits": "batch: attention logits of block 0 before the soft-cap and the mask, "
                               "[B, heads, blocks, chunk, context] = relative_position_embedding's output",
}


def log(*a):
    print(*a, flush=True)


def versions():
    return dict(transformers=transformers.__version__, torch=torch.__version__, safetensors=safetensors.__version__,
                python=platform.python_version())


# ---------------------------------------------------------------------------------------------------------------
# Weights: spreads large enough that a wrong op shows in the outputs
# ---------------------------------------------------------------------------------------------------------------

def init_rule(name, mod, p):
    if isinstance(mod, nn.Embedding):
        return ("normal", 1.0)
    if isinstance(mod, nn.Linear):
        fan_in = mod.in_features
        if name.endswith(("attn.q_proj.weight", "attn.k_proj.weight")):
            # attention logits reach ~30-60, so the soft-cap (50 * tanh(x / 50)) is far from linear
            return ("normal", 3.0 / math.sqrt(fan_in))
        if name.endswith("pos_proj.weight"):
            return ("normal", 2.0 / math.sqrt(fan_in))   # relative-position term visible next to q.k
        return ("normal", 1.0 / math.sqrt(fan_in))
    if isinstance(mod, nn.modules.conv._ConvNd):
        return ("normal", 1.0 / math.sqrt(p[0].numel()))   # fan_in = in_channels / groups * kernel
    if name.endswith("per_dim_scale"):
        return ("uniform", -1.0, 1.0)                      # softplus(.) in [0.31, 1.31]
    if isinstance(mod, (Gemma3nRMSNorm, Gemma3nAudioCumulativeGroupNorm)):
        return ("uniform", 0.5, 1.5)
    raise RuntimeError(f"no rule for {name} ({type(mod).__name__}, {tuple(p.shape)})")


def randomize(module, gen):
    counts = {}
    with torch.no_grad():
        for mname, mod in module.named_modules():
            for pname, p in mod.named_parameters(recurse=False):
                name = f"{mname}.{pname}" if mname else pname
                rule = init_rule(name, mod, p)
                t = torch.empty(p.shape, dtype=torch.float32)
                if rule[0] == "normal":
                    t.normal_(0.0, rule[1], generator=gen)
                else:
                    t.uniform_(rule[1], rule[2], generator=gen)
                p.copy_(t)
                key = f"{rule[0]}{tuple(round(v, 4) for v in rule[1:])}"
                counts[key] = counts.get(key, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------------------------
# The reference computation
# ---------------------------------------------------------------------------------------------------------------

def tower(encoder, features, valid):
    """Gemma3nAudioEncoder as get_audio_features calls it: the mask is inverted (True = padding)."""
    out = encoder(features, ~valid, return_dict=True)
    return out.last_hidden_state, out.audio_mel_mask


def soft_tokens(cfg, embed_audio, encoded, enc_mask):
    """get_audio_features + the audio part of Gemma3nModel.forward (transformers 5.17), step by step."""
    audio_features = embed_audio(inputs_embeds=encoded)                      # get_audio_features' pooler_output
    audio_padding_toks = torch.tensor([[cfg.text_config.vocab_size - 1]], dtype=torch.long)  # self.vocab_size - 1
    audio_padding_embs = embed_audio(input_ids=audio_padding_toks)
    audio_features = torch.where(enc_mask.unsqueeze(-1), audio_padding_embs, audio_features)
    audio_batch_size, audio_seq_len, audio_embed_dim = audio_features.shape
    extra_padding_tokens = cfg.audio_soft_tokens_per_image - audio_seq_len
    extra_padding_features = audio_padding_embs.expand(audio_batch_size, extra_padding_tokens, audio_embed_dim)
    return torch.cat((audio_features, extra_padding_features), dim=1)


def manifest(preset):
    """Names and shapes of the audio tensors transformers would put in a checkpoint of this preset."""
    c = Gemma3nConfig.from_pretrained(preset)
    with torch.device("meta"):
        enc = Gemma3nAudioEncoder(c.audio_config)
        emb = Gemma3nMultimodalEmbedder(c.audio_config, c.text_config)
    out = {f"model.audio_tower.{k}": list(v.shape) for k, v in enc.state_dict().items()}
    out.update({f"model.embed_audio.{k}": list(v.shape) for k, v in emb.state_dict().items()})
    return dict(sorted(out.items()))


def make_inputs(gen, n_mel):
    t_max = max(CLIP_FRAMES)
    feats = torch.full((len(CLIP_FRAMES), t_max, n_mel), SILENCE)
    valid = torch.zeros(len(CLIP_FRAMES), t_max, dtype=torch.bool)
    alone = []
    for i, n in enumerate(CLIP_FRAMES):
        # log-mel-like: a per-bin level, a slow per-clip envelope and frame noise, roughly in [-11, 2]
        level = torch.linspace(-2.0, -6.0, n_mel)
        env = torch.sin(torch.arange(n, dtype=torch.float32) / 7.0 + i).unsqueeze(-1) * 1.5
        noise = torch.randn(n, n_mel, generator=gen) * 1.5
        clip = (level + env + noise).clamp(min=SILENCE)
        feats[i, :n] = clip
        valid[i, :n] = True
        alone.append(clip.unsqueeze(0).clone())
    return feats, valid, alone


class Recorder:
    """Forward hooks: the SSCP output, every conformer block output, and the block-0 logits before the cap."""

    def __init__(self, encoder):
        self.saved = {}
        self.logit_stats = []
        self.active = False
        self.handles = [encoder.subsample_conv_projection.register_forward_hook(self._hook("debug.sscp"))]
        for j, block in enumerate(encoder.conformer):
            self.handles.append(block.register_forward_hook(self._hook(f"debug.block.{j}")))
        for j, block in enumerate(encoder.conformer):
            rpe = block.attention.attn.relative_position_embedding
            assert isinstance(rpe, Gemma3nAudioRelativePositionEmbedding)
            self.handles.append(rpe.register_forward_hook(self._logits(j)))

    def _hook(self, key):
        def f(mod, args, out):
            if self.active:
                self.saved[key] = out.detach().clone()
        return f

    def _logits(self, j):
        def f(mod, args, out):
            if not self.active:
                return
            if j == 0:
                self.saved["debug.block0.rel_logits"] = out.detach().clone()
            a = out.detach().abs().flatten()
            self.logit_stats.append(dict(block=j, max_abs=float(a.max()), frac_above_25=float((a > 25).float().mean()),
                                         frac_above_50=float((a > 50).float().mean())))
        return f

    def close(self):
        for h in self.handles:
            h.remove()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)

    cfg = Gemma3nConfig.from_pretrained(PRESET)
    ac, tc = cfg.audio_config, cfg.text_config
    log("audio config:", ac.to_json_string(use_diff=False))
    encoder = Gemma3nAudioEncoder(ac).float().eval()
    embed_audio = Gemma3nMultimodalEmbedder(ac, tc).float().eval()
    for m in (encoder, embed_audio):   # the preset says bfloat16; the fixtures are float32 throughout
        for n, t in list(m.named_parameters()) + list(m.named_buffers()):
            assert t.dtype in (torch.float32, torch.bool), f"{n} is {t.dtype}"
    attn0 = encoder.conformer[0].attention.attn
    assert abs(float(attn0.q_scale) - attn0.head_dim ** -0.5 / math.log(2.0)) < 1e-6, "q_scale not built in float32"
    draws = {"audio_tower": randomize(encoder, gen), "embed_audio": randomize(embed_audio, gen)}

    out = args.out
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "model"))
    shutil.copy(os.path.join(PRESET, "config.json"), os.path.join(out, "model", "config.json"))
    weights = {f"model.audio_tower.{k}": v.detach().contiguous() for k, v in encoder.state_dict().items()}
    weights.update({f"model.embed_audio.{k}": v.detach().contiguous() for k, v in embed_audio.state_dict().items()})
    save_file(weights, os.path.join(out, "model", "model.safetensors"), metadata={"format": "pt"})
    log(f"saved {len(weights)} tensors, {sum(v.numel() for v in weights.values())} values")

    feats, valid, alone = make_inputs(gen, ac.input_feat_size)
    hard_ids = torch.tensor(HARD_IDS, dtype=torch.long)
    expected = {}
    rec = Recorder(encoder)
    with torch.no_grad():
        rec.active = True
        enc, enc_mask = tower(encoder, feats, valid)
        rec.active = False
        expected.update({"batch.tower": enc, "batch.tower_mask": enc_mask.to(torch.uint8),
                         "batch.embedded": embed_audio(inputs_embeds=enc),
                         "batch.soft_tokens": soft_tokens(cfg, embed_audio, enc, enc_mask)})
        expected.update(rec.saved)
        alone_vs_batch = []
        for i, clip in enumerate(alone):
            e, m = tower(encoder, clip, torch.ones(clip.shape[:2], dtype=torch.bool))
            st = soft_tokens(cfg, embed_audio, e, m)
            expected.update({f"alone.{i}.tower": e, f"alone.{i}.tower_mask": m.to(torch.uint8),
                             f"alone.{i}.embedded": embed_audio(inputs_embeds=e), f"alone.{i}.soft_tokens": st})
            n = e.shape[1]
            per_token = (e[0] - expected["batch.tower"][i, :n]).abs().amax(-1)
            alone_vs_batch.append(dict(clip=i, frames=CLIP_FRAMES[i], tokens=n,
                                       valid_tokens=int((~m[0]).sum()),
                                       tower_max_abs_diff_per_token=[float(x) for x in per_token],
                                       soft_tokens_max_abs_diff=float((st[0] - expected["batch.soft_tokens"][i])
                                                                      .abs().max())))
        expected["hard.embedded"] = embed_audio(input_ids=hard_ids)
    rec.close()

    inputs = {"batch.features": feats, "batch.feature_mask": valid.to(torch.uint8), "hard_ids": hard_ids}
    inputs.update({f"alone.{i}.features": a for i, a in enumerate(alone)})
    save_file({k: v.contiguous() for k, v in inputs.items()}, os.path.join(out, "inputs.safetensors"))
    save_file({k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in expected.items()},
              os.path.join(out, "expected.safetensors"))

    meta = dict(
        command=f"python3 tools/make_gemma3n_audio_fixtures.py --out {out}", versions=versions(), seed=SEED,
        device="cpu", dtype="float32", config=PRESET + "/config.json", audio_config=json.loads(ac.to_json_string(use_diff=False)),
        classes=dict(tower="Gemma3nAudioEncoder(config.audio_config)",
                     embedder="Gemma3nMultimodalEmbedder(config.audio_config, config.text_config)"),
        weight_draws=dict(rules="embedding N(0,1); q_proj/k_proj N(0,(3/sqrt(fan_in))^2); pos_proj "
                                "N(0,(2/sqrt(fan_in))^2); other linears N(0,(1/sqrt(fan_in))^2); convs "
                                "N(0,(1/sqrt(fan_in))^2); RMSNorm and cumulative group norm scales U(0.5,1.5); "
                                "per_dim_scale U(-1,1)", counts=draws),
        inputs=dict(clip_frames=list(CLIP_FRAMES), padding_value=SILENCE,
                    features="log-mel-like: linspace(-2,-6) per mel bin + 1.5 sin(t/7 + i) + 1.5 N(0,1), clamped "
                             "below at log(1e-5); frames after a clip's length are log(1e-5) as the feature "
                             "extractor gives for zero-padded audio; feature_mask 1 = real frame",
                    hard_ids=HARD_IDS),
        expected=EXPECTED_DOC, shapes={k: list(v.shape) for k, v in expected.items()},
        attention_logits_before_cap=rec.logit_stats,
        alone_vs_batch=dict(
            note="the sub-sampling convolutions pad time at the END (reverse causal), so the last real tokens of a "
                 "clip see frames after it: in a batch those are the padding frames (log(1e-5)), alone they are "
                 "the convolution's zero padding. Tokens whose receptive field (16 j + 6 < L frames) stays inside "
                 "the clip agree to float rounding; the tail may differ. Both runs are recorded.",
            clips=alone_vs_batch),
    )
    presets = {name: manifest(f"tools/device/presets/{name}") for name in ("gemma3n-tiny", "gemma3n-E2B", "gemma3n-E4B")}
    assert presets["gemma3n-tiny"] == {k: list(v.shape) for k, v in sorted(weights.items())}, "saved names differ"
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(presets, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, x)) for d, _, fs in os.walk(out) for x in fs)
    log(json.dumps(dict(alone_vs_batch=alone_vs_batch, logits=rec.logit_stats), indent=1))
    log(f"wrote {out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
