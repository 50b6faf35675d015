#!/usr/bin/env python3
"""Tiny random-weight Gemma 3n and Gemma 4 text decoders, run through transformers + PEFT, saved as parity fixtures
for tests/models/text_parity_test.cpp.

Run on the GPU machine (transformers 5.17, peft, torch 2.11, safetensors), from the repository root:
    python3 tools/make_text_fixtures.py --out tests/fixtures/text
Everything is computed on the CPU (float32; the bf16 cases in bfloat16) so the numbers do not depend on GPU kernels;
where CUDA is present the script only reports how far CUDA results are from the CPU ones (meta.json).

Cases (one folder each under --out):
  gemma3n-causal       Gemma3nForCausalLM, text-only layout, every text feature of 3n switched on
  gemma3n-multimodal   the same text weights inside Gemma3nForConditionalGeneration (model.language_model.*)
  gemma3n-causal-bf16  gemma3n-causal saved and run in bfloat16
  gemma4-causal        Gemma4ForCausalLM, every text feature of Gemma 4 E-models switched on
  gemma4-multimodal    the same text weights inside Gemma4ForConditionalGeneration, tiny vision + audio towers
  gemma4-causal-bf16   gemma4-causal saved and run in bfloat16
Each folder: model/ (save_pretrained output), inputs.safetensors, expected.safetensors, adapter/ (PEFT
save_pretrained output; not in the bf16 cases) and meta.json (versions, settings, checks, what each tensor is).
Regenerate with this script; never edit the numbers. tests/fixtures/text/README.md describes the fixtures.
"""
import argparse
import copy
import functools
import gc
import json
import math
import os
import platform
import shutil
import sys
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

import peft
import safetensors
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import (Gemma3nConfig, Gemma3nForCausalLM, Gemma3nForConditionalGeneration, Gemma3nTextConfig,
                          Gemma4Config, Gemma4ForCausalLM, Gemma4ForConditionalGeneration, Gemma4TextConfig)

SEED = 20261125
B, T = 2, 24          # batch, sequence length (longer than the sliding window of 8)
N_PAD = 5             # row 1 is right-padded: its last 5 positions have attention_mask 0 and id 0 (pad)
N_PROMPT = 6          # labels are -100 on the first 6 positions of every row (and on padding)
ATTN = "sdpa"         # the implementation the fixtures use (transformers' default); "eager" is only compared
LORA = dict(r=4, lora_alpha=8, lora_dropout=0.0)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# In the multimodal models the same names also occur in the audio/vision towers; adapters there belong to the
# language model only, so the multimodal cases select the decoder's projections with a regular expression.
LORA_TARGETS_MM = (r".*\.language_model\.layers\.\d+\.(self_attn|mlp)\."
                   r"(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")
LORA_B_STD = 0.1      # lora_B ~ N(0, 0.1²) instead of PEFT's zeros, so logits change and lora_A gets gradients
ID_MARGIN = 1e-5      # eager vs sdpa must agree to this in float32

PATTERN = lambda full: ["full_attention" if i in full else "sliding_attention" for i in range(7)]  # noqa: E731

# Gemma 3n: every text feature (AltUp 4 streams, LAuReL, PLE with a smaller PLE vocabulary, KV sharing with a sliding
# and a full producer, Gaussian top-k sparsity in the first two layers, per-layer MLP widths, soft-cap).
# Sizes are chosen to keep all six fixtures near 6 MB: vocabularies of 256 (PLE 224), MLP widths unlike D = 64.
GEMMA3N_TEXT = dict(
    vocab_size=256, vocab_size_per_layer_input=224, hidden_size=64, hidden_size_per_layer_input=16,
    intermediate_size=[48, 32, 80, 40, 32, 56, 24], num_hidden_layers=7, num_attention_heads=4,
    num_key_value_heads=2, head_dim=16, layer_types=PATTERN((4, 6)), sliding_window=8, num_kv_shared_layers=2,
    laurel_rank=8, altup_num_inputs=4, activation_sparsity_pattern=[0.95, 0.95, 0.0, 0.0, 0.0, 0.0, 0.0],
    final_logit_softcapping=30.0,
    rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                     "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})
# Multimodal 3n: text ids [0, 224) have PLE rows; [224, 240) are vision "hard" ids and [240, 256) audio hard ids,
# laid out like the released model (262144 / 262272 / 262400). The vision tower is the fixed MobileNet-V5-300M of
# the release (not saved, see below); the audio tower is shrunk.
GEMMA3N_VISION = dict(vocab_size=16, vocab_offset=224)
GEMMA3N_AUDIO = dict(vocab_size=16, vocab_offset=240, hidden_size=16, conf_num_hidden_layers=1,
                     conf_num_attention_heads=2, sscp_conv_channel_size=[8, 4])
GEMMA3N_TOKENS = dict(boi_token_id=222, boa_token_id=223, eoi_token_id=224, image_token_id=225, eoa_token_id=240,
                      audio_token_id=241)
GEMMA3N_HARD = (((0, 8), 240), ((0, 15), 247), ((1, 3), 255), ((1, 12), 251))   # (row, column), audio hard id
GEMMA3N_DROP_ON_SAVE = ("model.vision_tower.", "model.embed_vision.")

# Gemma 4: head_dim 16 on sliding layers and 32 on full ones (saved as per_layer_config), proportional RoPE with
# partial_rotary_factor 0.25 on full layers, 1 KV head, KV sharing of the last 3 layers, double-wide MLP there.
# Full layers are 3 and 6 (not 4 and 6): with 3 shared layers a full layer must exist among layers 0-3, otherwise
# the full-attention consumers have no producer (5.17 fails with a KeyError in the forward).
GEMMA4_TEXT = dict(
    vocab_size=256, vocab_size_per_layer_input=256, hidden_size=64, hidden_size_per_layer_input=16,
    intermediate_size=48, use_double_wide_mlp=True, num_hidden_layers=7, num_attention_heads=4,
    num_key_value_heads=1, head_dim=16, global_head_dim=32, layer_types=PATTERN((3, 6)), sliding_window=8,
    num_kv_shared_layers=3, final_logit_softcapping=30.0, attention_k_eq_v=False,
    rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                     "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25,
                                        "rope_theta": 1000000.0}})
