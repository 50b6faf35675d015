#!/usr/bin/env python3
"""Whole-model audio + text parity fixtures: tiny random Gemma3nForConditionalGeneration and
Gemma4ForConditionalGeneration run by transformers 5.17 + PEFT on a batch whose rows carry audio clips of different
lengths, from the waveform on (feature extractor -> audio tower -> embedder -> soft tokens in the text -> decoder ->
loss -> LoRA gradients). For tests/models/audio_model_parity_test.cpp.

Run on the GPU machine from the repository root (CPU, float32):
    python3 tools/make_audio_model_fixtures.py --out tests/fixtures/audio/model
Cases: gemma3n, gemma4 (one folder each): model/, inputs.safetensors (waveforms, input_ids, attention_mask, labels,
the reference's input_features / input_features_mask), expected.safetensors (logits, loss, LoRA logits/loss and
gradients), meta.json. Regenerate with this script; never edit the numbers.

Rows (B = 2, right padding):
  row 0: <bos> 4 ids | <boa> N0 x <audio> <eoa> | 5 ids | answer 8 ids (trained)
  row 1: <bos> 3 ids | <boa> N1 x <audio> <eoa> | 2 ids | <boa> N2 x <audio> <eoa> | 4 ids | answer 6 ids
N = 188 per clip for Gemma 3n (audio_soft_tokens_per_image; the encoder output is padded to it), and for Gemma 4 the
number of valid encoder tokens of the clip (what Gemma4Model scatters).
"""
import argparse
import copy
import gc
import os
import shutil
import sys
import traceback

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_text_fixtures as tf  # noqa: E402  (shared helpers: random init, saving, LoRA run)
from transformers import Gemma3nConfig, Gemma4Config  # noqa: E402
from transformers.models.gemma3n.feature_extraction_gemma3n import Gemma3nAudioFeatureExtractor  # noqa: E402
from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor  # noqa: E402

SEED = 20261126
CLIP_SECONDS = (0.9, 1.6, 2.3)   # clip 0 in row 0; clips 1 and 2 in row 1
RATE = 16000

AUDIO_3N = dict(tf.GEMMA3N_AUDIO, conf_num_hidden_layers=2)
AUDIO_4 = dict(tf.GEMMA4_AUDIO, num_hidden_layers=2)
CASES = {
    "gemma3n": dict(cls=tf.Gemma3nForConditionalGeneration, extractor=Gemma3nAudioFeatureExtractor,
                    config=lambda: Gemma3nConfig(text_config=copy.deepcopy(tf.GEMMA3N_TEXT),
                                                 vision_config=dict(tf.GEMMA3N_VISION),
                                                 audio_config=copy.deepcopy(AUDIO_3N), **tf.GEMMA3N_TOKENS),
                    boa=tf.GEMMA3N_TOKENS["boa_token_id"], eoa=tf.GEMMA3N_TOKENS["eoa_token_id"],
                    audio=tf.GEMMA3N_TOKENS["audio_token_id"], id_high=222, drop=tf.GEMMA3N_DROP_ON_SAVE),
    "gemma4": dict(cls=tf.Gemma4ForConditionalGeneration, extractor=Gemma4AudioFeatureExtractor,
                   config=lambda: Gemma4Config(text_config=copy.deepcopy(tf.GEMMA4_TEXT),
                                               vision_config=dict(tf.GEMMA4_VISION),
                                               audio_config=copy.deepcopy(AUDIO_4), **tf.GEMMA4_TOKENS),
                   boa=tf.GEMMA4_TOKENS["boa_token_id"], eoa=tf.GEMMA4_TOKENS["eoa_token_index"],
                   audio=tf.GEMMA4_TOKENS["audio_token_id"], id_high=248, drop=()),
}


