#!/usr/bin/env python3
"""Whole-model image + text (and image + audio + text) parity fixtures: tiny random Gemma4ForConditionalGeneration
and Gemma3nForConditionalGeneration run by transformers 5.17 + PEFT on rows whose images (and a clip) sit among the
text, from the PNG files on (image processor -> vision tower -> embed_vision -> soft tokens scattered at
image_token_id -> decoder -> loss -> LoRA gradients). For tests/models/image_model_parity_test.cpp.

Run on the GPU machine from the repository root (CPU, float32; no network):
    python3 tools/make_image_model_fixtures.py --out tests/fixtures/vision/model
(or tools/device/vision_fixtures.sh make_image_model_fixtures). README.md in --out is kept; each case folder is
rewritten. Regenerate with this script; never edit the numbers.

Cases (one folder each):
  gemma4-image        B = 2, right padding, three PNG drawings processed by the real Gemma4ImageProcessor at
                      max_soft_tokens 70 (up-scaled to the budget: 60, 56 and 64 soft tokens):
                        row 0: <bos> 4 ids | <|image> N0 x <|image|> <image|> | 5 ids | answer 8 ids (trained)
                        row 1: <bos> 3 ids | image 1 span | 2 ids | image 2 span | 4 ids | answer 6 ids
  gemma4-audiovisual  the same model (meta.json "model_dir" points at gemma4-image/model), B = 1:
                        <bos> 3 ids | image span (a fourth drawing) | 2 ids | <|audio> Na x <|audio|> <audio|> |
                        4 ids | answer 6 ids; the clip is the first synthetic waveform of make_audio_model_fixtures
  gemma3n-image       Gemma 3n with a reduced MobileNet-V5 vision tower (the block strings of
                      tests/fixtures/vision/gemma3n-tower/arch.json, MSFA 64 wide at 16 x 16 = 256 soft tokens, so
                      vision_soft_tokens_per_image keeps its value 256): B = 2, one 768 x 768 image per row
                        row r: <bos> ids | <start_of_image> 256 x <image_soft_token> <end_of_image> | ids | answer
                      The images are integer "formula" drawings of exactly 768 x 768 (FORMULA below), so the
                      processor (SiglipImageProcessor with the released Gemma 3n settings) only rescales them and
                      the C++ test rebuilds the reference pixels from the formula instead of storing 2 x 1.7 MB.

Every case folder:
  model/ (Gemma 4: gemma4-image only)  save_pretrained output (config.json, model.safetensors); gemma3n-image also
                      holds preprocessor_config.json (the released image settings) and its model.safetensors holds
                      the reduced tower, which transformers' from_pretrained cannot rebuild (config.json's
                      vision_config.model_args describe the timm blocks, but timm would build a 2048-wide MSFA)
  image<i>.png        the input images, written here with PIL
  arch.json           (gemma3n-image) the reduced tower for the C++ parse_mobilenetv5_arch
  inputs.safetensors  input_ids, attention_mask, labels [B, T] int64; see INPUTS_DOC
  expected.safetensors  logits [B, T, V], loss, lora_logits, lora_loss, grad.<name> for every LoRA factor (our
                      names: the PEFT name without "base_model.model." and ".default"), png_eval_loss
  lora_weights.safetensors  the LoRA factors used (lora_B random, see lora())
  meta.json           versions, command, images per row, soft tokens per image, image files and sizes, checks

The reference pixels are those of the processor on the drawn images; png_eval_loss is the eval loss of the same rows
when the images go through transformers.image_utils.load_image from the PNG files and the processor again (what a
user of transformers gets), before any LoRA: the C++ test compares its own decode + processor path with it.
"""
import argparse
import copy
import gc
import json
import os
import shutil
import sys
import traceback

import numpy as np
import PIL
import PIL.Image
import PIL.ImageDraw
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_text_fixtures as tf  # noqa: E402  (tiny configs, random init, saving, loading)
import make_audio_model_fixtures as amf  # noqa: E402  (the synthetic waveforms, the audio config of that fixture)
import make_gemma4_vision_fixtures as g4v  # noqa: E402  (finite clip bounds that clip, the uint8 pixel lookup)
import make_gemma3n_vision_fixtures as g3v  # noqa: E402  (the reduced MobileNet-V5 and its weight rules)
import make_image_fixtures as imf  # noqa: E402  (the released Gemma 3n image processor settings)
from transformers import AutoImageProcessor, Gemma3nConfig, Gemma4Config  # noqa: E402
from transformers.image_utils import load_image  # noqa: E402
from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor  # noqa: E402

try:
    from transformers import Gemma4ImageProcessor  # noqa: E402
except ImportError:  # not exported at the top level
    from transformers.models.gemma4.image_processing_gemma4 import Gemma4ImageProcessor  # noqa: E402

SEED = 20261208
BUDGET = 70
RATE = 16000

# Gemma 4: the tiny vision tower of make_text_fixtures with the processor's patch size (16) and pooling (3), two
# layers, a position table wide enough for the tallest image (42 patch rows).
VISION_4 = dict(tf.GEMMA4_VISION, patch_size=16, pooling_kernel_size=3, num_hidden_layers=2,
                position_embedding_size=64)
