#!/usr/bin/env python3
"""Parity fixtures for image decoding and the two families' image processors, made with the reference code of
transformers 5.17 (transformers.image_utils.load_image with PIL; Gemma4ImageProcessor and Gemma 3n's
SiglipImageProcessor, the torchvision backends that AutoImageProcessor loads).

Run on the GPU machine (transformers 5.17, torch, torchvision, PIL, numpy, safetensors), from the repository root:
    python3 tools/make_image_fixtures.py --out tests/fixtures/images
Everything runs on the CPU, as the processors do by default. Inputs: the committed images of
tests/fixtures/images/decode/ (tools/make_test_images.sh) and "formula" images that the C++ tests build the same way:
    v[c, y, x] = ((x * 251) // W + ((y * 241) // H) * (c + 1) + ((x // 8 + y // 8) % 2) * 64 + ((x * y + 13 * c) % 17))
                 % 256          (uint8, c = 0..2 the RGB channel, integer arithmetic)

Output under --out:
  pil/expected.safetensors  <file name>      uint8 [H, W, 3]  np.asarray(load_image(path)) for every decode/ image
                            raw.<file name>  uint8 [H, W, 4]  PIL's CMYK pixels of the CMYK JPEGs, before conversion
  pil/meta.json             versions, per image: PIL's format, mode, size, EXIF orientation, info, warnings; "errors":
                            what load_image does with damaged copies (truncated at half, last bytes cut, empty, text)
  gemma4/expected.safetensors, gemma3n/expected.safetensors   per case <c>:
      <c>.rows          uint8 [3, R, W']   rows <c>.row_index of the resized uint8 image (recovered from pixel_values,
                                           which the script checks equal uint8 * float32(1/255) bit for bit)
      <c>.row_index     int32 [R]          which rows (every k-th, plus the last), so the file stays small
      <c>.row_sums      int32 [3, H']      sum of every row of the resized image, per channel (covers all rows)
      <c>.col_sums      int32 [3, W']      sum of every column
      Gemma 4 only:     <c>.position_ids int16 [P_max, 2] (x, y; padding -1), <c>.pv_rows float32 [k, 768] and
                        <c>.pv_row_index int32 [k]: pixel_values rows around the end of the real patches (padding)
      Gemma 3n variants <c>.native.rows / <c>.float.rows when the uint8 kernel (torch's native uint8 resize) or the
                        float path (uint8 -> float32 -> interpolate -> round) differs from what the processor gave
      custom case:      gemma3n "photo_normalize" stores pixel_values rows as float32 (do_normalize true)
  gemma4/sizes.json         get_aspect_ratio_preserving_size on a grid of sizes x budgets (target or error)
  gemma4/config, gemma3n/config   the processor settings files the processors were loaded from (AutoImageProcessor),
                            read by the C++ settings reader too
  <family>/meta.json        versions, the settings the loaded processor reports, per case: input, budget, target size,
                            soft tokens, real/padded patches, the stored rows, and float-path / native-kernel stats
Regenerate with this script; never edit the numbers.
"""
import argparse
import inspect
import io
import json
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import traceback
import warnings

import numpy as np
import PIL
import PIL.features
import PIL.Image
import safetensors
import torch
import torchvision
import transformers
from safetensors.numpy import save_file
from torchvision.transforms.v2 import functional as tvF
from transformers import AutoImageProcessor
from transformers.image_utils import load_image
from transformers.models.gemma4.image_processing_gemma4 import get_aspect_ratio_preserving_size

DECODE_DIR = "tests/fixtures/images/decode"
ROW_BYTES_BUDGET = 60_000  # bytes of sampled rows stored per case
BUDGETS = (70, 140, 280, 560, 1120)

# Damaged copies: (image, how). "half": the first len // 2 bytes; "minus2": all but the last 2 bytes (a JPEG's EOI).
ERROR_CASES = [("photo.jpg", "half"), ("photo.jpg", "minus2"), ("rgb.png", "half"), ("rgb.png", "minus12"),
               ("lossy.webp", "half"), ("rgb24.bmp", "half"), ("lzw.tif", "half"), ("trans.gif", "half"),
               ("opaque.gif", "minus1")]

