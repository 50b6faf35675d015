#!/usr/bin/env python3
"""Parity fixtures for the audio feature extractors of Gemma 3n and Gemma 4 and for the number of audio soft tokens
the processors put in a prompt, made with the reference code of transformers 5.17.

Run on the GPU machine (transformers 5.17, numpy, torch; no soundfile needed), from the repository root:
    python3 tools/make_audio_feature_fixtures.py --out tests/fixtures/audio/features
Everything runs on the CPU. Inputs are the committed espeak-ng clips of tests/fixtures/audio/speech/*.wav
(tools/make_speech_clips.sh), read with Python's `wave` module as int16 / 32768.0 (float32), plus seeded synthetic
clips at the lengths where framing changes.

Output, one folder per family (gemma3n, gemma4) under --out:
  inputs.safetensors    speech.<name>  int16 PCM of each wav (the waveform is pcm / 32768, float32)
                        edge.<k>       float32 synthetic clips (lengths around frame and padding boundaries)
  expected.safetensors  per group (speech / edge / custom):
                          <group>.batch.features  [N, T, n_mel] float32  extractor called on the whole group
                          <group>.batch.mask      [N, T] uint8           its input_features_mask
                          <group>.clip<i>.mask    [T_i] uint8            extractor called on clip i alone
                          <group>.clip<i>.features [T_i, n_mel]         only when it differs from
                                                   batch.features[i, :T_i] (meta.json says; normally it is equal
                                                   bit for bit, so it is not stored twice)
                        trunc.head / trunc.tail    first / last 3 frames of a 481,000-sample formula clip (truncation
                                                   to 480,000 samples); the formula is in meta.json
  custom/preprocessor_config.json  non-default settings; the "custom" group is made by
                        <Extractor>.from_pretrained(custom/) so that the file is read the way transformers reads it
  meta.json             versions, settings, the clips of every group, frame counts, checks, "tokens" (the
                        prompt text one audio becomes and the number of soft tokens per clip length; Gemma 4: by
                        both processor paths and by the audio encoder's output mask) and
                        "float32_vs_float64_reference": per speech clip, how far the reference's features are from
                        the same extractor code fed the float64 waveform (pre-emphasis, window and FFT then all run
                        in float64): the size of the reference's own float32 rounding
Regenerate with this script; never edit the numbers.
"""
import argparse
import inspect
import json
import math
import os
import platform
import shutil
import sys
import traceback
import types
import wave

import numpy as np
import torch

import safetensors
import transformers
from safetensors.numpy import save_file
from transformers.models.gemma3n.feature_extraction_gemma3n import Gemma3nAudioFeatureExtractor
from transformers.models.gemma3n.processing_gemma3n import Gemma3nProcessor
from transformers.models.gemma4.configuration_gemma4 import Gemma4AudioConfig
from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor
from transformers.models.gemma4.modeling_gemma4 import Gemma4AudioModel
from transformers.models.gemma4.processing_gemma4 import Gemma4Processor

SEED = 20261126
SPEECH = ["short", "medium", "long", "padded"]          # tests/fixtures/audio/speech/<name>.wav
# Synthetic clip lengths (samples): empty, below one frame, both frame sizes (3n 513, Gemma 4 321 incl. the 160-sample
# left padding), hop multiples, padding multiples of 128 and one sample either side of each.
EDGE_LENGTHS = [0, 1, 127, 128, 159, 160, 161, 320, 321, 352, 353, 384, 481, 512, 513, 514, 640, 641, 673, 800,
                1000, 1601]
CUSTOM_CLIPS = ["speech.short", "edge.18", "edge.20", "edge.6"]   # 0.8 s speech, 673, 1000 and 161 samples
TRUNC_SAMPLES = 481_000
TRUNC_FORMULA = "x[n] = ((7*n*n + 13*n) mod 4001 - 2000) / 4000, n = 0..480999, int64 then float64, cast to float32"
# Token-count lengths (Gemma 4): every length up to 1300 samples, then boundaries of longer clips.
TOKEN_LENGTHS = list(range(0, 1301)) + [1599, 1600, 1601, 1760, 1761, 15999, 16000, 16001, 47_999, 48_000,
                                        160_000, 479_839, 479_840, 479_841, 479_999, 480_000, 480_001, 500_000]
PROMPT_TEXT_LENGTHS = [0, 161, 16000, 480_000]