AUDIO_4 = amf.AUDIO_4
# (width, height) of the drawings; soft tokens at budget 70: 60, 56, 64; the audiovisual image 60.
GEMMA4_IMAGES = ((60, 40), (30, 90), (50, 50))
GEMMA4_AV_IMAGE = (80, 36)
GEMMA4_ROWS = ((0,), (1, 2))

# Gemma 3n: the reduced MobileNet-V5 of the tower fixture with a 16 x 16 MSFA output (256 tokens per image).
ARCH_3N = dict(copy.deepcopy(g3v.ARCH), msfa_output_resolution=16)
GEMMA3N_SIDE = 768
GEMMA3N_ROWS = ((0,), (1,))
FORMULA = ("v[c, y, x] = ((x * (3 + c + i)) // 9 + (y * (2 + 2 c)) // 7 "
           "+ 40 * ((x // (24 + 8 i) + y // (24 + 8 i)) % 2)) % 256, then inside the disc "
           "(x - (300 + 150 i))^2 + (y - (420 - 100 i))^2 < (150 + 40 i)^2: v = 200 - 60 c + 30 i  "
           "(uint8, c = 0..2 the RGB channel, i the image index, 768 x 768, integer arithmetic)")

INPUTS_DOC = {
    "input_ids / attention_mask / labels": "[B, T] int64, right padding (id 0, mask 0, label -100)",
    "pixel_patches_u8": "Gemma 4: the real (non-padding) rows of the processor's pixel_values, image after image, "
                        "as uint8 [sum n_i, 768]; pixel_lut[pixel_patches_u8] gives them back bit for bit. Each image "
                        "has n_i = its non-(-1, -1) positions real rows first, then zero rows up to 630",
    "pixel_patches": "only when no uint8 lookup was exact: the real rows as float32",
    "pixel_lut": "[256] float32, the processor's value of each uint8 level",
    "image_position_ids": "Gemma 4: the processor's image_position_ids [N, 630, 2] int64 (x, y), (-1, -1) padding",
    "num_soft_tokens": "[N] int64, the processor's num_soft_tokens_per_image",
    "formula_sums": "Gemma 3n: [N] int64, the sum of each formula image's uint8 values (checks the C++ formula)",
    "input_features / input_features_mask": "audiovisual: the Gemma4AudioFeatureExtractor output of waveform.0",
    "waveform.0": "audiovisual: the clip, float32 at 16 kHz",
}


def log(*a):
    print(*a, flush=True)


def versions():
    import timm
    import torchvision
    return dict(tf.versions(), timm=timm.__version__, torchvision=torchvision.__version__, PIL=PIL.__version__,
                numpy=np.__version__)


# ---------------------------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------------------------

