#!/usr/bin/env python3
"""Builds Tests/Fixtures/images/: test photos, synthetic images, bad inputs and the goldens that
YOPOImageTests compare against.

References (pinned in requirements.txt): Pillow 13.0.0 for decoding (`Image.open(f).convert("RGB")`)
and BICUBIC resampling, transformers 5.24.0 `CLIPImageProcessorPil` (the PIL backend, *not* the
torchvision one) for resize / centre crop / rescale / normalise. The original LLaVA `pad` path is
`expand2square` (LLaVA's `llava/mm_utils.py`) followed by the same processor.

Layout written (all paths relative to Tests/Fixtures/images/):
  *.png, *.jpg the seven photos of shared/images, unchanged (flat, shared with the model fixtures)
  synthetic/   small generated images, one per decoder path (see SYNTHETIC below)
  invalid/     inputs that must be rejected with a clear error
  goldens/     manifest.json plus raw little-endian blobs:
               *.u8   uint8 interleaved RGB, row-major (H, W, 3)
               *.f32  float32 CHW (3, H, W)
Fingerprints in the manifest are 64-bit FNV-1a of the raw bytes, as 16 lower-case hex digits.

Run from the repository root:  python3 Tools/reference/make_image_fixtures.py
The output is deterministic: re-running it leaves `git status` clean.
"""
import io
import json
import os
import random
import shutil
import struct
import sys
import warnings
import zlib

import numpy as np
import PIL
from PIL import Image, JpegImagePlugin

sys.path.insert(0, os.path.dirname(__file__))
from common import FIXTURES, SHARED  # noqa: E402

OUT = os.path.join(FIXTURES, "images")
PHOTOS = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "horse.png",
          "hubble_deep_field.jpg", "rocket.jpg"]
# Photos whose full float32 pixel tensors are stored (1.35 MB per mode); every other image's tensor is
# checked through its FNV fingerprint and through the value table in `normalize_table`.
F32_PHOTOS = ["chelsea.png"]
SIDE = 336


def fnv1a64(data: bytes) -> str:
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def fnv_array(a: np.ndarray) -> str:
    # numpy tobytes on a C-contiguous little-endian array is the byte order the Swift tests hash.
    return fnv1a64(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())


# ----------------------------------------------------------------------------------------------
# A minimal PNG writer for the layouts Pillow cannot save (16-bit RGB/RGBA/LA, 2-bit grey,
# Adam7 interlacing). Every row uses filter type 0; libpng unfiltering is exercised by the photos.
# ----------------------------------------------------------------------------------------------
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)


def _pack_row(samples: np.ndarray, bit_depth: int) -> bytes:
    """samples: 1-D array of channel samples for one row."""
    if bit_depth == 16:
        return samples.astype(">u2").tobytes()
    if bit_depth == 8:
        return samples.astype(np.uint8).tobytes()
    per_byte = 8 // bit_depth
    out = bytearray()
    for i in range(0, len(samples), per_byte):
        byte = 0
        group = samples[i:i + per_byte]
        for j, v in enumerate(group):
            byte |= int(v) << (8 - bit_depth * (j + 1))
        out.append(byte)
    return bytes(out)


def write_png(path, pixels: np.ndarray, bit_depth: int, color_type: int, interlace=False, plte=None, trns=None):
    """pixels: (H, W, C) array of samples in the PNG's own depth."""
    h, w = pixels.shape[:2]
    pixels = pixels.reshape(h, w, -1)
    raw = bytearray()
    if not interlace:
        for y in range(h):
            raw += b"\x00" + _pack_row(pixels[y].reshape(-1), bit_depth)
    else:
        for x0, y0, dx, dy in ADAM7:
            sub = pixels[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for y in range(sub.shape[0]):
                raw += b"\x00" + _pack_row(sub[y].reshape(-1), bit_depth)
    data = b"\x89PNG\r\n\x1a\n"
    data += _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0))
    if plte is not None:
        data += _chunk(b"PLTE", bytes(plte))
    if trns is not None:
        data += _chunk(b"tRNS", bytes(trns))
    data += _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    data += _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