# The towers only have to exist (text-only inputs never run them); they are kept tiny.
GEMMA4_VISION = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                     num_key_value_heads=2, head_dim=8, patch_size=8, position_embedding_size=32,
                     use_clipped_linears=True)
GEMMA4_AUDIO = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, subsampling_conv_channels=[128, 4],
                    output_proj_dims=16)
# Placeholder / special ids inside the vocabulary, as in the release; the random inputs stay below 248.
GEMMA4_TOKENS = dict(boi_token_id=248, boa_token_id=249, image_token_id=250, audio_token_id=251, eoi_token_id=252,
                     eoa_token_index=253, video_token_id=254)

FAMILIES = {
    "gemma3n": dict(causal_cls=Gemma3nForCausalLM, mm_cls=Gemma3nForConditionalGeneration,
                    text=GEMMA3N_TEXT, id_high=224, ple_arg=2,
                    make_causal_config=lambda: Gemma3nTextConfig(**copy.deepcopy(GEMMA3N_TEXT)),
                    make_mm_config=lambda: Gemma3nConfig(text_config=copy.deepcopy(GEMMA3N_TEXT),
                                                         vision_config=dict(GEMMA3N_VISION),
                                                         audio_config=copy.deepcopy(GEMMA3N_AUDIO), **GEMMA3N_TOKENS)),
    "gemma4": dict(causal_cls=Gemma4ForCausalLM, mm_cls=Gemma4ForConditionalGeneration,
                   text=GEMMA4_TEXT, id_high=248, ple_arg=1,
                   make_causal_config=lambda: Gemma4TextConfig(**copy.deepcopy(GEMMA4_TEXT)),
                   make_mm_config=lambda: Gemma4Config(text_config=copy.deepcopy(GEMMA4_TEXT),
                                                       vision_config=dict(GEMMA4_VISION),
                                                       audio_config=copy.deepcopy(GEMMA4_AUDIO), **GEMMA4_TOKENS)),
}

HIDDEN_STATES_DOC = {
    "gemma3n": ("decoder_input = input of decoder layer 0: the 4 AltUp streams [4, B, T, D] (stream 0 = scaled token "
                "embeddings, streams 1..3 = altup_projections rescaled to its magnitude); hidden_states.<i> = output "
                "of decoder layer i: all 4 AltUp streams [4, B, T, D] after altup.correct and the per-layer-input "
                "injection into streams 1..3 (stream 0 is the active stream); final_hidden = last_hidden_state "
                "[B, T, D] (altup_unembed_projections, mean of the 4 streams, final norm) = what lm_head sees; "
                "per_layer_inputs = the combined PLE [B, T, L, P] each layer received"),
    "gemma4": ("decoder_input = input of decoder layer 0: scaled token embeddings [B, T, D]; hidden_states.<i> = "
               "output of decoder layer i [B, T, D] (after the per-layer-input block and layer_scalar); "
               "final_hidden = last_hidden_state [B, T, D] after the final norm = what lm_head sees; "
               "per_layer_inputs = the combined PLE [B, T, L, P] each layer received"),
}


def log(*a):
    print(*a, flush=True)


def versions():
    return dict(transformers=transformers.__version__, peft=peft.__version__, torch=torch.__version__,
                safetensors=safetensors.__version__, python=platform.python_version())


def fnum(x):
    return float(x.item()) if torch.is_tensor(x) else float(x)


def maxdiff(a, b):
    return fnum((a.float() - b.float()).abs().max())


# ---------------------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------------------

def init_rule(name, pname, mod, p):
    """How one parameter is re-initialised: large enough that a wrong op shows in the logits."""
    if isinstance(mod, nn.Embedding):
        return ("normal", 1.0)                                 # token, PLE and hard-token tables
    if name.endswith("modality_router.weight"):
        # the router sees router_norm(x) / D (entries ~1/64); std 2 makes tanh's input ~N(0, 0.25^2), so the AltUp
        # prediction/correction coefficients vary per token. (std 8 made the model chaotic: eager vs sdpa 1e-4 and
        # bf16 vs float32 up to 3 on the logits.)
        return ("normal", 2.0)
    if name.endswith(("self_attn.q_norm.weight", "self_attn.k_norm.weight")):
        # attention scaling is 1.0: q.k of RMS-normed heads with weights ~1 gives very peaked softmaxes
        return ("uniform", 0.3, 0.7)
    if name.endswith("language_model.norm.weight") or name == "model.norm.weight":
        return ("uniform", 0.2, 0.6)                           # final norm: keeps logits clear of the soft-cap
    if isinstance(mod, nn.Linear) and pname == "weight":
        return ("normal", 0.5 / math.sqrt(mod.in_features))
    if isinstance(mod, nn.modules.conv._ConvNd) and pname == "weight":
        return ("normal", 0.5 / math.sqrt(p[0].numel()))
    if pname == "bias":
        return ("normal", 0.1)
    if p.dim() == 1 and ("norm" in name or "scale" in name or isinstance(mod, nn.LayerNorm)):
        return ("uniform", 0.5, 1.5)                           # norm weights, correct_output_scale, per_dim_scale
    return ("normal", 0.5)                                     # anything else (e.g. position tables)