# The special-token strings of the released tokenizers (src/tokenizer/family_layout.cpp). The
# processors read them from the tokenizer; the fake tokenizers below only hand them over.
TOKENS = {
    "gemma3n": dict(boa_token="<start_of_audio>", audio_token="<audio_soft_token>", eoa_token="<end_of_audio>",
                    audio_token_id=262273, boi_token="<start_of_image>", image_token="<image_soft_token>",
                    eoi_token="<end_of_image>", image_token_id=262145),
    "gemma4": dict(boa_token="<|audio>", audio_token="<|audio|>", eoa_token="<audio|>"),
}

CUSTOM = {
    # Every setting away from its default, plus keys transformers reads but then overwrites (frame_length,
    # hop_length, fft_length: the extractor recomputes them from the *_ms values) to show they are ignored.
    "gemma3n": dict(feature_extractor_type="Gemma3nAudioFeatureExtractor", feature_size=80, sampling_rate=16000,
                    padding_value=0.25, padding_side="left", frame_length_ms=25.0, hop_length_ms=12.5,
                    min_frequency=60.0, max_frequency=7000.0, preemphasis=0.9, preemphasis_htk_flavor=False,
                    fft_overdrive=False, dither=0.0, input_scale_factor=0.75, mel_floor=1e-4,
                    per_bin_mean=[-4.0 + 0.05 * i for i in range(80)],
                    per_bin_stddev=[0.5 + 0.02 * i for i in range(80)],
                    frame_length=999, hop_length=77, fft_length=4096, return_attention_mask=True),
    "gemma4": dict(feature_extractor_type="Gemma4AudioFeatureExtractor", feature_size=80, sampling_rate=16000,
                   padding_value=0.25, padding_side="left", frame_length_ms=25.0, hop_length_ms=12.5,
                   min_frequency=60.0, max_frequency=7000.0, preemphasis=0.95, preemphasis_htk_flavor=True,
                   fft_overdrive=True, dither=0.0, input_scale_factor=0.75, mel_floor=1e-2,
                   per_bin_mean=[-4.0 + 0.05 * i for i in range(80)],
                   per_bin_stddev=[0.5 + 0.02 * i for i in range(80)],
                   frame_length=999, hop_length=77, fft_length=4096, return_attention_mask=True),
}

EXTRACTORS = {"gemma3n": Gemma3nAudioFeatureExtractor, "gemma4": Gemma4AudioFeatureExtractor}
COMMAND = ""


def log(*a):
    print(*a, flush=True)


def versions():
    return dict(transformers=transformers.__version__, numpy=np.__version__, torch=torch.__version__,
                safetensors=safetensors.__version__, python=platform.python_version())


def read_wav(path):
    with wave.open(path, "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, 16000):
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit PCM, found {w.getnchannels()} channels, "
                             f"{8 * w.getsampwidth()} bits, {w.getframerate()} Hz")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)


def trunc_clip():
    n = np.arange(TRUNC_SAMPLES, dtype=np.int64)
    return ((((7 * n * n + 13 * n) % 4001) - 2000) / 4000.0).astype(np.float32)


def extract(fe, clips):
    """The extractor's own __call__ with its defaults (padding longest, max_length 480000, truncation, multiple of 128),
    on a list of 1-D float32 arrays as the processors pass them."""
    out = fe(list(clips))
    feats = [np.asarray(f) for f in out["input_features"]]
    masks = [np.asarray(m) for m in out["input_features_mask"]]
    for f in feats:
        assert f.dtype == np.float32, f.dtype
    for m in masks:
        assert m.dtype == np.bool_, m.dtype
    return feats, masks


def reference_in_float64(fe, family, clip):
    """The extractor's _extract_spectrogram (and, for Gemma 4, __call__'s masking) on the float64 waveform, right-padded
    with zeros to the multiple of 128 exactly as __call__ pads it; __call__ itself would cast to float32 first."""
    n = len(clip)
    length = int(math.ceil(n / 128) * 128)
    wav = np.zeros((1, length), dtype=np.float64)
    wav[0, :n] = clip.astype(np.float64)
    sample_mask = np.zeros(length, dtype=np.int32)
    sample_mask[:n] = 1
    mel, mask = fe._extract_spectrogram(wav, sample_mask)
    mel = mel.astype(np.float32)
    if family == "gemma4":
        mel = mel * mask[..., None]
    return mel, mask