def waveforms():
    """Speech-like test signals: a few harmonics with a moving pitch, an amplitude envelope and a little noise."""
    rng = np.random.default_rng(SEED)
    out = []
    for k, sec in enumerate(CLIP_SECONDS):
        n = int(round(sec * RATE))
        t = np.arange(n) / RATE
        f0 = 110.0 + 40.0 * k + 30.0 * np.sin(2 * np.pi * 1.5 * t)
        phase = 2 * np.pi * np.cumsum(f0) / RATE
        x = sum(np.sin(h * phase) / h for h in range(1, 6))
        env = 0.5 * (1 - np.cos(2 * np.pi * np.minimum(t / sec, 1.0))) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
        x = 0.3 * env * x + 0.01 * rng.standard_normal(n)
        out.append(x.astype(np.float32))
    return out


def audio_span(spec, n):
    return [spec["boa"]] + [spec["audio"]] * n + [spec["eoa"]]


def build_rows(spec, counts, g):
    def ids(k):
        return torch.randint(3, spec["id_high"], (k,), generator=g).tolist()

    rows = []
    a0 = ids(8)
    r0 = [2] + ids(4) + audio_span(spec, counts[0]) + ids(5)
    rows.append((r0 + a0, len(r0)))
    a1 = ids(6)
    r1 = [2] + ids(3) + audio_span(spec, counts[1]) + ids(2) + audio_span(spec, counts[2]) + ids(4)
    rows.append((r1 + a1, len(r1)))
    T = max(len(r) for r, _ in rows)
    input_ids = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    labels = torch.full((len(rows), T), -100, dtype=torch.long)
    for i, (r, start) in enumerate(rows):
        input_ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
        labels[i, start:len(r)] = torch.tensor(r[start:])
    return input_ids, mask, labels


def forward(model, inputs):
    return model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=inputs["labels"],
                 input_features=inputs["input_features"], input_features_mask=inputs["input_features_mask"],
                 use_cache=False)


def run_case(out_root, family):
    spec = CASES[family]
    root = os.path.join(out_root, family)
    model_dir = os.path.join(root, "model")
    shutil.rmtree(root, ignore_errors=True)
    meta = dict(case=family, versions=tf.versions(), command=" ".join(["python3"] + sys.argv), device="cpu",
                dtype="float32", seed=SEED, model_class=spec["cls"].__name__)
    torch.manual_seed(SEED)
    built = spec["cls"](spec["config"]())
    meta["init"] = tf.randomize(built, SEED + 1, skip_prefixes=spec["drop"])
    meta["saved"] = tf.save_model(built, model_dir, spec["drop"])
    del built
    gc.collect()
    model, meta["load"] = tf.load_model(spec["cls"], model_dir)

    waves = waveforms()
    fe = spec["extractor"]()
    feats = fe(waves, sampling_rate=RATE, return_tensors="pt")
    input_features = feats["input_features"].float()
    input_features_mask = feats["input_features_mask"].bool()
    meta["feature_extractor"] = dict(cls=type(fe).__name__, shape=list(input_features.shape),
                                     valid_frames=input_features_mask.sum(-1).tolist())
    with torch.no_grad():
        if family == "gemma3n":
            counts = [model.config.audio_soft_tokens_per_image] * len(waves)
            enc = model.model.get_audio_features(input_features, ~input_features_mask, return_dict=True)
            meta["encoder_valid_tokens"] = (~enc.audio_mel_mask).sum(-1).tolist()
        else:
            enc = model.model.get_audio_features(input_features, input_features_mask, return_dict=True)
            counts = enc.attention_mask.sum(-1).tolist()
            meta["encoder_valid_tokens"] = counts
    meta["soft_tokens_per_clip"] = counts
    g = torch.Generator().manual_seed(SEED + 2)
    input_ids, attention_mask, labels = build_rows(spec, counts, g)
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels, input_features=input_features,
                  input_features_mask=input_features_mask)
    meta["inputs"] = dict(B=int(input_ids.shape[0]), T=int(input_ids.shape[1]), clip_seconds=list(CLIP_SECONDS),
                          clips_per_row=[[0], [1, 2]], rows=__doc__.split("Rows")[1].strip())
    with torch.no_grad():
        out = forward(model, inputs)
    meta["loss"] = tf.fnum(out.loss)
    meta["loss_manual_diff"] = abs(tf.fnum(out.loss) - tf.fnum(tf.manual_loss(out.logits, labels)))
    meta.update(tf.logit_stats(out.logits, attention_mask))
    # the audio must matter: the same rows with silence instead of the clips give other logits
    with torch.no_grad():
        quiet = fe([np.zeros_like(w) for w in waves], sampling_rate=RATE, return_tensors="pt")
        out_q = forward(model, dict(inputs, input_features=quiet["input_features"].float()))
    meta["logits_change_with_silence_max_abs"] = tf.maxdiff(out_q.logits, out.logits)
    expected = dict(logits=out.logits, loss=out.loss)

    # each row alone (batch invariance of the reference itself, for the record)
    alone = []
    for r, clips in enumerate(([0], [1, 2])):
        f1 = fe([waves[c] for c in clips], sampling_rate=RATE, return_tensors="pt")
        n = int(attention_mask[r].sum())
        with torch.no_grad():
            o1 = model(input_ids=input_ids[r:r + 1, :n], attention_mask=attention_mask[r:r + 1, :n],
                       input_features=f1["input_features"].float(),
                       input_features_mask=f1["input_features_mask"].bool(), use_cache=False)
        alone.append(tf.maxdiff(o1.logits[0], out.logits[r, :n]))
    meta["row_alone_vs_batch_logits_max_abs"] = alone

    pm, lr, lm = lora(model, inputs)
    meta["lora"] = lm
    expected["lora_logits"] = lr["logits"]
    expected["lora_loss"] = lr["loss"]
    for n, gr in lr["grads"].items():
        expected["grad." + n.replace("base_model.model.", "").replace(".default", "")] = gr
    lora_weights = {n.replace("base_model.model.", "").replace(".default", ""): w for n, w in lr["weights"].items()}

    all_inputs = dict(inputs)
    for i, w in enumerate(waves):
        all_inputs[f"waveform.{i}"] = torch.from_numpy(w)
    tf.write_tensors(os.path.join(root, "inputs.safetensors"), all_inputs)
    tf.write_tensors(os.path.join(root, "lora_weights.safetensors"), lora_weights)
    tf.write_tensors(os.path.join(root, "expected.safetensors"), expected)
    meta["expected_tensors"] = len(expected)
    tf.write_json(os.path.join(root, "meta.json"), meta)
    tf.log(f"[{family}] loss {meta['loss']:.6f} lora {tf.fnum(lr['loss']):.6f} counts {counts} "
           f"silence-change {meta['logits_change_with_silence_max_abs']:.3g} alone {alone}")