def randomize(model, seed, skip_prefixes=()):
    g = torch.Generator().manual_seed(seed)
    owner = {}
    for mname, mod in model.named_modules():
        for pname, p in mod.named_parameters(recurse=False):
            if id(p) not in owner or isinstance(mod, nn.Embedding):   # tied lm_head: the embedding rule wins
                owner[id(p)] = (mod, pname)
    counts = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if skip_prefixes and name.startswith(skip_prefixes):
                continue
            mod, pname = owner[id(p)]
            rule = init_rule(name, pname, mod, p)
            t = torch.empty(p.shape, dtype=torch.float32)
            if rule[0] == "normal":
                t.normal_(0.0, rule[1], generator=g)
            else:
                t.uniform_(rule[1], rule[2], generator=g)
            p.copy_(t)
            key = f"{rule[0]}{tuple(round(v, 4) for v in rule[1:])}"
            counts[key] = counts.get(key, 0) + 1
        # Gemma 4 layer_scalar is a persistent buffer, not a parameter
        for name, buf in model.named_buffers():
            if name.endswith("layer_scalar"):
                buf.copy_(torch.empty(buf.shape).uniform_(0.5, 1.5, generator=g))
                counts["layer_scalar uniform(0.5, 1.5)"] = counts.get("layer_scalar uniform(0.5, 1.5)", 0) + 1
    return counts


def text_model_of(model):
    """The decoder stack (Gemma3nTextModel / Gemma4TextModel) inside any of the four classes, PEFT-wrapped or not."""
    m = model
    if isinstance(m, PeftModel):
        m = m.base_model.model
    inner = m.model
    return inner.language_model if hasattr(inner, "language_model") else inner


def save_model(model, folder, drop_prefixes=()):
    """save_pretrained; for 3n multimodal the vision tower (300M fixed timm net) and embed_vision are left out."""
    os.makedirs(folder, exist_ok=True)
    how = "save_pretrained"
    if drop_prefixes:
        sd = {k: v for k, v in model.state_dict().items() if not k.startswith(drop_prefixes)}
        try:
            model.save_pretrained(folder, state_dict=sd)
            how = "save_pretrained(state_dict=without " + ", ".join(drop_prefixes) + ")"
        except Exception as e:  # noqa: BLE001  (fall back to a full save, then drop the keys)
            log(f"save_pretrained(state_dict=...) failed ({type(e).__name__}: {e}); saving everything")
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            model.save_pretrained(folder)
            how = "save_pretrained, then the dropped prefixes removed from model.safetensors"
        path = os.path.join(folder, "model.safetensors")
        tensors = load_file(path)
        if any(k.startswith(drop_prefixes) for k in tensors):
            save_file({k: v for k, v in tensors.items() if not k.startswith(drop_prefixes)}, path,
                      metadata={"format": "pt"})
            how = "save_pretrained, then the dropped prefixes removed from model.safetensors"
    else:
        model.save_pretrained(folder)
    files = sorted(os.listdir(folder))
    st = [f for f in files if f.endswith(".safetensors")]
    keys = {}
    for f in st:
        keys.update({k: list(v.shape) for k, v in load_file(os.path.join(folder, f)).items()})
    prefixes = sorted({".".join(k.split(".")[:2]) if not k.startswith("model.language_model") else
                       "model.language_model" for k in keys})
    return dict(how=how, files=files, n_tensors=len(keys), key_prefixes=prefixes,
                has_lm_head="lm_head.weight" in keys)


def load_model(cls, folder, dtype=torch.float32, attn=ATTN):
    """from_pretrained with the wanted attention implementation; composite models may need it per sub-config."""
    tried = []
    for spec in (attn, {"text_config": attn}):
        try:
            model, info = cls.from_pretrained(folder, dtype=dtype, attn_implementation=spec,
                                              output_loading_info=True)
            break
        except Exception as e:  # noqa: BLE001  (recorded and retried with the next form)
            tried.append(f"{spec!r}: {type(e).__name__}: {str(e)[:300]}")
    else:
        raise RuntimeError("from_pretrained failed: " + " | ".join(tried))
    model.eval()
    text_cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    got = getattr(text_cfg, "_attn_implementation", None)
    if got != attn:
        log(f"WARNING: asked for attn_implementation {attn!r}, the text config reports {got!r}")
    info = {k: summarize_keys(v) if isinstance(v, (set, list, tuple)) else str(v) for k, v in info.items()}
    return model, dict(attn_request=str(spec), text_config_attn_implementation=got, failed_attn_requests=tried,
                       loading_info=info)