def drawing(w, h, i):
    """A deterministic RGB drawing (integer arithmetic + PIL.ImageDraw): a gradient with a texture, a disc, a box,
    a diagonal line."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    base = np.stack([40 + (180 * x) // max(w - 1, 1),
                     30 + (200 * y) // max(h - 1, 1),
                     96 + ((x * 7 + y * 13 + 17 * i) % 64) * 2], axis=-1)
    img = PIL.Image.fromarray(base.astype(np.uint8), "RGB")
    d = PIL.ImageDraw.Draw(img)
    d.ellipse([w // 5, h // 4, (2 * w) // 3, (4 * h) // 5], fill=(230, 60 + 50 * i, 40))
    d.rectangle([w // 2, h // 10, (9 * w) // 10, h // 2], fill=(20, 180, 90 + 40 * i))
    d.line([0, h - 1, w - 1, 0], fill=(255, 255, 255), width=1)
    return img


def formula_image(i, side=GEMMA3N_SIDE):
    """FORMULA as uint8 [3, side, side] (the C++ test computes the same)."""
    y = np.arange(side, dtype=np.int64).reshape(side, 1)
    x = np.arange(side, dtype=np.int64).reshape(1, side)
    cell = 24 + 8 * i
    check = 40 * ((x // cell + y // cell) % 2)
    disc = (x - (300 + 150 * i)) ** 2 + (y - (420 - 100 * i)) ** 2 < (150 + 40 * i) ** 2
    out = np.empty((3, side, side), dtype=np.int64)
    for c in range(3):
        v = ((x * (3 + c + i)) // 9 + (y * (2 + 2 * c)) // 7 + check) % 256
        out[c] = np.where(disc, 200 - 60 * c + 30 * i, v)
    return out.astype(np.uint8)


def save_png(img, path):
    img.save(path, format="PNG")
    back = np.asarray(PIL.Image.open(path).convert("RGB"))
    if not np.array_equal(back, np.asarray(img)):
        raise RuntimeError(f"{path}: the PNG does not read back as the drawn pixels")


def gemma4_process(proc, images):
    enc = proc(images=images, return_tensors="pt")
    pv, pos = enc["pixel_values"], enc["image_position_ids"].long()
    counts = [int(c) for c in enc["num_soft_tokens_per_image"]]
    if pv.dtype != torch.float32:
        raise RuntimeError(f"processor pixel_values dtype {pv.dtype}, expected float32")
    return pv, pos, counts


def gemma4_pixel_tensors(pv, pos):
    """The real rows of every image as uint8 (or float32 when no lookup is exact) + the lookup; checks that padding
    rows are zeros at the end with positions (-1, -1)."""
    valid = (pos != -1).all(-1)
    rows, real, resized = [], [], []
    for i in range(pv.shape[0]):
        n = int(valid[i].sum())
        if not bool(valid[i, :n].all()) or bool(valid[i, n:].any()) or bool((pv[i, n:] != 0).any()):
            raise RuntimeError(f"image {i}: padding rows are not zero rows at the end")
        rows.append(pv[i, :n])
        real.append(n)
        p = pos[i, :n]
        ps = VISION_4["patch_size"]
        resized.append([int(p[:, 1].max() + 1) * ps, int(p[:, 0].max() + 1) * ps])
    allrows = torch.cat(rows)
    u8, lut, rule = g4v.pixel_lookup(allrows)
    out = {"pixel_lut": lut} if lut is not None else {}
    if u8 is not None:
        out["pixel_patches_u8"] = u8.contiguous()
    else:
        out["pixel_patches"] = allrows.contiguous()
    return out, dict(real_patches=real, resized=resized, pixel_lookup_rule=rule)


# ---------------------------------------------------------------------------------------------------------------
# Rows, runs
# ---------------------------------------------------------------------------------------------------------------

def span(open_id, token_id, close_id, n):
    return [open_id] + [token_id] * n + [close_id]


def make_batch(rows):
    """rows: [(ids, start of the answer)] -> input_ids, attention_mask, labels (right padding)."""
    T = max(len(r) for r, _ in rows)
    input_ids = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    labels = torch.full((len(rows), T), -100, dtype=torch.long)
    for i, (r, start) in enumerate(rows):
        input_ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
        labels[i, start:len(r)] = torch.tensor(r[start:])
    return input_ids, mask, labels


MODEL_KEYS = ("input_ids", "attention_mask", "labels", "pixel_values", "image_position_ids", "input_features",
              "input_features_mask")


def forward(model, inputs, labels=True):
    kw = {k: inputs[k] for k in MODEL_KEYS if k in inputs and (labels or k != "labels")}
    return model(**kw, use_cache=False)


def image_subset(inputs, idx):
    out = {"pixel_values": inputs["pixel_values"][list(idx)]}
    if "image_position_ids" in inputs:
        out["image_position_ids"] = inputs["image_position_ids"][list(idx)]
    return out


def reference_runs(model, inputs, images_per_row, meta, expected):
    """Base logits and loss, the zero-pixel control, each row alone (for the record)."""
    with torch.no_grad():
        out = forward(model, inputs)
        zero = forward(model, dict(inputs, pixel_values=torch.zeros_like(inputs["pixel_values"])))
    labels, mask = inputs["labels"], inputs["attention_mask"]
    meta["loss"] = tf.fnum(out.loss)
    meta["loss_manual_diff"] = abs(tf.fnum(out.loss) - tf.fnum(tf.manual_loss(out.logits, labels)))
    meta.update(tf.logit_stats(out.logits, mask))
    meta["logits_change_with_zero_pixels_max_abs"] = tf.maxdiff(zero.logits, out.logits)
    if getattr(out, "image_hidden_states", None) is not None:
        meta["image_hidden_states_shape"] = list(out.image_hidden_states.shape)
    expected["logits"] = out.logits
    expected["loss"] = out.loss
    alone = []
    if inputs["input_ids"].shape[0] > 1:
        for r, imgs in enumerate(images_per_row):
            n = int(mask[r].sum())
            one = dict(input_ids=inputs["input_ids"][r:r + 1, :n], attention_mask=mask[r:r + 1, :n])
            one.update(image_subset(inputs, imgs))
            for k in ("input_features", "input_features_mask"):
                if k in inputs:
                    one[k] = inputs[k]
            with torch.no_grad():
                o1 = forward(model, one, labels=False)
            alone.append(tf.maxdiff(o1.logits[0], out.logits[r, :n]))
    meta["row_alone_vs_batch_logits_max_abs"] = alone
    return out


def png_eval_loss(model, inputs, pixels_from_files, meta, expected):
    """The eval loss of the rows with the images read back from the PNG files by transformers' load_image."""
    pv, extra = pixels_from_files()
    meta["png_pixels_vs_reference_max_abs"] = tf.maxdiff(pv, inputs["pixel_values"])
    if "image_position_ids" in extra:
        meta["png_positions_equal"] = bool(torch.equal(extra["image_position_ids"], inputs["image_position_ids"]))
    with torch.no_grad():
        out = forward(model, dict(inputs, pixel_values=pv, **extra))
    expected["png_eval_loss"] = out.loss
    meta["png_eval_loss"] = tf.fnum(out.loss)
    meta["png_eval_loss_minus_loss"] = tf.fnum(out.loss) - meta["loss"]


