#!/usr/bin/env python3
"""Builds Tests/Fixtures/tokenizer/qwen2/: Qwen2's byte-level BPE tokenizer as a `tokenizer.json`
(the layout Qwen2-VL / Qwen2.5-VL checkpoints ship), llama.cpp's test strings for it, and goldens.

Source: shared/tokenizers/qwen2/ggml-vocab-qwen2.gguf (llama.cpp's vocabulary-only GGUF, MIT): its
151,643 regular tokens and 151,387 merges. The GGUF holds Qwen1.5's three control tokens and pads
the rest; the added tokens written here are Qwen2-VL's (151643 <|endoftext|> … 151656 <|video_pad|>,
all special), as in the Qwen2-VL-7B-Instruct tokenizer.json. Normaliser NFC, pre-tokenizer
Split(Qwen2's regex, Isolated) + ByteLevel(use_regex false), decoder ByteLevel, no BOS.

Reference: `tokenizers` 0.23.3 (requirements.txt). The script checks that the written file gives
llama.cpp's expected ids on all 46 strings (ggml-vocab-qwen2.gguf.out), then records goldens.json:
  encode: {text, ids} for the 46 strings and strings around special tokens (tokenizers, no
          post-processor additions), and decode: ids → text with skip_special_tokens false / true.
Run from the repository root; deterministic (re-running leaves `git status` clean).
"""
import json
import os
import shutil
import struct
import sys

from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(__file__))
from common import FIXTURES, SHARED  # noqa: E402

SRC = os.path.join(SHARED, "tokenizers", "qwen2")
OUT = os.path.join(FIXTURES, "tokenizer", "qwen2")
SEPARATOR = "\n__ggml_vocab_test__\n"
PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")
ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
         "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
         "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
FIRST_ADDED = 151643
SPECIAL_STRINGS = [
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>What is shown?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|><|vision_start|><|image_pad|><|vision_end|>"
    "Compare the two pictures.<|im_end|>\n<|im_start|>assistant\n",
    "a<|im_end|>b", " <|endoftext|> ", "<|im_end|>\n\n", "<|image_pad|>x", "<|vision_end|> What",
    "<|im_start", "|im_end|>", "Hello<|endoftext|>world", "Ünïcödé café, naïve — 日本語テキスト",
    "e\u0301 (decomposed) vs \u00e9", "\u212b \u2126 \uff21\uff22", "I'm you're they've we'll he'd IT'S",
    "  leading\ttabs\r\nand CRLF\r\n\r\n", "1234567890 3.14159 1e-9", "x = f(y) + g[z] * 2 // comment",
    "😀👍🏽 🇯🇵", "\x00\x01 control\x7f", "a\u00a0b\u3000c\u2028d\u0085e  \u00a0f", "'S 'LL 'Re '\u017f x'd y'\u017f z'LL",
    "\u0661\u0662\u0663 \u00bd\u2167 x\u0301y", "",
]


def read_gguf(path):
    """The key-value metadata of a GGUF file (v2/v3), as Python values."""
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        (v,) = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    scalars = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(kind):
        if kind == 8:
            return string()
        if kind == 9:
            inner, n = take("I"), take("Q")
            return [value(inner) for _ in range(n)]
        return take(scalars[kind])

    assert data[:4] == b"GGUF"
    pos = 4
    take("I")
    take("Q")
    kv = {}
    for _ in range(take("Q")):
        key = string()
        kv[key] = value(take("I"))
    return kv


def build_tokenizer_json(kv) -> dict:
    tokens, types = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.token_type"]
    assert all(t == 1 for t in types[:FIRST_ADDED]) and types[FIRST_ADDED] == 3
    vocab = {tok: i for i, tok in enumerate(tokens[:FIRST_ADDED])}
    assert len(vocab) == FIRST_ADDED
    merges = [m.split(" ") for m in kv["tokenizer.ggml.merges"]]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": FIRST_ADDED + i, "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True} for i, t in enumerate(ADDED)],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PATTERN}, "behavior": "Isolated", "invert": False},
            byte_level]},
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def main():
    kv = read_gguf(os.path.join(SRC, "ggml-vocab-qwen2.gguf"))
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(build_tokenizer_json(kv), f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    config = {"add_bos_token": False, "add_prefix_space": False, "bos_token": None,
              "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "errors": "replace",
              "model_max_length": 32768, "tokenizer_class": "Qwen2Tokenizer", "split_special_tokens": False,
              "clean_up_tokenization_spaces": False}
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    for name in ("ggml-vocab-qwen2.gguf.inp", "ggml-vocab-qwen2.gguf.out"):
        shutil.copyfile(os.path.join(SRC, name), os.path.join(OUT, name))

    tok = Tokenizer.from_file(path)
    texts = open(os.path.join(SRC, "ggml-vocab-qwen2.gguf.inp"), encoding="utf-8").read().split(SEPARATOR)
    assert texts[-1] == ""
    texts = texts[:-1]
    expected = open(os.path.join(SRC, "ggml-vocab-qwen2.gguf.out")).read().split("\n")
    for i, text in enumerate(texts):
        want = [int(x) for x in expected[i].split()]
        got = tok.encode(text, add_special_tokens=False).ids
        assert got == want, (i, text, got, want)
    cases = []
    for text in texts + SPECIAL_STRINGS:
        ids = tok.encode(text, add_special_tokens=True).ids
        cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                      "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)})
    goldens = {"format": "encode: tokenizers 0.23.3 Tokenizer.encode(text).ids on tokenizer.json; decoded / "
                         "decoded_skip_special: Tokenizer.decode(ids, skip_special_tokens=false / true)",
               "cases": cases}
    with open(os.path.join(OUT, "goldens.json"), "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{path}: {os.path.getsize(path)} bytes; {len(texts)} llama.cpp cases equal, {len(cases)} goldens")


if __name__ == "__main__":
    main()