def summarize_keys(keys):
    keys = sorted(str(k) for k in keys)
    if len(keys) <= 12:
        return keys
    prefixes = sorted({".".join(k.split(".")[:3]) for k in keys})
    return dict(count=len(keys), prefixes=prefixes)


def per_tensor_diff(a, b):
    """{name: [max |a-b|, max |b|]} over the traced tensors both runs have."""
    return {k: [maxdiff(a[k], b[k]), fnum(b[k].float().abs().max())] for k in b if k in a}


def structure(model, family):
    """What transformers built per layer (the C++ model must build the same)."""
    tm = text_model_of(model)
    rows = []
    for i, layer in enumerate(tm.layers):
        a = layer.self_attn
        row = dict(layer=i, type=tm.config.layer_types[i], head_dim=a.head_dim,
                   q_out=a.q_proj.out_features, has_k_proj=hasattr(a, "k_proj"),
                   kv_shared=bool(a.is_kv_shared_layer), stores_shared_kv=bool(a.store_full_length_kv),
                   mlp_width=layer.mlp.intermediate_size)
        if family == "gemma3n":
            row["kv_source"] = a.kv_shared_layer_index
            row["activation_sparsity"] = layer.mlp.activation_sparsity
        else:
            row["k_out"] = a.k_proj.out_features if hasattr(a, "k_proj") else None
            row["layer_scalar"] = fnum(layer.layer_scalar)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Inputs and runs
# ---------------------------------------------------------------------------------------------------------------

def make_inputs(id_high, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, id_high, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, T - N_PAD:] = 0
    ids[1, T - N_PAD:] = 0
    labels = ids.clone()
    labels[:, :N_PROMPT] = -100
    labels[mask == 0] = -100
    return dict(input_ids=ids, attention_mask=mask, labels=labels)


class Trace:
    """Forward hooks on the decoder layers and the final norm: decoder_input, hidden_states.<i>, per_layer_inputs,
    final_hidden (names shared with the C++ trace hooks)."""

    def __init__(self, model, ple_arg):
        tm = text_model_of(model)
        self.ple_arg, self.t, self.ple, self.handles = ple_arg, {}, {}, []
        for i, layer in enumerate(tm.layers):
            self.handles.append(layer.register_forward_pre_hook(functools.partial(self._pre, i), with_kwargs=True))
            self.handles.append(layer.register_forward_hook(functools.partial(self._post, i)))
        self.handles.append(tm.norm.register_forward_hook(self._final))

    def _pre(self, i, mod, args, kwargs):
        h = args[0] if args else kwargs["hidden_states"]
        if i == 0:
            self.t["decoder_input"] = h.detach().float().clone()
        p = args[self.ple_arg] if len(args) > self.ple_arg else kwargs.get("per_layer_input")
        if p is not None:
            self.ple[i] = p.detach().float().clone()

    def _post(self, i, mod, args, out):
        o = out[0] if isinstance(out, tuple) else out
        self.t[f"hidden_states.{i}"] = o.detach().float().clone()

    def _final(self, mod, args, out):
        self.t["final_hidden"] = out.detach().float().clone()

    def close(self):
        for h in self.handles:
            h.remove()
        if self.ple:
            self.t["per_layer_inputs"] = torch.stack([self.ple[i] for i in sorted(self.ple)], dim=2)
        return self.t


def manual_loss(logits, labels):
    """Mean cross-entropy over supervised tokens after the shift (what HF's ForCausalLMLoss computes)."""
    sl = logits[:, :-1].float().reshape(-1, logits.shape[-1])
    return F.cross_entropy(sl, labels[:, 1:].reshape(-1), ignore_index=-100)


def forward(model, inputs, **kw):
    return model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                 labels=inputs.get("labels"), use_cache=False, **kw)


def logit_stats(logits, mask):
    real = logits[mask.bool()].float()
    return dict(logits_std=fnum(real.std()), logits_absmax=fnum(real.abs().max()),
                logits_frac_abs_gt_20=fnum((real.abs() > 20).float().mean()))


def base_run(model, inputs, family):
    tr = Trace(model, FAMILIES[family]["ple_arg"])
    with torch.no_grad():
        out = forward(model, inputs, output_hidden_states=True)
    t = tr.close()
    meta = dict(loss=fnum(out.loss), loss_manual_diff=abs(fnum(out.loss) - fnum(manual_loss(out.logits,
                                                                                            inputs["labels"]))))
    meta.update(logit_stats(out.logits, inputs["attention_mask"]))
    # what output_hidden_states returns, entry by entry, in terms of the hooked tensors
    layout = []
    hs = out.hidden_states
    named = [(k, v) for k, v in t.items() if k != "per_layer_inputs"]
    for k, h in enumerate(hs or ()):
        lab = "unmatched"
        for name, v in named:
            if tuple(v.shape) == tuple(h.shape) and maxdiff(v, h) == 0.0:
                lab = name
                break
        layout.append(dict(index=k, shape=list(h.shape), equals=lab))
    meta["output_hidden_states"] = layout if hs is not None else "None (not returned)"
    return out, t, meta


def check_range(case, meta):
    ok = 0.5 <= meta["logits_std"] <= 10.0
    log(f"[{case}] logits std {meta['logits_std']:.3f}, |max| {meta['logits_absmax']:.2f}, "
        f"frac |l|>20 {meta['logits_frac_abs_gt_20']:.4f}, loss {meta['loss']:.4f}" + ("" if ok else "  WARNING: std"))