def run_group(fe, family, group, names, inputs, tensors, meta_groups):
    clips = [inputs[name] for name in names]
    batch_feats, batch_masks = extract(fe, clips)
    batch_f = np.stack(batch_feats)
    batch_m = np.stack(batch_masks)
    tensors[f"{group}.batch.features"] = np.ascontiguousarray(batch_f)
    tensors[f"{group}.batch.mask"] = batch_m.astype(np.uint8)
    entries = []
    for i, (name, clip) in enumerate(zip(names, clips)):
        try:
            feats, masks = extract(fe, [clip])
        except Exception as e:  # noqa: BLE001  (e.g. a clip too short for one frame; recorded, not fatal)
            entries.append(dict(input=name, samples=int(len(clip)), error=f"{type(e).__name__}: {e}",
                                batch_valid_frames=int(batch_m[i].sum())))
            log(f"  [{family}/{group}] clip{i} {name}: {len(clip)} samples -> extractor raised {e!r}")
            continue
        f, m = feats[0], masks[0]
        t = f.shape[0]
        same = bool(t <= batch_f.shape[1] and np.array_equal(f, batch_f[i, :t]))
        same_mask_prefix = bool(np.array_equal(m, batch_m[i, :t]))
        if t > 0:
            tensors[f"{group}.clip{i}.mask"] = m.astype(np.uint8)
            if not same:
                tensors[f"{group}.clip{i}.features"] = np.ascontiguousarray(f)
        entry = dict(input=name, samples=int(len(clip)), frames=int(t), valid_frames=int(m.sum()),
                     batch_valid_frames=int(batch_m[i].sum()), features_stored=bool(t > 0 and not same),
                     equals_batch_prefix=same, mask_equals_batch_prefix=same_mask_prefix)
        entries.append(entry)
        log(f"  [{family}/{group}] clip{i} {name}: {len(clip)} samples -> {t} frames, {int(m.sum())} valid, "
            f"equals batch prefix {same}")
    meta_groups[group] = dict(clips=entries, batch_frames=int(batch_f.shape[1]), n_mel=int(batch_f.shape[2]))
    return batch_f


def float64_diagnostics(fe, family, inputs):
    diag = {}
    for name in SPEECH:
        clip = inputs[f"speech.{name}"]
        f32, m32 = extract(fe, [clip])
        f64, m64 = reference_in_float64(fe, family, clip)
        assert np.array_equal(m32[0], m64), "masks of the float32 and float64 runs differ"
        diff = np.abs(f32[0].astype(np.float64) - f64.astype(np.float64))
        valid = m32[0]
        diag[name] = dict(max_abs_all_frames=float(diff.max()) if diff.size else 0.0,
                          max_abs_valid_frames=float(diff[valid].max()) if valid.any() else 0.0,
                          mean_abs=float(diff.mean()) if diff.size else 0.0)
        log(f"  [{family}] float32 vs float64 reference, {name}: max {diag[name]['max_abs_all_frames']:.3g}")
    return diag


def encoder_valid_counts(family, fe, lengths):
    """Gemma 4: the number of valid frames the audio tower returns (Gemma4AudioModel.forward's attention_mask) for
    the extractor's output. A tiny random tower: the mask does not depend on sizes or weights."""
    torch.manual_seed(SEED)
    cfg = Gemma4AudioConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            subsampling_conv_channels=[128, 4], output_proj_dims=16)
    model = Gemma4AudioModel(cfg).eval()
    counts, how = [], {}
    with torch.no_grad():
        for n in lengths:
            feats, masks = extract(fe, [np.zeros(n, dtype=np.float32)])
            if feats[0].shape[0] == 0:
                counts.append(None)
                how.setdefault("none: the extractor gives 0 frames", []).append(n)
                continue
            x = torch.from_numpy(np.stack(feats))
            m = torch.from_numpy(np.stack(masks))
            try:
                out = model(x, m)
                counts.append(int(out.attention_mask.sum()))
            except Exception as e:  # noqa: BLE001  (record and fall back to the subsampler, which makes the mask)
                _, sub_mask = model.subsample_conv_projection(x, m)
                counts.append(int(sub_mask.sum()))
                how.setdefault(f"subsample_conv_projection (forward raised {type(e).__name__}: {e})", []).append(n)
    return counts, how