def lora(model, inputs):
    """PEFT LoRA r4/alpha8 on the language model's projections (make_audio_model_fixtures' recipe), lora_B random
    so every factor gets a gradient; eval mode (lora_dropout 0)."""
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(SEED + 7)
    pm = get_peft_model(model, LoraConfig(target_modules=tf.LORA_TARGETS_MM, **tf.LORA))
    g = torch.Generator().manual_seed(SEED + 8)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * tf.LORA_B_STD)
    pm.eval()
    logits_f64, meta_f64 = float64_logits(pm, inputs)
    out = forward(pm, inputs)
    out.loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in pm.named_parameters() if p.requires_grad}
    assert grads and all(gr is not None for gr in grads.values())
    weights = {n: p.detach().clone() for n, p in pm.named_parameters() if "lora_" in n}
    meta = dict(config=dict(tf.LORA, target_modules=tf.LORA_TARGETS_MM), n_tensors=len(weights),
                lora_B_init=f"normal(0, {tf.LORA_B_STD}^2) seed {SEED + 8}", lora_loss=tf.fnum(out.loss),
                zero_grad_tensors=[n for n, gr in grads.items() if gr.abs().max() == 0])
    meta.update(meta_f64)
    return dict(logits=out.logits.detach(), logits_f64=logits_f64, loss=out.loss.detach(), grads=grads,
                weights=weights), meta


def float64_logits(model, inputs):
    """The same forward in float64 (on a copy). Where a tiny random model is ill-conditioned (Gemma 3n's gaussian
    top-k layers keep a handful of units at some image positions and post_feedforward_layernorm magnifies their
    rounding) the float32 reference is itself off the exact logits by more than 1e-4; the C++ test then holds its
    float64 run to this and its float32 run to the reference's own float32 error."""
    try:
        m64 = copy.deepcopy(model).double()
        with torch.no_grad():
            o = forward(m64, {k: v.double() if v.is_floating_point() else v for k, v in inputs.items()}, labels=False)
        return o.logits.detach(), {}
    except Exception as e:  # noqa: BLE001  (recorded; the test then skips its float64 check)
        return None, dict(float64_error=repr(e))


def our_name(n):
    return n.replace("base_model.model.", "").replace(".default", "")


def finish_case(root, model, inputs, saved_inputs, meta, expected):
    """LoRA run, then every file of the case."""
    logits_f64, err = float64_logits(model, inputs)
    meta.update(err)
    if logits_f64 is not None:
        expected["logits_f64"] = logits_f64
        meta["float32_vs_float64_logits_max_abs"] = tf.maxdiff(expected["logits"], logits_f64)
    lr, meta["lora"] = lora(model, inputs)
    if lr["logits_f64"] is not None:
        expected["lora_logits_f64"] = lr["logits_f64"]
        meta["lora"]["float32_vs_float64_logits_max_abs"] = tf.maxdiff(lr["logits"], lr["logits_f64"])
    expected["lora_logits"] = lr["logits"]
    expected["lora_loss"] = lr["loss"]
    for n, gr in lr["grads"].items():
        expected["grad." + our_name(n)] = gr
    tf.write_tensors(os.path.join(root, "inputs.safetensors"), saved_inputs)
    tf.write_tensors(os.path.join(root, "lora_weights.safetensors"), {our_name(n): w for n, w in lr["weights"].items()})
    tf.write_tensors(os.path.join(root, "expected.safetensors"), expected)
    meta["expected_tensors"] = len(expected)
    meta["inputs_doc"] = INPUTS_DOC
    tf.write_json(os.path.join(root, "meta.json"), meta)
    log(f"[{meta['case']}] loss {meta['loss']:.6f} png {meta.get('png_eval_loss')} lora {tf.fnum(lr['loss']):.6f} "
        f"zero-pixels change {meta['logits_change_with_zero_pixels_max_abs']:.3g} "
        f"alone {meta['row_alone_vs_batch_logits_max_abs']} "
        f"f32 vs f64 {meta.get('float32_vs_float64_logits_max_abs', meta.get('float64_error'))}")


def base_meta(case, cls, model_dir):
    return dict(case=case, versions=versions(), command=" ".join(["python3"] + sys.argv), device="cpu",
                dtype="float32", seed=SEED, model_class=cls.__name__, model_dir=model_dir,
                regenerate="python3 tools/make_image_model_fixtures.py --out tests/fixtures/vision/model "
                           "(on the GPU machine: tools/device/vision_fixtures.sh make_image_model_fixtures)")


# ---------------------------------------------------------------------------------------------------------------
# Gemma 4
# ---------------------------------------------------------------------------------------------------------------

def gemma4_config():
    return Gemma4Config(text_config=copy.deepcopy(tf.GEMMA4_TEXT), vision_config=dict(VISION_4),
                        audio_config=copy.deepcopy(AUDIO_4), **tf.GEMMA4_TOKENS)


def gemma4_model(out_root):
    """Builds, randomises (clip bounds calibrated on the gemma4-image pixels) and saves the Gemma 4 checkpoint into
    gemma4-image/model; returns what the two Gemma 4 cases need."""
    cls = tf.Gemma4ForConditionalGeneration
    root = os.path.join(out_root, "gemma4-image")
    model_dir = os.path.join(root, "model")
    proc = Gemma4ImageProcessor(max_soft_tokens=BUDGET)
    drawn = [drawing(w, h, i) for i, (w, h) in enumerate(GEMMA4_IMAGES)]
    pv, pos, counts = gemma4_process(proc, drawn)
    torch.manual_seed(SEED)
    built = cls(gemma4_config())
    info = dict(init=tf.randomize(built, SEED + 1))
    built.eval()
    bounds, quantiles = g4v.calibrate_bounds(built.model, pv, pos, torch.Generator().manual_seed(SEED + 2))
    g4v.set_bounds(built.model.vision_tower, bounds)
    info["clip_quantiles"] = quantiles
    info["clip_rates"] = g4v.clip_rates(built.model, pv, pos)
    info["saved"] = tf.save_model(built, model_dir)
    del built
    gc.collect()
    return dict(cls=cls, root=root, model_dir=model_dir, proc=proc, drawn=drawn, pv=pv, pos=pos, counts=counts,
                info=info)