def dropout_modules(model, prefix_filter=None):
    found = []
    for n, m in model.named_modules():
        if isinstance(m, nn.Dropout) and m.p > 0 and (prefix_filter is None or prefix_filter in n):
            found.append(f"{n} (p={m.p})")
    return found


def lora_run(model, inputs, targets, init_from=None, name_map=None):
    """PEFT LoRA on `model` (modified in place): forward + backward on the batch; returns the PEFT model and results."""
    torch.manual_seed(SEED + 7)
    pm = get_peft_model(model, LoraConfig(target_modules=targets, **LORA))
    g = torch.Generator().manual_seed(SEED + 8)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_" not in n:
                continue
            if init_from is not None:
                p.copy_(init_from[name_map(n)])
            elif "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * LORA_B_STD)
    trainable = [n for n, p in pm.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable), trainable
    text_cfg = pm.config.get_text_config() if hasattr(pm.config, "get_text_config") else pm.config
    drop_text = dropout_modules(pm, "language_model") if "language_model" in " ".join(trainable) \
        else dropout_modules(pm)
    mode = "train" if not drop_text and not text_cfg.attention_dropout else "eval"
    pm.train() if mode == "train" else pm.eval()
    out = forward(pm, inputs)
    out.loss.backward()
    grads = {}
    for n, p in pm.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"no gradient for {n}"
            grads[n] = p.grad.detach().clone()
    zero = [n for n, gr in grads.items() if gr.abs().max() == 0]
    pm.eval()
    with torch.no_grad():
        out_eval = forward(pm, inputs)
    weights = {n: p.detach().clone() for n, p in pm.named_parameters() if "lora_" in n}
    meta = dict(config=dict(LORA, target_modules=targets), lora_B_init=f"normal(0, {LORA_B_STD}^2), generator seed "
                f"{SEED + 8}" if init_from is None else "copied from the causal case (same tensors)",
                lora_A_init=f"PEFT default (kaiming-uniform) after torch.manual_seed({SEED + 7})"
                if init_from is None else "copied from the causal case (same tensors)",
                grad_mode=mode, dropout_modules_with_p_gt_0=drop_text,
                all_dropout_modules_with_p_gt_0=dropout_modules(pm),
                train_vs_eval_logits_max_abs=maxdiff(out.logits, out_eval.logits),
                lora_loss=fnum(out.loss), n_lora_tensors=len(weights),
                n_lora_params=sum(w.numel() for w in weights.values()), zero_grad_tensors=zero)
    return pm, dict(logits=out.logits.detach(), loss=out.loss.detach(), grads=grads, weights=weights,
                    eval_logits=out_eval.logits), meta


def save_adapter(pm, folder, weights, cls, model_dir, inputs, lora_logits):
    pm.save_pretrained(folder)
    removed = []
    for f in sorted(os.listdir(folder)):
        if f not in ("adapter_config.json", "adapter_model.safetensors"):
            os.remove(os.path.join(folder, f))   # the model card PEFT writes (README.md)
            removed.append(f)
    saved = load_file(os.path.join(folder, "adapter_model.safetensors"))
    want = {n.replace(".default", ""): w for n, w in weights.items()}
    assert set(saved) == set(want), (sorted(set(saved) ^ set(want)))[:10]
    same = max(maxdiff(saved[k], want[k]) for k in want)
    base, _ = load_model(cls, model_dir)
    rt = PeftModel.from_pretrained(base, folder)
    rt.eval()
    with torch.no_grad():
        rt_logits = forward(rt, inputs).logits
    cfg = json.load(open(os.path.join(folder, "adapter_config.json")))
    return dict(removed_files=removed, saved_vs_used_max_abs=same, n_saved_tensors=len(saved),
                example_key=sorted(saved)[0], roundtrip_logits_max_abs=maxdiff(rt_logits, lora_logits),
                adapter_config={k: cfg.get(k) for k in ("r", "lora_alpha", "lora_dropout", "target_modules",
                                                         "base_model_name_or_path", "peft_type", "bias")})


def cuda_check(cls, model_dir, dtype, inputs, cpu_logits):
    if not torch.cuda.is_available():
        return "no CUDA"
    try:
        m, _ = load_model(cls, model_dir, dtype=dtype)
        m.to("cuda")
        with torch.no_grad():
            lg = m(input_ids=inputs["input_ids"].cuda(), attention_mask=inputs["attention_mask"].cuda(),
                   use_cache=False).logits.cpu()
        d = (lg.float() - cpu_logits.float()).abs()
        real = inputs["attention_mask"].bool()
        res = dict(device=torch.cuda.get_device_name(), max_abs=fnum(d.max()), max_abs_real_tokens=fnum(d[real].max()),
                   mean_abs=fnum(d.mean()))
        del m
        torch.cuda.empty_cache()
        return res
    except Exception as e:  # noqa: BLE001  (informative only)
        return f"failed: {type(e).__name__}: {e}"


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False)
        f.write("\n")


def write_tensors(path, tensors):
    save_file({k: v.detach().float().contiguous() if v.is_floating_point() else v.contiguous()
               for k, v in tensors.items()}, path)


def folder_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


# ---------------------------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------------------------