def tokens_gemma4(fe):
    tok = TOKENS["gemma4"]
    default_seq = inspect.signature(Gemma4Processor.__init__).parameters["audio_seq_length"].default
    default_ms = inspect.signature(Gemma4Processor.__init__).parameters["audio_ms_per_token"].default
    proc = types.SimpleNamespace(feature_extractor=fe, audio_seq_length=default_seq, **tok)
    predicted, expanded, texts = [], [], {}
    for n in TOKEN_LENGTHS:
        predicted.append(int(Gemma4Processor._compute_audio_num_tokens(proc, np.zeros(n), fe.sampling_rate)))
        feats, masks = extract(fe, [np.zeros(n, dtype=np.float32)])
        text = Gemma4Processor.replace_audio_token(proc, {"input_features_mask": masks}, audio_idx=0)
        expanded.append(text.count(tok["audio_token"]))
        if n in PROMPT_TEXT_LENGTHS:
            texts[str(n)] = text
    encoder, encoder_how = encoder_valid_counts("gemma4", fe, TOKEN_LENGTHS)
    agree = all(p == e for p, e in zip(predicted, expanded))
    agree_encoder = all(c is None and e == 0 or c == e for c, e in zip(encoder, expanded))
    log(f"  [gemma4] token counts: processor paths agree {agree}, encoder agrees {agree_encoder}")
    return dict(
        how=("expanded: Gemma4Processor.replace_audio_token on the extractor's mask of one clip of n zeros (the text "
             "the processor builds); predicted: Gemma4Processor._compute_audio_num_tokens(n) (capped at "
             "audio_seq_length); encoder: valid frames in Gemma4AudioModel.forward(...).attention_mask (null when "
             "the extractor gives no frame). Both processor methods called on a stand-in object holding the "
             "extractor, audio_seq_length and the token strings."),
        audio_seq_length=default_seq, audio_ms_per_token=default_ms, token_strings=tok,
        lengths=TOKEN_LENGTHS, expanded=expanded, predicted=predicted, encoder=encoder, encoder_how=encoder_how,
        expanded_equals_predicted=agree, encoder_equals_expanded=agree_encoder, prompt_text=texts)


def tokens_gemma3n(fe):
    tok = types.SimpleNamespace(**TOKENS["gemma3n"])
    proc = Gemma3nProcessor.__new__(Gemma3nProcessor)
    init_note = "ok"
    try:
        # __init__ builds full_audio_sequence before ProcessorMixin checks its arguments' classes (which a stand-in
        # tokenizer and no image processor fail): the text is the reference's either way.
        Gemma3nProcessor.__init__(proc, feature_extractor=fe, image_processor=None, tokenizer=tok)
    except Exception as e:  # noqa: BLE001
        init_note = f"ProcessorMixin.__init__ raised {type(e).__name__} after full_audio_sequence was set"
    text = proc.full_audio_sequence
    return dict(how=("Gemma3nProcessor.__init__ with the released token strings: every audio placeholder becomes "
                     "full_audio_sequence, whatever the clip length"),
                init=init_note, audio_seq_length=proc.audio_seq_length, token_strings=TOKENS["gemma3n"],
                count=text.count(TOKENS["gemma3n"]["audio_token"]), prompt_text=text)


def extractor_settings(fe):
    d = fe.to_dict()
    out = {}
    for k, v in d.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        out[k] = v
    return out


