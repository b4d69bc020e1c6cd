#!/usr/bin/env python3
"""Copies a trained checkpoint with its weights rounded to bf16 (what is committed):

    python export_bf16.py SRC DST

The processor, tokenizer and chat template files are copied as they are; config.json records dtype
bfloat16. The goldens and RESULTS.md are computed from the exported (bf16-valued) weights.
"""
import os
import shutil
import sys

import torch
from transformers import LlavaForConditionalGeneration


def main():
    src, dst = sys.argv[1], sys.argv[2]
    model = LlavaForConditionalGeneration.from_pretrained(src, dtype=torch.float32)
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    model.to(torch.bfloat16).save_pretrained(dst)
    for name in sorted(os.listdir(src)):
        if name not in ("config.json", "model.safetensors", "generation_config.json") and os.path.isfile(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), os.path.join(dst, name))
    print(f"{dst}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters in bf16")


if __name__ == "__main__":
    main()