def lora(model, inputs):
    """PEFT LoRA on the language model's projections, lora_B random so every factor gets a gradient."""
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(SEED + 7)
    pm = get_peft_model(model, LoraConfig(target_modules=tf.LORA_TARGETS_MM, **tf.LORA))
    g = torch.Generator().manual_seed(SEED + 8)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * tf.LORA_B_STD)
    pm.eval()  # lora_dropout is 0; eval keeps every dropout off
    out = forward(pm, inputs)
    out.loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in pm.named_parameters() if p.requires_grad}
    assert grads and all(g is not None for g in grads.values())
    weights = {n: p.detach().clone() for n, p in pm.named_parameters() if "lora_" in n}
    meta = dict(config=dict(tf.LORA, target_modules=tf.LORA_TARGETS_MM), n_tensors=len(weights),
                lora_B_init=f"normal(0, {tf.LORA_B_STD}^2) seed {SEED + 8}", lora_loss=tf.fnum(out.loss),
                zero_grad_tensors=[n for n, gr in grads.items() if gr.abs().max() == 0])
    return pm, dict(logits=out.logits.detach(), loss=out.loss.detach(), grads=grads, weights=weights), meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/audio/model")
    ap.add_argument("--families", default="gemma3n,gemma4")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    os.makedirs(a.out, exist_ok=True)
    failed = False
    for family in a.families.split(","):
        try:
            run_case(a.out, family)
            tf.log(f"== {family}: ok, {tf.folder_size(os.path.join(a.out, family))} bytes")
        except Exception:  # noqa: BLE001  (keep the other case)
            failed = True
            tf.log(f"== {family}: FAILED\n{traceback.format_exc()}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