def gemma4_settings(proc):
    return dict(cls=type(proc).__name__, max_soft_tokens=proc.max_soft_tokens, patch_size=proc.patch_size,
                pooling_kernel_size=proc.pooling_kernel_size, resample=str(proc.resample),
                do_normalize=proc.do_normalize, rescale_factor=proc.rescale_factor)


def gemma4_image_case(out_root, g):
    case, cls, root = "gemma4-image", g["cls"], g["root"]
    meta = base_meta(case, cls, "model")
    meta.update(g["info"])
    model, meta["load"] = tf.load_model(cls, g["model_dir"])
    files = []
    for i, img in enumerate(g["drawn"]):
        name = f"image{i}.png"
        save_png(img, os.path.join(root, name))
        files.append(name)
    pv, pos, counts = g["pv"], g["pos"], g["counts"]
    saved_pixels, pix_meta = gemma4_pixel_tensors(pv, pos)
    meta["processor"] = gemma4_settings(g["proc"])
    meta["images"] = [dict(file=f, width=w, height=h, soft_tokens=c, real_patches=n, resized=rs)
                      for f, (w, h), c, n, rs in zip(files, GEMMA4_IMAGES, counts, pix_meta["real_patches"],
                                                     pix_meta["resized"])]
    meta["pixel_lookup_rule"] = pix_meta["pixel_lookup_rule"]
    meta["images_per_row"] = [list(r) for r in GEMMA4_ROWS]
    meta["soft_tokens_per_image"] = counts
    with torch.no_grad():
        feats = model.model.get_image_features(pv, pos, return_dict=True).pooler_output
    if isinstance(feats, (tuple, list)):  # 5.17 returns the soft tokens split per image
        feats = torch.cat(list(feats), 0)
    if feats.shape[0] != sum(counts):
        raise RuntimeError(f"the vision tower gives {feats.shape[0]} soft tokens, the processor says {counts}")

    t = tf.GEMMA4_TOKENS
    img = lambda n: span(t["boi_token_id"], t["image_token_id"], t["eoi_token_id"], n)  # noqa: E731
    gen = torch.Generator().manual_seed(SEED + 3)
    ids = lambda k: torch.randint(3, 248, (k,), generator=gen).tolist()  # noqa: E731
    r0 = [2] + ids(4) + img(counts[0]) + ids(5)
    r1 = [2] + ids(3) + img(counts[1]) + ids(2) + img(counts[2]) + ids(4)
    input_ids, mask, labels = make_batch([(r0 + ids(8), len(r0)), (r1 + ids(6), len(r1))])
    meta["inputs"] = dict(B=2, T=int(input_ids.shape[1]),
                          rows="row 0: <bos> 4 ids | <|image> N0 x <|image|> <image|> | 5 ids | answer 8 ids "
                               "(trained); row 1: <bos> 3 ids | image 1 span | 2 ids | image 2 span | 4 ids | "
                               "answer 6 ids")
    inputs = dict(input_ids=input_ids, attention_mask=mask, labels=labels, pixel_values=pv, image_position_ids=pos)
    expected = {}
    reference_runs(model, inputs, GEMMA4_ROWS, meta, expected)

    def from_files():
        p2, pos2, c2 = gemma4_process(g["proc"], [load_image(os.path.join(root, f)) for f in files])
        if c2 != counts:
            raise RuntimeError(f"soft tokens from the PNG files {c2} != {counts}")
        return p2, dict(image_position_ids=pos2)
    png_eval_loss(model, inputs, from_files, meta, expected)

    saved = dict(input_ids=input_ids, attention_mask=mask, labels=labels, image_position_ids=pos,
                 num_soft_tokens=torch.tensor(counts, dtype=torch.long), **saved_pixels)
    finish_case(root, model, inputs, saved, meta, expected)