def common_meta(case, family, cls, dtype):
    return dict(case=case, family=family, model_class=cls.__name__, versions=versions(), command=COMMAND,
                device="cpu", dtype=dtype, seed=SEED, attn_implementation=ATTN,
                inputs=dict(B=B, T=T, padding=f"row 1 right-padded: last {N_PAD} positions attention_mask 0, id 0",
                            labels=f"input_ids with -100 on the first {N_PROMPT} positions of each row and on padding",
                            id_range=f"[3, {FAMILIES[family]['id_high']})"),
                use_cache=False, base_runs_mode="eval")


def case_causal(out_root, family, state):
    F_ = FAMILIES[family]
    case = f"{family}-causal"
    root = os.path.join(out_root, case)
    model_dir = os.path.join(root, "model")
    cls = F_["causal_cls"]
    meta = common_meta(case, family, cls, "float32")

    torch.manual_seed(SEED)
    built = cls(F_["make_causal_config"]())
    meta["init"] = dict(rules=randomize(built, SEED + 1),
                        note="every parameter re-drawn: embeddings N(0,1); linears N(0, (0.5/sqrt(fan_in))^2); "
                             "norm weights and 3n correct_output_scale U(0.5,1.5); q_norm/k_norm U(0.3,0.7); final "
                             "norm U(0.2,0.6); 3n modality_router N(0, 2^2); Gemma 4 layer_scalar U(0.5,1.5)")
    tm = text_model_of(built)
    meta["lm_head_tied"] = built.lm_head.weight.data_ptr() == tm.embed_tokens.weight.data_ptr()
    meta["saved"] = save_model(built, model_dir)
    inputs = make_inputs(F_["id_high"], SEED + 2)
    with torch.no_grad():
        built.eval()
        mem_logits = forward(built, inputs).logits
    del built

    model, meta["load"] = load_model(cls, model_dir)
    meta["layers"] = structure(model, family)
    out, trace, m = base_run(model, inputs, family)
    meta.update(m)
    meta["in_memory_vs_reloaded_logits_max_abs"] = maxdiff(mem_logits, out.logits)
    check_range(case, meta)

    eager, _ = load_model(cls, model_dir, attn="eager")
    tr = Trace(eager, F_["ple_arg"])
    with torch.no_grad():
        eo = forward(eager, inputs)
    real = inputs["attention_mask"].bool()
    meta["eager_vs_sdpa"] = dict(logits_max_abs=maxdiff(eo.logits, out.logits),
                                 logits_max_abs_real_tokens=maxdiff(eo.logits[real], out.logits[real]),
                                 loss_abs=abs(fnum(eo.loss) - fnum(out.loss)),
                                 per_tensor_max_abs_and_scale=per_tensor_diff(tr.close(), trace))
    if meta["eager_vs_sdpa"]["logits_max_abs"] > ID_MARGIN:
        log(f"[{case}] WARNING eager vs sdpa {meta['eager_vs_sdpa']}")
    del eager
    meta["cuda_vs_cpu_float32"] = cuda_check(cls, model_dir, torch.float32, inputs, out.logits)

    if family == "gemma3n":
        # 5.17's Gemma3nForCausalLM looks every id up in the PLE table (no mapping to 0), so ids >= 224 cannot be
        # given to it; the multimodal case covers them. Record what happens.
        bad = inputs["input_ids"].clone()
        bad[0, 3] = GEMMA3N_TEXT["vocab_size_per_layer_input"] + 10
        try:
            with torch.no_grad():
                model(input_ids=bad, attention_mask=inputs["attention_mask"], use_cache=False)
            meta["ids_without_ple_row_in_causal_lm"] = "accepted"
        except Exception as e:  # noqa: BLE001
            meta["ids_without_ple_row_in_causal_lm"] = f"{type(e).__name__}: {str(e)[:200]}"
        tc = model.config
        meta["altup"] = dict(altup_coef_clip=tc.altup_coef_clip,
                             clip_applies="only in train() mode (5.17): prediction_coefs clamped in place, "
                                          "correction_coefs on a copy",
                             max_abs_prediction_coefs=max(fnum(l.altup.prediction_coefs.weight.abs().max())
                                                          for l in text_model_of(model).layers),
                             max_abs_correction_coefs=max(fnum(l.altup.correction_coefs.weight.abs().max())
                                                          for l in text_model_of(model).layers))

    expected = dict(logits=out.logits, loss=out.loss)
    expected.update(trace)
    meta["hidden_states"] = HIDDEN_STATES_DOC[family]

    pm, lr, lm = lora_run(model, inputs, LORA_TARGETS)
    if family == "gemma3n":
        lm["altup_clip_in_grad_run"] = ("applied (train mode) but a no-op: |coefs| < altup_coef_clip"
                                        if lm["grad_mode"] == "train" else "not applied (eval mode)")
    meta["lora"] = lm
    meta["lora"]["adapter"] = save_adapter(pm, os.path.join(root, "adapter"), lr["weights"], cls, model_dir,
                                           inputs, lr["eval_logits"])
    meta["lora"]["logits_change_vs_base_max_abs"] = maxdiff(lr["logits"], out.logits)
    expected["lora_logits"] = lr["logits"]
    expected["lora_loss"] = lr["loss"]
    for n, gr in lr["grads"].items():
        expected["grad." + n] = gr

    write_tensors(os.path.join(root, "inputs.safetensors"), inputs)
    write_tensors(os.path.join(root, "expected.safetensors"), expected)
    meta["expected_tensors"] = {k: list(v.shape) for k, v in expected.items()}
    write_json(os.path.join(root, "meta.json"), meta)
    state[family] = dict(model_dir=model_dir, inputs=inputs, logits=out.logits, loss=out.loss, trace=trace,
                         lora_weights=lr["weights"], lora_logits=lr["logits"], lora_loss=lr["loss"],
                         grads=lr["grads"])
    del model, pm
    gc.collect()