# ----------------------------------------------------------------------------------------------
# Synthetic images
# ----------------------------------------------------------------------------------------------
def gradient(w, h, seed):
    """Smooth colour ramps with a little deterministic noise, (H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1))
    g = (y * 255 // max(h - 1, 1))
    b = ((x + y) * 4) % 256
    img = np.stack([r, g, b], axis=-1).astype(np.int32) + rng.integers(-12, 13, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def photo_crop(name, box, size):
    im = Image.open(os.path.join(SHARED, "images", name)).convert("RGB")
    return im.crop(box).resize(size, Image.Resampling.LANCZOS)


def make_synthetic(sdir):
    os.makedirs(sdir, exist_ok=True)
    made = []

    def save(name, im, **kw):
        im.save(os.path.join(sdir, name), **kw)
        made.append(name)

    # RGBA with fully transparent, half transparent and opaque regions whose RGB is not black, so
    # "drop alpha" and "composite" give visibly different answers.
    base = gradient(120, 90, 1)
    alpha = np.full((90, 120), 255, np.uint8)
    alpha[:, :40] = 0
    alpha[:, 40:80] = 128
    save("rgba.png", Image.fromarray(np.dstack([base, alpha]), "RGBA"))
    # LA (grey + alpha).
    grey = gradient(96, 64, 2)[..., 0]
    la_alpha = np.tile((np.arange(96) * 255 // 95).astype(np.uint8), (64, 1))
    save("la.png", Image.fromarray(np.dstack([grey, la_alpha]), "LA"))
    # P with a tRNS chunk of several alpha entries (16 colours).
    pal = Image.fromarray(gradient(100, 60, 3)).quantize(colors=16, dither=Image.Dither.NONE)
    warnings.filterwarnings("ignore", message="Palette images with Transparency")
    save("p_trns.png", pal, transparency=bytes([0, 64, 128, 192] + [255] * 12))
    # RGB with a single transparent colour (tRNS for colour type 2).
    rgb_t = gradient(64, 48, 4)
    rgb_t[:16, :16] = (10, 20, 30)
    save("rgb_trns.png", Image.fromarray(rgb_t), transparency=(10, 20, 30))
    # 1-bit greyscale.
    bits = (gradient(90, 70, 5)[..., 0] > 127).astype(np.uint8) * 255
    save("bilevel.png", Image.fromarray(bits).convert("1"))
    # Palette images at 4 bits (Pillow writes P;4 when bits=4).
    save("p4.png", Image.fromarray(gradient(80, 50, 6)).quantize(colors=16, dither=Image.Dither.NONE), bits=4)
    # Portrait and extreme aspect ratios (the photos are all landscape or square).
    save("portrait.png", photo_crop("coffee.png", (200, 0, 440, 400), (120, 200)))
    save("wide.png", Image.fromarray(gradient(200, 20, 7)))
    save("thin.png", Image.fromarray(gradient(3, 150, 8)))

    # PNG layouts written by the minimal encoder above.
    g16 = (gradient(64, 40, 9).astype(np.uint32) * 257 + np.arange(64)[None, :, None] * 3).astype(np.uint16)
    g16[0, 0] = [0x12AB, 0x34CD, 0xFF01]  # known samples: convert("RGB") keeps 0x12, 0x34, 0xFF
    write_png(os.path.join(sdir, "rgb16.png"), g16, 16, 2); made.append("rgb16.png")
    a16 = np.dstack([g16, (np.arange(64, dtype=np.uint32)[None, :].repeat(40, 0) * 1040).astype(np.uint16)])
    write_png(os.path.join(sdir, "rgba16.png"), a16, 16, 6); made.append("rgba16.png")
    write_png(os.path.join(sdir, "la16.png"), a16[..., [0, 3]], 16, 4); made.append("la16.png")
    # 16-bit grey spans the whole range: Pillow opens it as I;16 and clamps on convert("RGB").
    gy16 = ((np.arange(64)[None, :] * 1000 + np.arange(40)[:, None] * 7) % 65536).astype(np.uint16)
    gy16[0, :8] = [0, 1, 254, 255, 256, 257, 65534, 65535]
    write_png(os.path.join(sdir, "gray16.png"), gy16, 16, 0); made.append("gray16.png")
    g2 = (gradient(50, 30, 10)[..., 0] >> 6).astype(np.uint8)
    write_png(os.path.join(sdir, "gray2.png"), g2, 2, 0); made.append("gray2.png")
    write_png(os.path.join(sdir, "interlaced.png"), gradient(37, 29, 11), 8, 2, interlace=True)
    made.append("interlaced.png")

    # JPEGs. The two photo JPEGs are 4:4:4 baseline; add chroma-subsampled, progressive, grey, CMYK.
    scene = photo_crop("chelsea.png", (100, 20, 400, 245), (200, 150))
    save("baseline420.jpg", scene, quality=85, subsampling=2)
    save("baseline422.jpg", scene, quality=90, subsampling=1)
    save("progressive.jpg", scene, quality=80, subsampling=2, progressive=True)
    save("gray.jpg", scene.convert("L"), quality=85)
    save("cmyk.jpg", scene.convert("CMYK"), quality=90)
    save("odd_size.jpg", photo_crop("rocket.jpg", (0, 0, 640, 427), (97, 61)), quality=75, subsampling=2)
    return made


def make_invalid(idir, sdir):
    os.makedirs(idir, exist_ok=True)
    with open(os.path.join(sdir, "baseline420.jpg"), "rb") as f:
        jpg = f.read()
    with open(os.path.join(sdir, "portrait.png"), "rb") as f:
        png = f.read()
    open(os.path.join(idir, "empty.png"), "wb").close()
    with open(os.path.join(idir, "truncated.jpg"), "wb") as f:
        f.write(jpg[: len(jpg) // 2])
    with open(os.path.join(idir, "truncated.png"), "wb") as f:
        f.write(png[: len(png) // 2])
    # A flipped bit in the IHDR checksum: the header itself is intact, only its CRC is wrong.
    bad = bytearray(png)
    bad[8 + 8 + 13] ^= 0x01  # signature, length + type, 13 bytes of IHDR data, then the CRC
    with open(os.path.join(idir, "bad_crc.png"), "wb") as f:
        f.write(bytes(bad))
    # A flipped bit inside the first IDAT payload (the zlib stream breaks before the CRC is read).
    idat = png.index(b"IDAT")
    bad = bytearray(png)
    bad[idat + 40] ^= 0x01
    with open(os.path.join(idir, "corrupt_idat.png"), "wb") as f:
        f.write(bytes(bad))
    # A 30000 x 30000 header followed by a tiny IDAT: must be refused before any pixel allocation.
    bomb = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
    bomb += _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b"")
    with open(os.path.join(idir, "huge_header.png"), "wb") as f:
        f.write(bomb)
    with open(os.path.join(idir, "not_an_image.png"), "w") as f:
        f.write("This is a text file with a .png extension.\n")
    small = Image.fromarray(gradient(40, 30, 12))
    small.save(os.path.join(idir, "unsupported.webp"), quality=80)
    small.save(os.path.join(idir, "unsupported.gif"))
    small.save(os.path.join(idir, "unsupported.bmp"))
    # Pillow must refuse the bad inputs too; otherwise the fixture tests nothing.
    for name in ["empty.png", "truncated.jpg", "truncated.png", "bad_crc.png", "corrupt_idat.png",
                 "not_an_image.png"]:
        try:
            Image.open(os.path.join(idir, name)).convert("RGB")
        except Exception:
            continue
        raise AssertionError(f"Pillow accepted invalid fixture {name}")


# ----------------------------------------------------------------------------------------------
# Goldens
# ----------------------------------------------------------------------------------------------
def processor(side=SIDE):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    return CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side})


def expand2square(pil_img, background_color):
    """LLaVA's llava/mm_utils.py expand2square, restated."""
    width, height = pil_img.size
    if width == height:
        return pil_img
    side = max(width, height)
    result = Image.new(pil_img.mode, (side, side), background_color)
    result.paste(pil_img, ((side - width) // 2, (side - height) // 2))
    return result


def run_modes(rgb, proc):
    """Returns {mode: (uint8 HWC resized+cropped, float32 CHW tensor)} through transformers."""
    fill = tuple(int(m * 255) for m in proc.image_mean)
    out = {}
    for mode in ("pad", "crop"):
        src = expand2square(rgb, fill) if mode == "pad" else rgb
        u8 = proc(src, return_tensors="np", do_rescale=False, do_normalize=False)["pixel_values"][0]
        f32 = proc(src, return_tensors="np")["pixel_values"][0]
        assert u8.dtype == np.uint8 and f32.dtype == np.float32, (u8.dtype, f32.dtype)
        out[mode] = (np.ascontiguousarray(u8.transpose(1, 2, 0)), np.ascontiguousarray(f32))
    return out


def independent_resize_check(rgb, u8, mode, side, fill):
    """Restates the pipeline with Pillow alone: proves the goldens are Pillow BICUBIC + floor crops."""
    src = expand2square(rgb, fill) if mode == "pad" else rgb
    w, h = src.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(side * long / short)
    size = (side, new_long) if w <= h else (new_long, side)
    r = np.asarray(src.resize(size, Image.Resampling.BICUBIC))
    top, left = (size[1] - side) // 2, (size[0] - side) // 2
    assert np.array_equal(r[top:top + side, left:left + side], u8), "transformers differs from plain Pillow"


def normalize_table(proc):
    """Every uint8 value of every channel through transformers: a 16x16 image without resize."""
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    i = np.arange(256)
    img = np.stack([i, 255 - i, (i * 37) % 256], axis=-1).astype(np.uint8).reshape(16, 16, 3)
    p16 = CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16},
                                image_mean=proc.image_mean, image_std=proc.image_std)
    f32 = p16(Image.fromarray(img), return_tensors="np")["pixel_values"][0]
    return img, f32