# Gemma 4 cases: (name, input, budget). Inputs: "file:<decode image>" or "formula:<H>x<W>".
GEMMA4_CASES = [
    ("photo_70", "file:photo.jpg", 70),
    ("photo_280", "file:photo.jpg", 280),
    ("gray_70", "file:gray.jpg", 70),
    ("f336x480_280", "formula:336x480", 280),
    ("f336x480_70", "formula:336x480", 70),    # already at its target size: no resize
    ("wide_280", "formula:50x2000", 280),
    ("wide_70", "formula:50x2000", 70),
    ("tiny_70", "formula:20x20", 70),
    ("tiny_280", "formula:20x20", 280),
    ("down_140", "formula:900x700", 140),
    ("tall_560", "formula:1000x300", 560),
]
GEMMA3N_CASES = [
    ("photo", "file:photo.jpg"),
    ("gray", "file:gray.jpg"),
    ("down", "formula:900x700"),
    ("wide", "formula:50x2000"),
    ("exact", "formula:768x768"),              # already 768x768: no resize
]

GEMMA4_CONFIG = {  # the image_processor object of a Gemma 4 processor_config.json (5.17's class defaults)
    "image_processor_type": "Gemma4ImageProcessor", "do_convert_rgb": True, "do_normalize": False,
    "do_rescale": True, "do_resize": True, "image_mean": [0.0, 0.0, 0.0], "image_std": [1.0, 1.0, 1.0],
    "max_soft_tokens": 280, "patch_size": 16, "pooling_kernel_size": 3, "resample": 3,
    "rescale_factor": 0.00392156862745098,
}
GEMMA3N_CONFIG = {  # preprocessor_config.json's image settings as the Gemma 3n converter writes them
    "image_processor_type": "SiglipImageProcessorFast", "do_convert_rgb": None, "do_normalize": False,
    "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    "resample": 2, "rescale_factor": 0.00392156862745098, "size": {"height": 768, "width": 768},
}


def log(*a):
    print(*a, flush=True)


def versions():
    v = dict(transformers=transformers.__version__, torch=torch.__version__, torchvision=torchvision.__version__,
             PIL=PIL.__version__, numpy=np.__version__, safetensors=safetensors.__version__,
             python=platform.python_version(), cpu_capability=torch.backends.cpu.get_cpu_capability())
    for feature in ("libjpeg_turbo", "webp", "libtiff", "zlib", "libpng"):
        try:
            v[f"PIL.{feature}"] = PIL.features.version(feature)
        except Exception as e:  # noqa: BLE001
            v[f"PIL.{feature}"] = f"? ({e})"
    return v