def gemma4_audiovisual_case(out_root, g):
    case, cls = "gemma4-audiovisual", g["cls"]
    root = os.path.join(out_root, case)
    meta = base_meta(case, cls, "../gemma4-image/model")
    model, meta["load"] = tf.load_model(cls, g["model_dir"])
    w, h = GEMMA4_AV_IMAGE
    img_pil = drawing(w, h, 3)
    save_png(img_pil, os.path.join(root, "image0.png"))
    pv, pos, counts = gemma4_process(g["proc"], [img_pil])
    saved_pixels, pix_meta = gemma4_pixel_tensors(pv, pos)
    meta["processor"] = gemma4_settings(g["proc"])
    meta["images"] = [dict(file="image0.png", width=w, height=h, soft_tokens=counts[0],
                           real_patches=pix_meta["real_patches"][0], resized=pix_meta["resized"][0])]
    meta["pixel_lookup_rule"] = pix_meta["pixel_lookup_rule"]
    meta["images_per_row"] = [[0]]
    meta["soft_tokens_per_image"] = counts

    wave = amf.waveforms()[0]
    fe = Gemma4AudioFeatureExtractor()
    feats = fe([wave], sampling_rate=RATE, return_tensors="pt")
    input_features = feats["input_features"].float()
    input_features_mask = feats["input_features_mask"].bool()
    with torch.no_grad():
        enc = model.model.get_audio_features(input_features, input_features_mask, return_dict=True)
    n_audio = int(enc.attention_mask.sum())
    meta["audio"] = dict(clip_seconds=amf.CLIP_SECONDS[0], feature_extractor=type(fe).__name__,
                         features_shape=list(input_features.shape), valid_frames=int(input_features_mask.sum()),
                         soft_tokens=n_audio)

    t = tf.GEMMA4_TOKENS
    gen = torch.Generator().manual_seed(SEED + 4)
    ids = lambda k: torch.randint(3, 248, (k,), generator=gen).tolist()  # noqa: E731
    r0 = ([2] + ids(3) + span(t["boi_token_id"], t["image_token_id"], t["eoi_token_id"], counts[0]) + ids(2)
          + span(t["boa_token_id"], t["audio_token_id"], t["eoa_token_index"], n_audio) + ids(4))
    input_ids, mask, labels = make_batch([(r0 + ids(6), len(r0))])
    meta["inputs"] = dict(B=1, T=int(input_ids.shape[1]),
                          rows="<bos> 3 ids | image span | 2 ids | <|audio> Na x <|audio|> <audio|> | 4 ids | "
                               "answer 6 ids (trained)")
    inputs = dict(input_ids=input_ids, attention_mask=mask, labels=labels, pixel_values=pv, image_position_ids=pos,
                  input_features=input_features, input_features_mask=input_features_mask)
    expected = {}
    reference_runs(model, inputs, [[0]], meta, expected)
    with torch.no_grad():
        quiet = fe([np.zeros_like(wave)], sampling_rate=RATE, return_tensors="pt")
        out_q = forward(model, dict(inputs, input_features=quiet["input_features"].float()))
    meta["logits_change_with_silence_max_abs"] = tf.maxdiff(out_q.logits, expected["logits"])

    def from_files():
        p2, pos2, c2 = gemma4_process(g["proc"], [load_image(os.path.join(root, "image0.png"))])
        return p2, dict(image_position_ids=pos2)
    png_eval_loss(model, inputs, from_files, meta, expected)

    saved = dict(input_ids=input_ids, attention_mask=mask, labels=labels, image_position_ids=pos,
                 num_soft_tokens=torch.tensor(counts, dtype=torch.long), input_features=input_features,
                 input_features_mask=input_features_mask, **saved_pixels)
    saved["waveform.0"] = torch.from_numpy(wave)
    finish_case(root, model, inputs, saved, meta, expected)


# ---------------------------------------------------------------------------------------------------------------
# Gemma 3n
# ---------------------------------------------------------------------------------------------------------------