# Fuzz source: a deterministic pattern both Python and Swift compute from (x, y, channel).
def fuzz_source(w, h):
    x = np.arange(w, dtype=np.uint64)[None, :]
    y = np.arange(h, dtype=np.uint64)[:, None]
    m = np.uint64(0xFFFFFFFF)
    hsh = ((x * np.uint64(73856093)) ^ (y * np.uint64(19349663))) & m
    hsh = ((hsh ^ (hsh >> np.uint64(13))) * np.uint64(0x5BD1E995)) & m
    hsh = hsh ^ (hsh >> np.uint64(15))
    noise = (hsh & np.uint64(255)).astype(np.uint8)                                   # channel 0: noise
    ramp = ((x * np.uint64(255) // np.uint64(max(w - 1, 1))) + y * np.uint64(0)).astype(np.uint8)  # 1: ramp
    blocks = ((((x // np.uint64(5)) + (y // np.uint64(3))) % np.uint64(2)) * np.uint64(255)).astype(np.uint8)
    return np.dstack([noise, np.broadcast_to(ramp, (h, w)), np.broadcast_to(blocks, (h, w))])


FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
           "box": Image.Resampling.BOX, "hamming": Image.Resampling.HAMMING,
           "lanczos": Image.Resampling.LANCZOS}


def fuzz_cases():
    rnd = random.Random(20240517)
    cases = [(2, 2, 1, 1, "bicubic"), (1, 1, 1, 1, "bicubic"), (1, 1, 600, 1, "bicubic"),
             (1, 1, 1, 600, "bicubic"), (600, 600, 1, 1, "bicubic"), (224, 323, 336, 485, "bicubic"),
             (451, 300, 505, 336, "bicubic"), (600, 1, 3, 1, "bicubic"), (7, 600, 7, 13, "bicubic"),
             (600, 9, 17, 9, "bicubic"), (5, 3, 600, 599, "bicubic"), (512, 512, 336, 336, "bicubic"),
             # Pass-order boundary (Pillow 13: vertical first iff in_h > out_h and
             # in_h − out_h > 2·(in_w − out_w)): equal, one above, one below; and width growing.
             (20, 30, 15, 20, "bicubic"), (20, 31, 15, 20, "bicubic"), (21, 31, 15, 20, "bicubic"),
             (2, 12, 1, 8, "bicubic"), (5, 11, 13, 1, "bicubic")]
    for _ in range(96):
        small = rnd.random() < 0.3
        hi = 16 if small else 600
        cases.append((rnd.randint(1, hi), rnd.randint(1, hi), rnd.randint(1, hi), rnd.randint(1, hi), "bicubic"))
    for name in ["bilinear", "box", "hamming", "lanczos"]:
        for _ in range(8):
            cases.append((rnd.randint(1, 300), rnd.randint(1, 300), rnd.randint(1, 300), rnd.randint(1, 300), name))
    return cases


def main():
    assert PIL.__version__ == "13.0.0", f"Pillow 13.0.0 required, found {PIL.__version__}"
    import transformers
    assert transformers.__version__ == "5.24.0", f"transformers 5.24.0 required, found {transformers.__version__}"

    pdir = OUT
    sdir, idir, gdir = (os.path.join(OUT, d) for d in ("synthetic", "invalid", "goldens"))
    for d in (sdir, idir, gdir):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(pdir, exist_ok=True)
    for name in PHOTOS:
        shutil.copyfile(os.path.join(SHARED, "images", name), os.path.join(pdir, name))
    synthetic = make_synthetic(sdir)
    make_invalid(idir, sdir)
    os.makedirs(gdir)
    with open(os.path.join(gdir, ".gitattributes"), "w") as f:
        f.write("# Raw little-endian pixel and tensor dumps: never line-ending-normalised, never text-diffed.\n"
                "*.u8 binary\n*.f32 binary\n")

    proc = processor()
    proc.save_pretrained(gdir)  # goldens/preprocessor_config.json, as transformers 5.24 writes it
    fill = tuple(int(m * 255) for m in proc.image_mean)
    assert fill == (122, 116, 104), fill

    written = {}  # fingerprint -> file, so identical goldens (pad == crop on square photos) share a file

    def write(name, array):
        key = (fnv_array(array), array.dtype.str, array.shape)
        if key in written:
            return written[key]
        written[key] = name
        with open(os.path.join(gdir, name), "wb") as f:
            f.write(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())
        return name

    images = []
    for folder, names in (("", PHOTOS), ("synthetic", synthetic)):
        for name in names:
            path = os.path.join(OUT, folder, name)
            im = Image.open(path)
            pil_mode, fmt = im.mode, im.format
            info = {"file": os.path.join(folder, name), "format": fmt, "pillow_mode": pil_mode,
                    "width": im.size[0], "height": im.size[1]}
            if fmt == "JPEG":
                info["jpeg_subsampling"] = JpegImagePlugin.get_sampling(im)
                info["progressive"] = bool(im.info.get("progressive", 0))
            dec = np.asarray(im.convert("RGB"))
            # A fresh image without `info`: convert("RGB") keeps an RGB tRNS colour in
            # info["transparency"], and transformers 5.24's convert_to_rgb would then composite
            # that colour onto white. The goldens define the pipeline on the converted pixels.
            rgb = Image.fromarray(dec, "RGB")
            stem = f"{folder or 'photo'}_{os.path.splitext(name)[0]}"
            info["decoded_fnv"] = fnv_array(dec)
            if folder == "synthetic":
                info["decoded"] = write(f"{stem}.decoded.u8", dec)
            modes = run_modes(rgb, proc)
            for mode, (u8, f32) in modes.items():
                independent_resize_check(rgb, u8, mode, SIDE, fill)
                entry = {"resized_fnv": fnv_array(u8), "pixels_fnv": fnv_array(f32)}
                if folder == "":
                    entry["resized"] = write(f"{stem}.{mode}.u8", u8)
                    if name in F32_PHOTOS:
                        entry["pixels"] = write(f"{stem}.{mode}.f32", f32)
                info[mode] = entry
            images.append(info)
            print(f"{info['file']}: {pil_mode} {im.size}")

    # The 224-pixel configuration on one photo: proves the sizes come from the config (PRE-6).
    proc224 = processor(224)
    chelsea = Image.fromarray(np.asarray(Image.open(os.path.join(pdir, "chelsea.png")).convert("RGB")), "RGB")
    clip224 = {mode: {"resized_fnv": fnv_array(u8), "pixels_fnv": fnv_array(f32)}
               for mode, (u8, f32) in run_modes(chelsea, proc224).items()}

    table_img, table_f32 = normalize_table(proc)
    write("normalize_table.input.u8", table_img)
    write("normalize_table.f32", table_f32)

    fuzz = []
    for (iw, ih, ow, oh, filt) in fuzz_cases():
        src = Image.fromarray(fuzz_source(iw, ih), "RGB")
        out = np.asarray(src.resize((ow, oh), FILTERS[filt]))
        fuzz.append({"in": [iw, ih], "out": [ow, oh], "filter": filt, "fnv": fnv_array(out)})
    # A few full outputs so a failing kernel can report where it differs, not only that it does.
    fuzz_full = []
    for (iw, ih, ow, oh) in [(37, 23, 11, 29), (2, 2, 1, 1), (13, 7, 40, 3), (2, 12, 1, 8), (20, 31, 15, 20)]:
        out = np.asarray(Image.fromarray(fuzz_source(iw, ih), "RGB").resize((ow, oh), Image.Resampling.BICUBIC))
        fuzz_full.append({"in": [iw, ih], "out": [ow, oh], "filter": "bicubic",
                          "file": write(f"fuzz_{iw}x{ih}_to_{ow}x{oh}.u8", out)})
    # The fuzz source itself, so a wrong pattern in the Swift port is caught before the kernel is blamed.
    src_probe = fuzz_source(31, 17)

    manifest = {
        "generator": "Tools/reference/make_image_fixtures.py",
        "pillow": PIL.__version__,
        "transformers": transformers.__version__,
        "processor": "CLIPImageProcessorPil (PIL backend)",
        "side": SIDE,
        "pad_fill": list(fill),
        "images": images,
        "clip224_chelsea": clip224,
        "normalize_table": {"input": "normalize_table.input.u8", "pixels": "normalize_table.f32",
                            "width": 16, "height": 16},
        "fuzz_source_31x17_fnv": fnv_array(src_probe),
        "fuzz": fuzz,
        "fuzz_full": fuzz_full,
    }
    with open(os.path.join(gdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(OUT) for n in ns)
    print(f"{len(images)} images, {len(fuzz)} fuzz cases, {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