def formula_image(h, w):
    """[3, h, w] uint8, the formula of the module docstring."""
    y = np.arange(h, dtype=np.int64).reshape(1, h, 1)
    x = np.arange(w, dtype=np.int64).reshape(1, 1, w)
    c = np.arange(3, dtype=np.int64).reshape(3, 1, 1)
    v = ((x * 251) // w + ((y * 241) // h) * (c + 1) + ((x // 8 + y // 8) % 2) * 64 + ((x * y + 13 * c) % 17)) % 256
    return v.astype(np.uint8)


def input_image(spec):
    """PIL RGB image for a case input."""
    kind, arg = spec.split(":", 1)
    if kind == "file":
        return load_image(os.path.join(DECODE_DIR, arg))
    h, w = (int(s) for s in arg.split("x"))
    return PIL.Image.fromarray(np.ascontiguousarray(formula_image(h, w).transpose(1, 2, 0)), mode="RGB")


# ---------------------------------------------------------------------------------------------------------------
# Decoding

def decode_fixtures(out_dir):
    tensors, images = {}, {}
    for name in sorted(os.listdir(DECODE_DIR)):
        path = os.path.join(DECODE_DIR, name)
        entry = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with PIL.Image.open(path) as im:
                entry.update(format=im.format, mode=im.mode, size=list(im.size),
                             info={k: (v if isinstance(v, (int, float, str)) else type(v).__name__)
                                   for k, v in im.info.items() if isinstance(k, str)})
                try:
                    entry["exif_orientation"] = im.getexif().get(0x0112)
                except Exception as e:  # noqa: BLE001
                    entry["exif_error"] = repr(e)
                if im.mode == "CMYK":
                    tensors[f"raw.{name}"] = np.ascontiguousarray(np.asarray(im))
            try:
                rgb = np.asarray(load_image(path))
                assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, rgb.shape
                tensors[name] = np.ascontiguousarray(rgb)
                entry["rgb_shape"] = list(rgb.shape)
            except Exception as e:  # noqa: BLE001
                entry["load_image_error"] = f"{type(e).__name__}: {e}"
            entry["warnings"] = [str(w.message) for w in caught]
        images[name] = entry
        log(f"  {name}: {entry.get('format')} {entry.get('mode')} {entry.get('size')} "
            f"orientation {entry.get('exif_orientation')} -> {entry.get('rgb_shape', entry.get('load_image_error'))}")

    errors = {}
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(n, h) for n, h in ERROR_CASES] + [("<empty>", "empty"), ("<text>", "text")]
        for name, how in cases:
            if how == "empty":
                data = b""
            elif how == "text":
                data = b"hello, this is not an image\n" * 4
            else:
                data = open(os.path.join(DECODE_DIR, name), "rb").read()
                cut = len(data) // 2 if how == "half" else len(data) - int(how[len("minus"):])
                data = data[:cut]
            p = os.path.join(tmp, f"{how}_{name.strip('<>')}")
            open(p, "wb").write(data)
            key = f"{name}:{how}"
            try:
                rgb = np.asarray(load_image(p))
                errors[key] = dict(bytes=len(data), ok=True, shape=list(rgb.shape))
                tensors[f"damaged.{key}"] = np.ascontiguousarray(rgb)
            except Exception as e:  # noqa: BLE001
                errors[key] = dict(bytes=len(data), ok=False, error=f"{type(e).__name__}: {e}")
            log(f"  damaged {key}: {errors[key]}")

    os.makedirs(out_dir, exist_ok=True)
    save_file(tensors, os.path.join(out_dir, "expected.safetensors"))
    meta = dict(versions=versions(), command=" ".join(sys.argv), images=images, errors=errors,
                load_image_source=inspect.getsource(load_image))
    json.dump(meta, open(os.path.join(out_dir, "meta.json"), "w"), indent=1, sort_keys=True)


# ---------------------------------------------------------------------------------------------------------------
# Processors: shared storage of a resized uint8 image

def sample_rows(h, w):
    k = max(1, math.ceil(h * w * 3 / ROW_BYTES_BUDGET))
    return sorted(set(range(0, h, k)) | {h - 1})


def store_image(tensors, prefix, img, rows=None):
    """img: [3, H, W] uint8 torch tensor."""
    a = img.numpy()
    h, w = a.shape[1], a.shape[2]
    rows = rows if rows is not None else sample_rows(h, w)
    tensors[f"{prefix}.rows"] = np.ascontiguousarray(a[:, rows, :])
    tensors[f"{prefix}.row_index"] = np.asarray(rows, dtype=np.int32)
    tensors[f"{prefix}.row_sums"] = a.astype(np.int32).sum(axis=2).astype(np.int32)
    tensors[f"{prefix}.col_sums"] = a.astype(np.int32).sum(axis=1).astype(np.int32)
    return rows


def diff_stats(a, b):
    d = (a.to(torch.int32) - b.to(torch.int32)).abs()
    return dict(max_abs=int(d.max()), differing=int((d > 0).sum()), total=int(d.numel()))