def gemma3n_image_case(out_root):
    from timm.layers import RmsNorm2d
    from timm.models._efficientnet_builder import decode_arch_def
    from timm.models.mobilenetv5 import MobileNetV5MultiScaleFusionAdapter, _GELU

    case, cls = "gemma3n-image", tf.Gemma3nForConditionalGeneration
    root = os.path.join(out_root, case)
    model_dir = os.path.join(root, "model")
    meta = base_meta(case, cls, "model")
    width, res = ARCH_3N["msfa_out_channels"], ARCH_3N["msfa_output_resolution"]
    model_args = dict(block_args=decode_arch_def(ARCH_3N["block_strings"]), stem_size=ARCH_3N["stem_size"],
                      msfa_output_resolution=res)
    vision = dict(tf.GEMMA3N_VISION, hidden_size=width, model_args=model_args)
    # The two gaussian-top-k layers get 512 MLP units instead of 48/32: at 0.95 sparsity 48 units keep about two, and
    # at some of the 256 image positions the one survivor lies just above the cutoff, so the MLP output is tiny and
    # post_feedforward_layernorm scales its float32 rounding up ~1000x (transformers float32 vs float64 then differ by
    # 3.6e-3 in those logits, and layer 0/1 LoRA gradients by 1e-3 relative). With ~25 survivors the fixture is well
    # conditioned, as the real model (8192 units) is.
    text = copy.deepcopy(tf.GEMMA3N_TEXT)
    text["intermediate_size"] = [512 if p > 0 else n
                                 for n, p in zip(text["intermediate_size"], text["activation_sparsity_pattern"])]
    config = Gemma3nConfig(text_config=text, vision_config=vision,
                           audio_config=copy.deepcopy(tf.GEMMA3N_AUDIO), vision_soft_tokens_per_image=res * res,
                           **tf.GEMMA3N_TOKENS)
    torch.manual_seed(SEED)
    model = cls(config)
    tower = model.model.vision_tower
    if type(tower).__name__ != "TimmWrapperModel":
        raise RuntimeError(f"vision tower is {type(tower).__name__}, expected TimmWrapperModel")
    tm = tower.timm_model
    # timm's MobileNetV5Encoder always builds a 2048-wide MSFA; the same adapter `width` wide, as the tower fixture
    # does, keeps the checkpoint small (hidden_size of the vision config = the MSFA width = embed_vision's input).
    tm.msfa = MobileNetV5MultiScaleFusionAdapter(in_chs=tm.msfa_in_chs, out_chs=width, output_resolution=res,
                                                 norm_layer=RmsNorm2d, act_layer=_GELU)
    meta["vision_tower"] = dict(arch=ARCH_3N, built_by="Gemma3nForConditionalGeneration(Gemma3nConfig(vision_config="
                                "{hidden_size, model_args: block_args, stem_size, msfa_output_resolution})), then "
                                f"timm_model.msfa replaced by MobileNetV5MultiScaleFusionAdapter(in_chs="
                                f"{tm.msfa_in_chs}, out_chs={width}, output_resolution={res})",
                                parameters=sum(p.numel() for p in tower.parameters()),
                                timm_fused_attn=bool(getattr(tm.blocks[2][2].attn, "fused_attn", False)))
    meta["init"] = tf.randomize(model, SEED + 1, skip_prefixes=("model.vision_tower.",))
    meta["init_vision_tower"] = g3v.randomize([("model.vision_tower." + n, p) for n, p in tower.named_parameters()],
                                              torch.Generator().manual_seed(SEED + 2))
    model.eval()
    # block_args hold timm objects (functools.partial) that config.json cannot store: write the block strings instead
    # (from_pretrained could not rebuild this tower anyway), and the same architecture under the key gemma-tune reads.
    arch_json = dict(stem_size=ARCH_3N["stem_size"], block_strings=ARCH_3N["block_strings"],
                     msfa_out_channels=width, msfa_output_resolution=res)
    model.config.vision_config.model_args = None
    model.config.vision_config.gemma_tune_architecture = arch_json
    meta["saved"] = tf.save_model(model, model_dir)
    # from_pretrained cannot rebuild the replaced MSFA, so the model in memory is the reference: the saved tensors
    # must be exactly its state.
    st_path = os.path.join(model_dir, "model.safetensors")
    saved_sd = tf.load_file(st_path)
    sd = model.state_dict()
    renamed = sorted(k for k in saved_sd if k not in sd)
    differ = sorted(k for k in saved_sd if k in sd and not torch.equal(sd[k], saved_sd[k]))
    not_saved = sorted(set(sd) - set(saved_sd))
    needed = ("model.vision_tower.", "model.embed_vision.", "model.language_model.")
    if renamed or differ or any(k.startswith(needed) for k in not_saved):
        # save_pretrained renamed or left out tensors the C++ test reads by their module names (e.g. a key fix-up
        # of timm's layer_scale.gamma): write the state dict itself, as the tower fixture does.
        tf.save_file({k: v.detach().contiguous() for k, v in sd.items() if not k.startswith("lm_head.")}, st_path,
                     metadata={"format": "pt"})
        meta["saved"]["rewritten"] = dict(why="save_pretrained's names are not the state_dict's", renamed=renamed[:20],
                                          differ=differ[:20], not_saved=not_saved[:20])
        log(f"[{case}] model.safetensors rewritten from state_dict(): {meta['saved']['rewritten']}")
        not_saved = sorted(k for k in sd if k.startswith("lm_head."))
    meta["saved"]["not_saved"] = not_saved
    meta["attn_implementation"] = getattr(model.config.get_text_config(), "_attn_implementation", None)
    with open(os.path.join(root, "arch.json"), "w") as f:
        json.dump(ARCH_3N, f, indent=1)
        f.write("\n")
    with open(os.path.join(model_dir, "preprocessor_config.json"), "w") as f:
        json.dump(imf.GEMMA3N_CONFIG, f, indent=1)
        f.write("\n")

    # images: formula drawings at 768 x 768 through the released processor settings
    u8 = [formula_image(i) for i in range(2)]
    files = []
    for i, a in enumerate(u8):
        name = f"image{i}.png"
        save_png(PIL.Image.fromarray(np.ascontiguousarray(a.transpose(1, 2, 0)), "RGB"), os.path.join(root, name))
        files.append(name)
    try:
        proc = AutoImageProcessor.from_pretrained(model_dir)
        meta["processor_loaded_from"] = "AutoImageProcessor.from_pretrained(model/) (preprocessor_config.json)"
    except Exception as e:  # noqa: BLE001  (recorded; the class itself with the same settings)
        from transformers import SiglipImageProcessor
        kw = {k: v for k, v in imf.GEMMA3N_CONFIG.items() if k != "image_processor_type"}
        proc = SiglipImageProcessor(**kw)
        meta["processor_loaded_from"] = f"SiglipImageProcessor(**settings) (AutoImageProcessor failed: {e!r})"
    meta["processor"] = dict(cls=type(proc).__name__, size=str(proc.size), resample=str(proc.resample),
                             do_normalize=proc.do_normalize, rescale_factor=proc.rescale_factor)

    def process(images):
        pv = proc(images=images, return_tensors="pt")["pixel_values"]
        if tuple(pv.shape) != (len(images), 3, GEMMA3N_SIDE, GEMMA3N_SIDE) or pv.dtype != torch.float32:
            raise RuntimeError(f"processor pixel_values {tuple(pv.shape)} {pv.dtype}")
        return pv
    pv = process([PIL.Image.fromarray(np.ascontiguousarray(a.transpose(1, 2, 0)), "RGB") for a in u8])
    levels, lut, rule = g4v.pixel_lookup(pv)
    if levels is None or not torch.equal(levels, torch.from_numpy(np.stack(u8))):
        raise RuntimeError("the processor's pixel_values are not the formula images times a uint8 lookup")
    meta["pixel_lookup_rule"] = rule
    meta["formula"] = FORMULA
    n_tok = config.vision_soft_tokens_per_image
    meta["images"] = [dict(file=f, width=GEMMA3N_SIDE, height=GEMMA3N_SIDE, soft_tokens=n_tok) for f in files]
    meta["images_per_row"] = [list(r) for r in GEMMA3N_ROWS]
    meta["soft_tokens_per_image"] = [n_tok] * len(files)
    with torch.no_grad():
        feats = model.model.get_image_features(pv, return_dict=True).pooler_output
    if tuple(feats.shape[:2]) != (len(files), n_tok):
        raise RuntimeError(f"get_image_features gives {tuple(feats.shape)}, expected ({len(files)}, {n_tok}, D)")

    t = tf.GEMMA3N_TOKENS
    img = span(t["boi_token_id"], t["image_token_id"], t["eoi_token_id"], n_tok)
    gen = torch.Generator().manual_seed(SEED + 3)
    ids = lambda k: torch.randint(3, 222, (k,), generator=gen).tolist()  # noqa: E731
    r0 = [2] + ids(4) + img + ids(5)
    r1 = [2] + ids(3) + img + ids(4)
    input_ids, mask, labels = make_batch([(r0 + ids(8), len(r0)), (r1 + ids(6), len(r1))])
    meta["inputs"] = dict(B=2, T=int(input_ids.shape[1]),
                          rows="row 0: <bos> 4 ids | <start_of_image> 256 x <image_soft_token> <end_of_image> | "
                               "5 ids | answer 8 ids (trained); row 1: <bos> 3 ids | image 1 span | 4 ids | answer 6 "
                               "ids. <end_of_image> (224) lies in embed_vision's hard range [224, 240).")
    inputs = dict(input_ids=input_ids, attention_mask=mask, labels=labels, pixel_values=pv)
    expected = {}
    reference_runs(model, inputs, GEMMA3N_ROWS, meta, expected)
    png_eval_loss(model, inputs, lambda: (process([load_image(os.path.join(root, f)) for f in files]), {}), meta,
                  expected)
    saved = dict(input_ids=input_ids, attention_mask=mask, labels=labels, pixel_lut=lut,
                 num_soft_tokens=torch.tensor([n_tok] * len(files), dtype=torch.long),
                 formula_sums=torch.tensor([int(a.astype(np.int64).sum()) for a in u8], dtype=torch.long))
    finish_case(root, model, inputs, saved, meta, expected)