def make_family(out_root, family, speech_dir):
    root = os.path.join(out_root, family)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    cls = EXTRACTORS[family]
    fe = cls()
    rng = np.random.default_rng(SEED)

    inputs, stored_inputs = {}, {}
    for name in SPEECH:
        pcm = read_wav(os.path.join(speech_dir, f"{name}.wav"))
        stored_inputs[f"speech.{name}"] = pcm
        inputs[f"speech.{name}"] = pcm.astype(np.float32) / 32768.0
    for k, n in enumerate(EDGE_LENGTHS):
        t = np.arange(n, dtype=np.float64)
        clip = (0.3 * rng.standard_normal(n) + 0.4 * np.sin(2 * np.pi * 440.0 * t / 16000.0)).astype(np.float32)
        inputs[f"edge.{k}"] = clip
        if n > 0:
            stored_inputs[f"edge.{k}"] = clip

    tensors, groups = {}, {}
    run_group(fe, family, "speech", [f"speech.{n}" for n in SPEECH], inputs, tensors, groups)
    run_group(fe, family, "edge", [f"edge.{k}" for k in range(len(EDGE_LENGTHS))], inputs, tensors, groups)

    custom_dir = os.path.join(root, "custom")
    os.makedirs(custom_dir)
    with open(os.path.join(custom_dir, "preprocessor_config.json"), "w") as f:
        json.dump(CUSTOM[family], f, indent=1)
    fe_custom = cls.from_pretrained(custom_dir)
    run_group(fe_custom, family, "custom", CUSTOM_CLIPS, inputs, tensors, groups)
    groups["custom"]["extractor"] = "custom/preprocessor_config.json via from_pretrained"
    groups["custom"]["settings"] = extractor_settings(fe_custom)
    groups["speech"]["extractor"] = groups["edge"]["extractor"] = f"{cls.__name__}() defaults"

    feats, masks = extract(fe, [trunc_clip()])
    tensors["trunc.head"] = np.ascontiguousarray(feats[0][:3])
    tensors["trunc.tail"] = np.ascontiguousarray(feats[0][-3:])
    trunc = dict(samples=TRUNC_SAMPLES, formula=TRUNC_FORMULA, frames=int(feats[0].shape[0]),
                 valid_frames=int(masks[0].sum()), head="frames 0..2", tail="the last 3 frames")
    log(f"  [{family}] truncation: {TRUNC_SAMPLES} samples -> {trunc['frames']} frames, {trunc['valid_frames']} valid")

    diag = float64_diagnostics(fe, family, inputs)
    tokens = tokens_gemma4(fe) if family == "gemma4" else tokens_gemma3n(fe)

    save_file(stored_inputs, os.path.join(root, "inputs.safetensors"))
    save_file(tensors, os.path.join(root, "expected.safetensors"))
    meta = dict(
        family=family, extractor=cls.__name__, versions=versions(), command=COMMAND, device="cpu", seed=SEED,
        call=("extractor(list_of_clips) with __call__ defaults: padding='longest', max_length=480000, "
              "truncation=True, pad_to_multiple_of=128, return_attention_mask=True"),
        default_settings=extractor_settings(fe),
        checkpoint_note=("Third-party copies of the released processor configs list the same feature-extractor "
                         "values as these defaults (frame_length/hop_length/fft_length keys there are recomputed "
                         "from frame_length_ms/hop_length_ms by __init__) [UNVERIFIED: not read from the hub]."),
        inputs=dict(speech={n: f"tests/fixtures/audio/speech/{n}.wav as int16; waveform = pcm / 32768.0 (float32)"
                            for n in SPEECH},
                    edge=dict(lengths=EDGE_LENGTHS,
                              how="0.3*N(0,1) (numpy default_rng(seed)) + 0.4*sin(2*pi*440*n/16000), float32"),
                    empty_clips_not_stored=[f"edge.{k}" for k, n in enumerate(EDGE_LENGTHS) if n == 0]),
        groups=groups, trunc=trunc, float32_vs_float64_reference=diag, tokens=tokens,
        numerics=("numpy >= 2 runs rfft of a float32 array in float32 (complex64); the waveform, pre-emphasis and "
                  "window are float32, the mel product and log float64; features are cast to float32 at the end. "
                  "float32_vs_float64_reference: the reference against its own code run in float64 throughout."))
    with open(os.path.join(root, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    return root


def folder_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main():
    global COMMAND
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/audio/features", help="receives one folder per family")
    ap.add_argument("--speech", default="tests/fixtures/audio/speech", help="the committed wav clips")
    ap.add_argument("--families", default="gemma3n,gemma4")
    args = ap.parse_args()
    COMMAND = " ".join(["python3"] + sys.argv)
    log("versions", versions())
    os.makedirs(args.out, exist_ok=True)
    status = {}
    for family in args.families.split(","):
        try:
            root = make_family(args.out, family, args.speech)
            status[family] = f"ok, {folder_size(root)} bytes"
        except Exception:  # noqa: BLE001  (keep the other family)
            status[family] = "FAILED: " + traceback.format_exc()
        log(f"== {family}: {status[family]}")
    log("summary:")
    for k, v in status.items():
        log(f"  {k}: {v}")
    return 0 if all(v.startswith("ok") for v in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