def float_path(img_u8, size, mode):
    """torchvision's resize when it does not run the uint8 kernel: float32, interpolate, clamp (bicubic), round."""
    x = img_u8.to(torch.float32)[None]
    y = torch.nn.functional.interpolate(x, size=list(size), mode=mode, align_corners=False, antialias=True)[0]
    return y.clamp(0, 255).round().to(torch.uint8)


def native_uint8(img_u8, size, mode):
    """torch's own uint8 antialiased kernel, called directly."""
    return torch.nn.functional.interpolate(img_u8[None].contiguous(), size=list(size), mode=mode,
                                           align_corners=False, antialias=True)[0]


def exact_u8(pv, where):
    """pixel_values = uint8 * float32(1/255) exactly: recover the uint8 values and check bit for bit."""
    u8 = torch.round(pv * 255).clamp(0, 255).to(torch.uint8)
    again = u8.to(torch.float32) * (1 / 255)
    if not torch.equal(again, pv):
        raise AssertionError(f"{where}: pixel_values are not uint8 * float32(1/255)")
    return u8


# ---------------------------------------------------------------------------------------------------------------
# Gemma 4

def gemma4_sizes():
    rng = random.Random(20261206)
    sizes = [(224, 224), (480, 640), (1000, 300), (50, 2000), (20, 20), (2000, 50), (1, 1), (1, 5000), (5000, 1),
             (47, 47), (48, 48), (49, 49), (300, 1000), (768, 1024), (1080, 1920), (4032, 3024), (100, 100),
             (10, 3000), (3000, 10), (17, 4000), (33, 7), (336, 480), (900, 700), (1, 48), (48, 1), (2, 3000)]
    sizes += [(rng.randint(1, 4000), rng.randint(1, 4000)) for _ in range(40)]
    sizes += [(rng.randint(1, 60), rng.randint(1, 6000)) for _ in range(10)]
    out = []
    for h, w in sizes:
        for b in BUDGETS:
            try:
                th, tw = get_aspect_ratio_preserving_size(h, w, 16, 9 * b, 3)
                out.append(dict(h=h, w=w, budget=b, height=th, width=tw, tokens=(th // 16) * (tw // 16) // 9))
            except Exception as e:  # noqa: BLE001
                out.append(dict(h=h, w=w, budget=b, error=f"{type(e).__name__}: {e}"))
    return out


def gemma4_fixtures(out_dir):
    cfg_dir = os.path.join(out_dir, "config")
    os.makedirs(cfg_dir, exist_ok=True)
    json.dump({"image_processor": GEMMA4_CONFIG, "image_seq_length": 280, "processor_class": "Gemma4Processor"},
              open(os.path.join(cfg_dir, "processor_config.json"), "w"), indent=1)
    # AutoImageProcessor reads the image_processor object of processor_config.json; a flat preprocessor_config.json
    # (older checkpoints) is tried when that fails, and what worked is recorded.
    try:
        loaded = AutoImageProcessor.from_pretrained(cfg_dir)
        loaded_from = "processor_config.json (image_processor object)"
    except Exception as e:  # noqa: BLE001
        flat_dir = os.path.join(out_dir, "config_flat")
        os.makedirs(flat_dir, exist_ok=True)
        json.dump(GEMMA4_CONFIG, open(os.path.join(flat_dir, "preprocessor_config.json"), "w"), indent=1)
        loaded = AutoImageProcessor.from_pretrained(flat_dir)
        loaded_from = f"preprocessor_config.json (processor_config.json alone failed: {type(e).__name__}: {e})"
    settings = dict(loaded_from=loaded_from, cls=type(loaded).__name__, backend=getattr(loaded, "backend", "?"),
                    max_soft_tokens=loaded.max_soft_tokens, patch_size=loaded.patch_size,
                    pooling_kernel_size=loaded.pooling_kernel_size, resample=str(loaded.resample),
                    do_normalize=loaded.do_normalize, rescale_factor=loaded.rescale_factor)
    log(f"  gemma4 processor from {cfg_dir}: {settings}")
    cls = type(loaded)
    tensors, cases = {}, {}
    for name, spec, budget in GEMMA4_CASES:
        try:
            kwargs = {k: v for k, v in GEMMA4_CONFIG.items() if k != "image_processor_type"}
            proc = cls(**{**kwargs, "max_soft_tokens": budget})
            pil = input_image(spec)
            w, h = pil.size
            out = proc(images=[pil], return_tensors="pt")
            loaded_agrees = None
            if budget == loaded.max_soft_tokens:  # the processor loaded from the settings file must agree
                again = loaded(images=[pil], return_tensors="pt")
                loaded_agrees = bool(torch.equal(again["pixel_values"], out["pixel_values"]))
            pv, pos = out["pixel_values"][0], out["image_position_ids"][0]
            tokens = int(out["num_soft_tokens_per_image"][0])
            th, tw = get_aspect_ratio_preserving_size(h, w, 16, 9 * budget, 3)
            ph, pw = th // 16, tw // 16
            n_real, p_max = ph * pw, pv.shape[0]
            u8 = exact_u8(pv[:n_real], name)
            resized = u8.reshape(ph, pw, 16, 16, 3).permute(4, 0, 2, 1, 3).reshape(3, th, tw)
            src = tvF.pil_to_tensor(pil)
            direct = tvF.resize(src, [th, tw], interpolation=tvF.InterpolationMode.BICUBIC, antialias=True)
            if not torch.equal(direct, resized):
                log(f"  WARNING {name}: tvF.resize differs from the processor's pixel_values: {diff_stats(direct, resized)}")
            assert torch.all(pv[n_real:] == 0) and torch.all(pos[n_real:] == -1), name
            rows = store_image(tensors, name, resized)
            tensors[f"{name}.position_ids"] = pos.numpy().astype(np.int16)
            pv_rows = sorted({0, 1, n_real - 1, min(n_real, p_max - 1), p_max - 1})
            tensors[f"{name}.pv_rows"] = np.ascontiguousarray(pv[pv_rows].numpy())
            tensors[f"{name}.pv_row_index"] = np.asarray(pv_rows, dtype=np.int32)
            entry = dict(input=spec, input_hw=[h, w], budget=budget, target=[th, tw], soft_tokens=tokens,
                         real_patches=n_real, max_patches=p_max, rows=len(rows), resized=(th, tw) != (h, w),
                         loaded_processor_agrees=loaded_agrees)
            if (th, tw) != (h, w):
                entry["float_path_vs_processor"] = diff_stats(float_path(src, (th, tw), "bicubic"), resized)
                entry["native_uint8_vs_processor"] = diff_stats(native_uint8(src, (th, tw), "bicubic"), resized)
            else:
                assert torch.equal(resized, src), name
            cases[name] = entry
            log(f"  gemma4 {name}: {h}x{w} @{budget} -> {th}x{tw}, {tokens} tokens; {entry}")
        except Exception:  # noqa: BLE001  (recorded; the other cases go on)
            cases[name] = dict(input=spec, budget=budget, error=traceback.format_exc())
            log(f"  gemma4 {name} FAILED:\n{cases[name]['error']}")
    save_file(tensors, os.path.join(out_dir, "expected.safetensors"))
    meta = dict(versions=versions(), command=" ".join(sys.argv), settings=settings, config=GEMMA4_CONFIG,
                cases=cases, formula=__doc__.split("v[c, y, x] = ")[1].split("\n\nOutput")[0])
    json.dump(meta, open(os.path.join(out_dir, "meta.json"), "w"), indent=1, sort_keys=True)
    json.dump(gemma4_sizes(), open(os.path.join(out_dir, "sizes.json"), "w"), indent=0)


# ---------------------------------------------------------------------------------------------------------------
# Gemma 3n

def gemma3n_fixtures(out_dir):
    cfg_dir = os.path.join(out_dir, "config")
    os.makedirs(cfg_dir, exist_ok=True)
    json.dump(GEMMA3N_CONFIG, open(os.path.join(cfg_dir, "preprocessor_config.json"), "w"), indent=1)
    proc = AutoImageProcessor.from_pretrained(cfg_dir)
    settings = dict(cls=type(proc).__name__, backend=getattr(proc, "backend", "?"), size=str(proc.size),
                    resample=str(proc.resample), do_normalize=proc.do_normalize, do_rescale=proc.do_rescale,
                    rescale_factor=proc.rescale_factor, do_convert_rgb=proc.do_convert_rgb)
    try:
        from torchvision.transforms.v2.functional import _geometry
        native = _geometry._do_native_uint8_resize_on_cpu
        settings["native_uint8_bilinear_on_this_cpu"] = bool(native(tvF.InterpolationMode.BILINEAR))
        settings["native_uint8_bicubic_on_this_cpu"] = bool(native(tvF.InterpolationMode.BICUBIC))
        settings["torchvision_resize_source"] = inspect.getsource(native) + inspect.getsource(_geometry.resize_image)
    except Exception as e:  # noqa: BLE001
        settings["torchvision_resize_source"] = f"? ({type(e).__name__}: {e})"
    log(f"  gemma3n processor from {cfg_dir}: {settings}")
    tensors, cases = {}, {}
    for name, spec in GEMMA3N_CASES:
        try:
            pil = input_image(spec)
            w, h = pil.size
            pv = proc(images=[pil], return_tensors="pt")["pixel_values"][0]
            assert pv.shape == (3, 768, 768), pv.shape
            resized = exact_u8(pv, name)
            rows = store_image(tensors, name, resized)
            src = tvF.pil_to_tensor(pil)
            entry = dict(input=spec, input_hw=[h, w], rows=len(rows), resized=(h, w) != (768, 768))
            if (h, w) != (768, 768):
                for variant, fn in (("native", native_uint8), ("float", float_path)):
                    other = fn(src, (768, 768), "bilinear")
                    entry[f"{variant}_vs_processor"] = diff_stats(other, resized)
                    if not torch.equal(other, resized):
                        store_image(tensors, f"{name}.{variant}", other, rows)
            else:
                assert torch.equal(resized, src), name
            cases[name] = entry
            log(f"  gemma3n {name}: {entry}")
        except Exception:  # noqa: BLE001  (recorded; the other cases go on)
            cases[name] = dict(input=spec, error=traceback.format_exc())
            log(f"  gemma3n {name} FAILED:\n{cases[name]['error']}")
    # Normalisation on (the released settings have it off): the fused (x - mean * 255) / (std * 255) of the backend.
    norm = AutoImageProcessor.from_pretrained(cfg_dir, do_normalize=True)
    pv = norm(images=[input_image("file:photo.jpg")], return_tensors="pt")["pixel_values"][0]
    rows = [0, 100, 383, 767]
    tensors["photo_normalize.pv_rows"] = np.ascontiguousarray(pv[:, rows, :].numpy())
    tensors["photo_normalize.row_index"] = np.asarray(rows, dtype=np.int32)
    cases["photo_normalize"] = dict(input="file:photo.jpg", do_normalize=True, rows=rows)
    save_file(tensors, os.path.join(out_dir, "expected.safetensors"))
    meta = dict(versions=versions(), command=" ".join(sys.argv), settings=settings, config=GEMMA3N_CONFIG,
                cases=cases)
    json.dump(meta, open(os.path.join(out_dir, "meta.json"), "w"), indent=1, sort_keys=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/images")
    ap.add_argument("--only", default="pil,gemma4,gemma3n")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    log("versions:", json.dumps(versions()))
    status = 0
    for part, fn in (("pil", decode_fixtures), ("gemma4", gemma4_fixtures), ("gemma3n", gemma3n_fixtures)):
        if part not in args.only.split(","):
            continue
        log(f"== {part}")
        try:
            fn(os.path.join(args.out, part))
        except Exception:  # noqa: BLE001  (one part failing must not hide the others)
            traceback.print_exc()
            status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
