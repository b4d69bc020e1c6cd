#!/usr/bin/env python3
"""Builds Tests/Fixtures/images/qwen/: goldens for the Qwen2-VL / Qwen2.5-VL image processor.

Reference (requirements.txt): transformers 5.24.0 `Qwen2VLImageProcessorPil` (the PIL backend; with
torchvision installed 5.24 would otherwise pick the torchvision one, whose resize differs) and its
`smart_resize`; Qwen2.5-VL uses the same processor. Images enter as the engine decodes them:
`Image.fromarray(np.asarray(Image.open(f).convert("RGB")))` (see ../README.md on alpha).

Written:
  manifest.json      smart_resize cases {height, width, factor, min_pixels, max_pixels, result | error}
                     (FAMILIES.md's vectors plus a deterministic sweep), and per image and pixel
                     budget: grid_thw, the [patches, 1176] shape, the FNV-1a-64 of the float32
                     little-endian pixel_values and its first 8 values
  odd_size.f32       the whole pixel_values of synthetic/odd_size.jpg (97x61), for diagnostics
  preprocessor_config.json   the processor as 5.24 saves it with Qwen2-VL-7B's min/max pixels
Run from the repository root; deterministic (re-running leaves `git status` clean).
"""
import json
import os
import random
import sys
import tempfile

import numpy as np
from PIL import Image
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil, smart_resize

sys.path.insert(0, os.path.dirname(__file__))
from common import FIXTURES  # noqa: E402
from make_image_fixtures import fnv_array  # noqa: E402

IMAGES = os.path.join(FIXTURES, "images")
OUT = os.path.join(IMAGES, "qwen")
MIN_PIXELS, MAX_PIXELS = 3136, 12845056           # Qwen2-VL-7B-Instruct's preprocessor_config.json
VECTORS = [(70, 70, None), (126, 98, None), (350, 350, None), (100, 150, None), (23, 3, None),
           (14, 2800, None), (1, 150, None), (1080, 1920, None), (1080, 1920, 1003520), (1, 201, None),
           (1, 200, None), (3, 601, None), (56, 56, None), (42, 42, None), (4000, 3000, None),
           (65535, 400, None), (28, 28, 784), (300, 451, 200704)]
IMAGE_FILES = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "horse.png", "hubble_deep_field.jpg",
               "rocket.jpg", "synthetic/wide.png", "synthetic/thin.png", "synthetic/portrait.png",
               "synthetic/odd_size.jpg"]
BUDGETS = [(MIN_PIXELS, MAX_PIXELS), (MIN_PIXELS, 200704), (200704, 1003520)]


def resize_case(h, w, factor, lo, hi):
    case = {"height": h, "width": w, "factor": factor, "min_pixels": lo, "max_pixels": hi}
    try:
        case["result"] = list(smart_resize(h, w, factor=factor, min_pixels=lo, max_pixels=hi))
    except ValueError as e:
        case["error"] = str(e)
    return case


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = [resize_case(h, w, 28, MIN_PIXELS, hi or MAX_PIXELS) for h, w, hi in VECTORS]
    rng = random.Random(15)
    for _ in range(300):
        h, w = rng.randint(1, 5000), rng.randint(1, 5000)
        if rng.random() < 0.3:
            h = rng.randint(1, 60)
        lo = rng.choice([3136, 4 * 28 * 28, 256 * 28 * 28])
        hi = rng.choice([lo, 1003520, 12845056, 16384 * 28 * 28])
        cases.append(resize_case(h, w, rng.choice([28, 28, 32]), lo, max(lo, hi)))

    pixels = []
    for name in IMAGE_FILES:
        rgb = Image.fromarray(np.asarray(Image.open(os.path.join(IMAGES, name)).convert("RGB")), "RGB")
        for lo, hi in BUDGETS:
            proc = Qwen2VLImageProcessorPil(min_pixels=lo, max_pixels=hi)
            out = proc(images=rgb, return_tensors="np")
            pv = np.asarray(out["pixel_values"], dtype=np.float32)
            grid = [int(x) for x in out["image_grid_thw"][0]]
            assert pv.shape == (grid[1] * grid[2], 1176), pv.shape
            pixels.append({"file": name, "min_pixels": lo, "max_pixels": hi, "grid_thw": grid,
                           "shape": list(pv.shape), "fnv": fnv_array(pv),
                           "first": [float(x) for x in pv.reshape(-1)[:8]]})
            if name == "synthetic/odd_size.jpg" and hi == MAX_PIXELS:
                pv.astype("<f4").tofile(os.path.join(OUT, "odd_size.f32"))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"format": __doc__.split("Written:")[1].split("Run from")[0].strip(),
                   "smart_resize": cases, "pixels": pixels}, f, indent=1)
        f.write("\n")
    with tempfile.TemporaryDirectory() as tmp:
        Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS).save_pretrained(tmp)
        config = json.load(open(os.path.join(tmp, "preprocessor_config.json")))
    with open(os.path.join(OUT, "preprocessor_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"{len(cases)} smart_resize cases, {len(pixels)} pixel tensors")


if __name__ == "__main__":
    main()