# ---------------------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/vision/model")
    ap.add_argument("--cases", default="gemma4-image,gemma4-audiovisual,gemma3n-image")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(a.out, exist_ok=True)
    cases = a.cases.split(",")
    for case in cases:
        shutil.rmtree(os.path.join(a.out, case), ignore_errors=True)
        os.makedirs(os.path.join(a.out, case))
    status = {}

    def run(case, fn, *args):
        try:
            fn(*args)
            status[case] = f"ok, {tf.folder_size(os.path.join(a.out, case))} bytes"
        except Exception:  # noqa: BLE001  (keep the other cases)
            status[case] = "FAILED\n" + traceback.format_exc()
            shutil.rmtree(os.path.join(a.out, case), ignore_errors=True)
        log(f"== {case}: {status[case]}")

    if any(c.startswith("gemma4-") for c in cases):
        if "gemma4-audiovisual" in cases and "gemma4-image" not in cases:
            sys.exit("gemma4-audiovisual uses gemma4-image/model: make both")
        try:
            g = gemma4_model(a.out)
        except Exception:  # noqa: BLE001
            g = None
            for c in ("gemma4-image", "gemma4-audiovisual"):
                if c in cases:
                    status[c] = "FAILED (building the model)\n" + traceback.format_exc()
                    shutil.rmtree(os.path.join(a.out, c), ignore_errors=True)
                    log(f"== {c}: {status[c]}")
        if g is not None:
            if "gemma4-image" in cases:
                run("gemma4-image", gemma4_image_case, a.out, g)
            if "gemma4-audiovisual" in cases:
                run("gemma4-audiovisual", gemma4_audiovisual_case, a.out, g)
    if "gemma3n-image" in cases:
        run("gemma3n-image", gemma3n_image_case, a.out)
    log("summary:")
    for k, v in status.items():
        log(f"  {k}: {v.splitlines()[0]}")
    log("total bytes", tf.folder_size(a.out))
    sys.exit(0 if all(v.startswith("ok") for v in status.values()) else 1)


if __name__ == "__main__":
    main()