def case_bf16(out_root, family, state):
    F_ = FAMILIES[family]
    case = f"{family}-causal-bf16"
    root = os.path.join(out_root, case)
    model_dir = os.path.join(root, "model")
    cls = F_["causal_cls"]
    src = state[family]
    meta = common_meta(case, family, cls, "bfloat16")
    meta["source"] = f"{family}-causal/model loaded in float32, .to(torch.bfloat16), save_pretrained"
    m32, _ = load_model(cls, src["model_dir"])
    m32.to(torch.bfloat16)
    meta["saved"] = save_model(m32, model_dir)
    del m32
    inputs = src["inputs"]
    model, meta["load"] = load_model(cls, model_dir, dtype=torch.bfloat16)
    tr = Trace(model, F_["ple_arg"])
    with torch.no_grad():
        out = forward(model, inputs)
    meta["loss"] = fnum(out.loss)
    meta["bf16_vs_float32_per_tensor_max_abs_and_scale"] = per_tensor_diff(tr.close(), src["trace"])
    meta.update(logit_stats(out.logits, inputs["attention_mask"]))
    real = inputs["attention_mask"].bool()
    d = (out.logits.float() - src["logits"]).abs()
    meta["bf16_vs_float32"] = dict(logits_max_abs=fnum(d.max()), logits_max_abs_real_tokens=fnum(d[real].max()),
                                   logits_mean_abs=fnum(d.mean()), loss_abs=abs(fnum(out.loss) - fnum(src["loss"])))
    eager, _ = load_model(cls, model_dir, dtype=torch.bfloat16, attn="eager")
    with torch.no_grad():
        eo = forward(eager, inputs)
    meta["eager_vs_sdpa"] = dict(logits_max_abs=maxdiff(eo.logits, out.logits),
                                 loss_abs=abs(fnum(eo.loss) - fnum(out.loss)))
    del eager
    meta["cuda_vs_cpu_bfloat16"] = cuda_check(cls, model_dir, torch.bfloat16, inputs, out.logits)
    log(f"[{case}] bf16 vs fp32 {meta['bf16_vs_float32']}  loss {meta['loss']:.4f}")
    expected = dict(logits=out.logits.float(), loss=out.loss.float())
    write_tensors(os.path.join(root, "inputs.safetensors"), inputs)
    write_tensors(os.path.join(root, "expected.safetensors"), expected)
    meta["expected_tensors"] = {k: list(v.shape) for k, v in expected.items()}
    meta["note"] = "logits and loss computed in bfloat16 (model dtype) and stored as float32"
    write_json(os.path.join(root, "meta.json"), meta)
    del model
    gc.collect()


def case_multimodal(out_root, family, state):
    F_ = FAMILIES[family]
    case = f"{family}-multimodal"
    root = os.path.join(out_root, case)
    model_dir = os.path.join(root, "model")
    cls = F_["mm_cls"]
    src = state[family]
    meta = common_meta(case, family, cls, "float32")
    drop = GEMMA3N_DROP_ON_SAVE if family == "gemma3n" else ()

    torch.manual_seed(SEED + 3)
    built = cls(F_["make_mm_config"]())
    meta["init"] = dict(rules=randomize(built, SEED + 4, skip_prefixes=drop),
                        note="towers and embedders re-drawn like the causal case; the language model then gets the "
                             f"{family}-causal weights")
    causal, _ = load_model(F_["causal_cls"], src["model_dir"])
    sd = text_model_of(causal).state_dict()
    res = text_model_of(built).load_state_dict(sd, strict=True)
    meta["text_weights_copied"] = dict(n=len(sd), result=str(res))
    tm = text_model_of(built)
    meta["lm_head_tied"] = built.lm_head.weight.data_ptr() == tm.embed_tokens.weight.data_ptr()
    meta["saved"] = save_model(built, model_dir, drop)
    if drop:
        meta["saved"]["left_out"] = ("model.vision_tower.* (the fixed MobileNet-V5-300M timm net, 300M parameters) "
                                     "and model.embed_vision.* (2048-wide, the tower's width): vision weights are "
                                     "not needed for text and would be several MB; config.json still describes the "
                                     "real tower. transformers initialises them randomly on load (missing_keys).")
    del built
    gc.collect()

    inputs = src["inputs"]
    model, meta["load"] = load_model(cls, model_dir)
    out, _, m = base_run(model, inputs, family)
    meta.update(m)
    check_range(case, meta)
    meta["vs_causal"] = dict(logits_max_abs=maxdiff(out.logits, src["logits"]),
                             loss_abs=abs(fnum(out.loss) - fnum(src["loss"])))
    log(f"[{case}] vs causal {meta['vs_causal']}")
    if meta["vs_causal"]["logits_max_abs"] > 1e-5:
        raise RuntimeError(f"multimodal logits differ from the causal case: {meta['vs_causal']}")
    eager, _ = load_model(cls, model_dir, attn="eager")
    with torch.no_grad():
        eo = forward(eager, inputs)
    meta["eager_vs_sdpa"] = dict(logits_max_abs=maxdiff(eo.logits, out.logits),
                                 loss_abs=abs(fnum(eo.loss) - fnum(out.loss)))
    del eager
    expected = dict(logits=out.logits, loss=out.loss)
    all_inputs = dict(inputs)

    if family == "gemma3n":
        # ids without a PLE row: audio hard ids (embed_audio + PLE row 0), checked against the causal decoder fed
        # with the same embeddings by hand (spec 2.3.1 / 2.5)
        hard = inputs["input_ids"].clone()
        for (r, c), v in GEMMA3N_HARD:
            hard[r, c] = v
        with torch.no_grad():
            hl = model(input_ids=hard, attention_mask=inputs["attention_mask"], use_cache=False).logits
            ctm = text_model_of(causal)
            emb = ctm.embed_tokens(hard)
            amask = hard >= GEMMA3N_AUDIO["vocab_offset"]
            aud = model.model.embed_audio(input_ids=torch.where(amask, hard, torch.full_like(hard, 255)))
            emb = torch.where(amask[..., None], aud, emb)
            ple = ctm.get_per_layer_inputs(torch.where(hard < GEMMA3N_TEXT["vocab_size_per_layer_input"], hard,
                                                       torch.zeros_like(hard)))
            try:
                ref = causal(inputs_embeds=emb, per_layer_inputs=ple, attention_mask=inputs["attention_mask"],
                             use_cache=False).logits
                chk = maxdiff(hl, ref)
            except Exception as e:  # noqa: BLE001  (informative)
                chk = f"could not run the causal reference: {type(e).__name__}: {e}"
        all_inputs["hard_input_ids"] = hard
        expected["hard_logits"] = hl
        meta["hard_tokens"] = dict(positions=[list(rc) for rc, _ in GEMMA3N_HARD], ids=[v for _, v in GEMMA3N_HARD],
                                   meaning="audio hard-token ids (>= vocab_size_per_layer_input): embedding from "
                                           "embed_audio (hard path), PLE token part from row 0",
                                   vs_manual_causal_reference_max_abs=chk,
                                   logits_change_vs_text_input_max_abs=maxdiff(hl, out.logits))
        log(f"[{case}] hard tokens {meta['hard_tokens']['vs_manual_causal_reference_max_abs']}")
    del causal

    def to_causal_name(n):
        return n.replace("model.language_model.", "model.", 1)

    pm, lr, lm = lora_run(model, inputs, LORA_TARGETS_MM, init_from=src["lora_weights"], name_map=to_causal_name)
    assert len(lr["weights"]) == len(src["lora_weights"]), (len(lr["weights"]), len(src["lora_weights"]))
    lm["vs_causal"] = dict(lora_logits_max_abs=maxdiff(lr["logits"], src["lora_logits"]),
                           lora_loss_abs=abs(fnum(lr["loss"]) - fnum(src["lora_loss"])),
                           grads_max_abs=max(maxdiff(g, src["grads"][to_causal_name(n)])
                                             for n, g in lr["grads"].items()))
    log(f"[{case}] lora vs causal {lm['vs_causal']}")
    meta["lora"] = lm
    meta["lora"]["adapter"] = save_adapter(pm, os.path.join(root, "adapter"), lr["weights"], cls, model_dir,
                                           inputs, lr["eval_logits"])
    expected["lora_logits"] = lr["logits"]
    expected["lora_loss"] = lr["loss"]
    meta["lora"]["grads"] = "not stored here: equal to the causal case's (see vs_causal.grads_max_abs)"
    meta["hidden_states"] = "not stored here: the decoder is the causal case's (compare logits)"

    write_tensors(os.path.join(root, "inputs.safetensors"), all_inputs)
    write_tensors(os.path.join(root, "expected.safetensors"), expected)
    meta["expected_tensors"] = {k: list(v.shape) for k, v in expected.items()}
    write_json(os.path.join(root, "meta.json"), meta)
    del model, pm
    gc.collect()


def main():
    global COMMAND
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/text", help="folder that receives one sub-folder per case")
    ap.add_argument("--families", default="gemma3n,gemma4")
    args = ap.parse_args()
    COMMAND = " ".join(["python3"] + sys.argv)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    log("versions", versions())
    os.makedirs(args.out, exist_ok=True)
    state, status = {}, {}
    for family in args.families.split(","):
        for kind, fn in (("causal", case_causal), ("causal-bf16", case_bf16), ("multimodal", case_multimodal)):
            case = f"{family}-{kind}"
            root = os.path.join(args.out, case)
            shutil.rmtree(root, ignore_errors=True)
            if kind != "causal" and family not in state:
                status[case] = "skipped: the causal case failed"
                continue
            try:
                fn(args.out, family, state)
                status[case] = f"ok, {folder_size(root)} bytes"
            except Exception:  # noqa: BLE001  (keep the other cases)
                status[case] = "FAILED: " + traceback.format_exc()
                shutil.rmtree(root, ignore_errors=True)
            log(f"== {case}: {status[case]}")
    log("summary:")
    for k, v in status.items():
        log(f"  {k}: {v.splitlines()[0] if v.startswith('ok') else v}")
    log("total bytes", folder_size(args.out))
    return 0 if all(v.startswith("ok") for v in status.values()) else 1


COMMAND = ""
if __name__ == "__main__":
    sys.exit(main())
