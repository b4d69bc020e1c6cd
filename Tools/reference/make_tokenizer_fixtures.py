#!/usr/bin/env python3
"""Builds Tests/Fixtures/tokenizer/: the LLaMA vocabulary in both file forms, llama.cpp's test
strings and the golden ids / texts that YOPOTextTests compare against.

References:
  * Python `sentencepiece` 0.2.3 (requirements.txt): SentencePiece encoding and decoding of
    `tokenizer.model` and of two tiny hand-built models.
  * Python `tokenizers` 0.23.3 + transformers 5.24.0 (requirements.txt): the llava-hf
    `tokenizer.json` as transformers writes it (common.write_hf_tokenizer, Metaspace prepend_scheme
    "first"), and a legacy variant in the form of the llava-1.5 hub files (normalizer
    Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer, merges stored as "a b" strings).
  * transformers 4.37.2 with sentencepiece 0.1.99, the versions the original LLaVA repository pins
    (requirements-llava-slow-tokenizer.txt): the slow `LlamaTokenizer` that original LLaVA loads with
    `use_fast=False`, for special tokens inside text (`legacy` true / false) and for prompts cut
    at `<image>` the way LLaVA's `tokenizer_image_token` does. transformers 5 no longer ships that
    class, so this part runs in a second interpreter:
        python3 -m venv /tmp/llava-slow
        /tmp/llava-slow/bin/pip install -r Tools/reference/requirements-llava-slow-tokenizer.txt
        python3 Tools/reference/make_tokenizer_fixtures.py --slow-python /tmp/llava-slow/bin/python

Layout written (relative to Tests/Fixtures/tokenizer/):
  tokenizer.model                   copy of shared/tokenizers/llama-spm/tokenizer.model
  tokenizer_config.json             keys of the original LLaVA-1.5 checkpoints (slow tokenizer)
  ggml-vocab-llama-spm.gguf.inp/.out, LICENSE-llama.cpp   copies of llama.cpp's test data
  hf-metaspace/                     tokenizer.json + tokenizer_config.json (transformers 5.24 form)
  hf-legacy/                        tokenizer.json + tokenizer_config.json (hub legacy form)
  toy/                              tiny SentencePiece models (TOY_PIECES) and tokenizer.json files (TOY_HF_*)
  goldens.json                      every expected value (format in its "format" key)
  .gitattributes                    keeps git from diffing or normalising the data files
README.md (provenance and licences) is written by hand.

Run from the repository root. The output is deterministic: re-running leaves `git status` clean.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from common import FIXTURES, SHARED, SPM_MODEL, write_hf_tokenizer  # noqa: E402

OUT = os.path.join(FIXTURES, "tokenizer")
LLAMA_SPM = os.path.join(SHARED, "tokenizers", "llama-spm")
SPM_SHA256 = "c8d7c97eff5ce98a765ec2969b7dc677692ea2f6530dcc1cefe3538914d2725f"
SEPARATOR = "\n__ggml_vocab_test__\n"

VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
LLAVA_V1_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                   "The assistant gives helpful, detailed, and polite answers to the human's questions.")

# Strings around the special and added tokens (TOK-6), typed by hand.
SPECIAL_STRINGS = [
    "USER: <image>\nWhat is shown? ASSISTANT:",
    "<image>",
    "<image>\n",
    " <image> ",
    "<image><image>",
    "x<image>y",
    "\n<image>\n",
    "Ünïcödé <image> 🦙",
    "Hello <s>.",
    "<s>Hello",
    "<s> Hello",
    "a</s>USER: hi",
    "a</s> USER",
    "</s>",
    "</s></s>",
    "<pad>",
    "x<pad>y",
    "<pad><pad> ",
    "<unk>",
    "<s",
    "ASSISTANT:",
    " ASSISTANT:",
    "   leading",
    "trailing   ",
    "\u2581literal\u2581marks",
    "tab\tand\nnewline",
    VICUNA_SYSTEM + " USER: <image>\nWhat is shown? ASSISTANT: A cat.</s>USER: And the colour? ASSISTANT:",
]

# Id sequences for decoding: hand-picked edge cases (byte runs cut mid-character, an invalid byte
# run, leading ▁ pieces, control and unknown ids, added tokens).
DECODE_IDS = [
    [],
    [29871],
    [29871, 29871],
    [259],
    [29871, 15043],
    [1, 29871, 15043],
    [1, 15043],
    [15043, 2],
    [1, 15043, 2, 3148],
    [2, 15043],
    [13, 29871, 15043],
    [29871, 13, 15043],
    [35, 15043],
    [0],
    [0, 15043],
    [1, 0, 15043],
    [243, 162, 169, 156],
    [243, 162, 169, 156, 15043],
    [243, 162, 15043],
    [243, 162, 169, 156, 243, 15043],
    [15043, 243, 162],
    [132, 15043],
    [29871, 243, 162, 169, 156, 29871, 15043, 29991],
]
DECODE_IDS_HF = DECODE_IDS + [
    [32000, 15043],
    [15043, 32000, 29871, 13],
    [1, 3148, 1001, 29901, 29871, 32000, 13, 5618],
    [32001, 32001, 15043],
]

# A tiny SentencePiece BPE vocabulary exercising what the LLaMA one does not: user-defined pieces,
# an unused piece (resegmented), no byte fallback (unknown runs), remove_extra_whitespaces, and
# equal scores (leftmost pair first). (piece, score, type): 1 normal, 2 unknown, 3 control,
# 4 user-defined, 5 unused.
TOY_PIECES = [
    ("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3), ("[MASK]", 0.0, 4), ("<sep>", 0.0, 4),
    ("\u2581", -1.0, 1), ("a", -2.0, 1), ("b", -3.0, 1), ("c", -4.0, 1), ("d", -5.0, 1),
    ("ab", -0.5, 1), ("bc", -0.6, 1), ("\u2581a", -0.7, 1), ("abc", -0.2, 5), ("cd", -0.1, 1),
    ("\u2581ab", -0.3, 1), ("dd", -0.05, 1), ("ddd", -0.04, 1), ("\u2581\u2581", -0.9, 1),
    ("\u2581d", -0.05, 1), ("\u2581\u2581a", -0.8, 1),
]
TOY_MODELS = {
    # name: (add_dummy_prefix, remove_extra_whitespaces)
    "toy-collapse.model": (True, True),
    "toy-raw.model": (False, False),
}
# Tiny tokenizer.json files built with `tokenizers`, for what the LLaMA files do not exercise:
# lstrip / rstrip / single_word / normalized added tokens, Metaspace split and prepend schemes,
# unk_token with fuse_unk, ignore_merges, and decoder chains of other shapes.
TOY_HF_VOCAB = {"<unk>": 0, "\u2581": 1, "a": 2, "b": 3, "c": 4, "\u2581a": 5, "ab": 6, "\u2581ab": 7, "bc": 8,
                "abc": 9, "<0x7A>": 10, "x": 11, "\u2581\u2581": 12, "abab": 13}
TOY_HF_MERGES = [("a", "b"), ("\u2581", "a"), ("\u2581a", "b"), ("b", "c"), ("ab", "c"), ("\u2581", "\u2581")]
TOY_HF_VARIANTS = {
    # name: (prepend_scheme, split, fuse_unk, ignore_merges, decoder)
    "toy-hf-always.json": ("always", True, True, False, "metaspace"),
    "toy-hf-first.json": ("first", False, False, True, "bytefallback-replace"),
    "toy-hf-never.json": ("never", True, True, False, "replace-fuse-strip2"),
}
TOY_HF_STRINGS = ["", "ab abc", "  ab", "a [L] b", "a [R]  b", "qq zz", "qzq", "xb axb", "cc acc cc_", "abab",
                  "a\u2581b", "\u00e9z", "[L]ab", "ab[R]", "  [L]  ", "abab abab"]
TOY_HF_DECODE = [[5, 1, 1, 6], [1, 1, 5], [12, 2], [10, 10, 5], [14, 5, 15], [1, 14, 1], [0, 5], [16, 17],
                 [15, 1, 1, 5], [10, 99, 10]]

TOY_STRINGS = [
    "", " ", "a", "ab", "abc", "abcd", "abcabc", "dddd", "ddddd", "ddd ddd", "  ab  c  ", " a  a ",
    "a[MASK]b", "[MASK]", " [MASK] ", "x", "xyz", "éaé", "ab xx ab", "a<sep>", "<s>a", "\u2581a", "ab\tab",
]


def read_cases(path):
    with open(path, encoding="utf-8") as f:
        cases = f.read().split(SEPARATOR)
    assert cases[-1] == "", "expected a trailing separator"
    return cases[:-1]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_json(path, obj, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def copy_inputs():
    assert sha256(SPM_MODEL) == SPM_SHA256, "shared tokenizer.model changed"
    shutil.copyfile(SPM_MODEL, os.path.join(OUT, "tokenizer.model"))
    for name in ["ggml-vocab-llama-spm.gguf.inp", "ggml-vocab-llama-spm.gguf.out"]:
        shutil.copyfile(os.path.join(LLAMA_SPM, name), os.path.join(OUT, name))
    shutil.copyfile(os.path.join(SHARED, "tokenizers", "LICENSE-llama.cpp"), os.path.join(OUT, "LICENSE-llama.cpp"))
    # Keys as in the original LLaVA-1.5 checkpoints' tokenizer_config.json (slow LlamaTokenizer).
    write_json(os.path.join(OUT, "tokenizer_config.json"), {
        "add_bos_token": True, "add_eos_token": False,
        "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": False, "normalized": False,
                      "rstrip": False, "single_word": False},
        "eos_token": {"__type": "AddedToken", "content": "</s>", "lstrip": False, "normalized": False,
                      "rstrip": False, "single_word": False},
        "unk_token": {"__type": "AddedToken", "content": "<unk>", "lstrip": False, "normalized": False,
                      "rstrip": False, "single_word": False},
        "pad_token": None, "legacy": False, "model_max_length": 2048,
        "tokenizer_class": "LlamaTokenizer"})


def build_hf_files():
    """hf-metaspace/: transformers 5.24's own output, re-serialised compactly by `tokenizers`.
    hf-legacy/: the same model with the hub's legacy normaliser; merges rewritten as "a b"."""
    from tokenizers import Tokenizer, normalizers

    with tempfile.TemporaryDirectory() as tmp:
        write_hf_tokenizer(tmp)
        tok = Tokenizer.from_file(os.path.join(tmp, "tokenizer.json"))
        with open(os.path.join(tmp, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
    d = os.path.join(OUT, "hf-metaspace")
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "tokenizer.json"), json.loads(tok.to_str()), compact=True)
    config.pop("is_local", None)
    config.pop("local_files_only", None)
    write_json(os.path.join(d, "tokenizer_config.json"), config)

    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.pre_tokenizer = None
    legacy = json.loads(tok.to_str())
    merges = legacy["model"]["merges"]
    assert all(" " not in a and " " not in b for a, b in merges)
    legacy["model"]["merges"] = [f"{a} {b}" for a, b in merges]
    d = os.path.join(OUT, "hf-legacy")
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "tokenizer.json"), legacy, compact=True)
    # Keys as in llava-hf/llava-1.5-7b-hf's tokenizer_config.json.
    added = {str(i): {"content": c, "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True}
             for i, c in [(0, "<unk>"), (1, "<s>"), (2, "</s>"), (32000, "<image>"), (32001, "<pad>")]}
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": added,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "legacy": False, "model_max_length": 1000000000000000019884624838656,
        "tokenizer_class": "LlamaTokenizer"})


def build_toy_models():
    from sentencepiece import sentencepiece_model_pb2 as pb

    os.makedirs(os.path.join(OUT, "toy"), exist_ok=True)
    for name, (dummy, collapse) in TOY_MODELS.items():
        m = pb.ModelProto()
        m.trainer_spec.model_type = pb.TrainerSpec.BPE
        m.trainer_spec.vocab_size = len(TOY_PIECES)
        m.trainer_spec.byte_fallback = False
        m.trainer_spec.unk_id, m.trainer_spec.bos_id, m.trainer_spec.eos_id, m.trainer_spec.pad_id = 0, 1, 2, -1
        m.normalizer_spec.name = "identity"
        m.normalizer_spec.add_dummy_prefix = dummy
        m.normalizer_spec.remove_extra_whitespaces = collapse
        m.normalizer_spec.escape_whitespaces = True
        for piece, score, kind in TOY_PIECES:
            p = m.pieces.add()
            p.piece, p.score, p.type = piece, score, kind
        with open(os.path.join(OUT, "toy", name), "wb") as f:
            f.write(m.SerializeToString())


def build_toy_hf():
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    goldens = {}
    for name, (scheme, split, fuse, ignore, dec) in TOY_HF_VARIANTS.items():
        tok = Tokenizer(models.BPE(vocab=dict(TOY_HF_VOCAB), merges=list(TOY_HF_MERGES), unk_token="<unk>",
                                   fuse_unk=fuse, byte_fallback=True, ignore_merges=ignore))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme=scheme, split=split)
        tok.decoder = {
            "metaspace": decoders.Metaspace(prepend_scheme=scheme),
            "bytefallback-replace": decoders.Sequence([decoders.ByteFallback(), decoders.Replace("\u2581", " ")]),
            "replace-fuse-strip2": decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                                      decoders.Fuse(), decoders.Strip(" ", 2, 0)]),
        }[dec]
        tok.add_special_tokens([AddedToken("[L]", lstrip=True, normalized=False),
                                AddedToken("[R]", rstrip=True, normalized=False)])
        tok.add_tokens([AddedToken("xb", normalized=True), AddedToken("cc", single_word=True, normalized=False)])
        path = os.path.join(OUT, "toy", name)
        write_json(path, json.loads(tok.to_str()), compact=True)
        tok = Tokenizer.from_file(path)
        goldens[name] = {
            "encode": [{"text": t, "ids": tok.encode(t).ids} for t in TOY_HF_STRINGS],
            "decode": [{"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                        "text_skip_special": tok.decode(ids, skip_special_tokens=True)} for ids in TOY_HF_DECODE],
        }
    return goldens


def spm_goldens(cases):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, "tokenizer.model"))
    with open(os.path.join(OUT, "ggml-vocab-llama-spm.gguf.out"), encoding="utf-8") as f:
        expected = [[int(x) for x in line.split()] for line in f.read().split("\n")[:len(cases)]]
    encode = [sp.encode(s) for s in cases + SPECIAL_STRINGS]
    assert encode[:len(cases)] == expected, "sentencepiece disagrees with llama.cpp's expected ids"
    decode = [{"ids": ids, "text": sp.decode(ids)} for ids in DECODE_IDS + encode]
    toy = {}
    for name in TOY_MODELS:
        t = spm.SentencePieceProcessor(model_file=os.path.join(OUT, "toy", name))
        toy[name] = [{"text": s, "ids": t.encode(s), "pieces": t.encode(s, out_type=str)} for s in TOY_STRINGS]
        toy[name + ":decode"] = [{"ids": ids, "text": t.decode(ids)} for ids in
                                 [[5, 6], [12, 6], [5, 5, 3, 5], [0, 6, 0], [1, 12, 2], [18, 6], [3]]]
    return {"encode": [{"text": s, "ids": ids} for s, ids in zip(cases + SPECIAL_STRINGS, encode)],
            "decode": decode, "toy": toy}


def hf_goldens(folder, cases):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(OUT, folder, "tokenizer.json"))
    encode = []
    for s in cases + SPECIAL_STRINGS:
        e = tok.encode(s)  # add_special_tokens=True: the TemplateProcessing BOS
        encode.append({"text": s, "ids": e.ids})
    decode = []
    for ids in DECODE_IDS_HF + [e["ids"] for e in encode]:
        decode.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                       "text_skip_special": tok.decode(ids, skip_special_tokens=True)})
    return {"encode": encode, "decode": decode}


def render_llava(system, turns):
    """SeparatorStyle.TWO as described in REFERENCE.md §3.1; turns = [(role, text or None)]."""
    seps = [" ", "</s>"]
    out = system + seps[0]
    for i, (role, text) in enumerate(turns):
        out += f"{role}: {text}{seps[i % 2]}" if text is not None else f"{role}:"
    return out


def prompt_cases():
    """Turns are [role, text, images]; the images are written as "<image>\n" before the text."""
    q = "What is shown?"
    qi = "<image>\n" + q
    cases = []
    for name, system in [("vicuna_v1", VICUNA_SYSTEM), ("llava_v1", LLAVA_V1_SYSTEM)]:
        cases.append({"template": name, "turns": [["user", q, 1]],
                      "prompt": render_llava(system, [("USER", qi), ("ASSISTANT", None)])})
        cases.append({"template": name, "turns": [["user", q, 1], ["assistant", "A cat on a mat.", 0],
                                                  ["user", "What colour is it?", 0]],
                      "prompt": render_llava(system, [("USER", qi), ("ASSISTANT", "A cat on a mat."),
                                                      ("USER", "What colour is it?"), ("ASSISTANT", None)])})
        cases.append({"template": name, "turns": [["user", "Tell me a joke.", 0]],
                      "prompt": render_llava(system, [("USER", "Tell me a joke."), ("ASSISTANT", None)])})
    return cases


def hf_prompt_goldens():
    """llava-hf: the chat template's text, encoded whole; `<image>` (32000) expanded to 576 copies is
    left to the consumer (the goldens hold the unexpanded ids)."""
    from tokenizers import Tokenizer

    cases = [
        {"turns": [["user", "What is shown?", 1]], "prompt": "USER: <image>\nWhat is shown? ASSISTANT:"},
        {"turns": [["user", "What is shown?", 1], ["assistant", "A cat on a mat.", 0],
                   ["user", "What colour is it?", 0]],
         "prompt": "USER: <image>\nWhat is shown? ASSISTANT: A cat on a mat. USER: What colour is it? ASSISTANT:"},
        {"turns": [["user", "Tell me a joke.", 0]], "prompt": "USER: Tell me a joke. ASSISTANT:"},
        {"turns": [["user", "Compare them.", 2]], "prompt": "USER: <image>\n<image>\nCompare them. ASSISTANT:"},
    ]
    out = {}
    for folder in ["hf-metaspace", "hf-legacy"]:
        tok = Tokenizer.from_file(os.path.join(OUT, folder, "tokenizer.json"))
        out[folder] = [dict(c, ids=tok.encode(c["prompt"]).ids) for c in cases]
    return out


# --- the slow LlamaTokenizer side (runs under transformers 4.37.2) ---------------------------------

def slow_worker():
    """Reads {"model", "cases", "prompts"} on stdin and prints the slow tokenizer's ids."""
    import transformers
    from transformers import LlamaTokenizer

    job = json.load(sys.stdin)
    out = {"versions": {"transformers": transformers.__version__}}
    for legacy in [True, False]:
        tok = LlamaTokenizer(job["model"], legacy=legacy)
        out[f"legacy={legacy}"] = [{"text": s, "ids": tok(s).input_ids} for s in job["cases"]]
        prompts = []
        for p in job["prompts"]:
            # tokenizer_image_token: each <image>-separated chunk tokenised on its own; the BOS of the
            # first chunk kept, the leading BOS of the others dropped; -200 in between.
            chunks = [tok(c).input_ids for c in p["prompt"].split("<image>")]
            ids = list(chunks[0])
            for c in chunks[1:]:
                ids.append(-200)
                ids.extend(c[1:] if c and c[0] == tok.bos_token_id else c)
            prompts.append(dict(p, ids=ids, chunks=chunks))
        out[f"prompts:legacy={legacy}"] = prompts
    import sentencepiece
    out["versions"]["sentencepiece"] = sentencepiece.__version__
    json.dump(out, sys.stdout, ensure_ascii=False)


def slow_goldens(python, cases):
    job = {"model": os.path.join(OUT, "tokenizer.model"), "cases": cases + SPECIAL_STRINGS,
           "prompts": prompt_cases()}
    res = subprocess.run([python, os.path.abspath(__file__), "--slow-worker"], input=json.dumps(job),
                         capture_output=True, text=True, check=True)
    out = json.loads(res.stdout)
    assert out["versions"]["transformers"] == "4.37.2", out["versions"]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow-python", default=os.environ.get("YOPO_SLOW_TOKENIZER_PYTHON"),
                        help="interpreter with requirements-llava-slow-tokenizer.txt installed")
    parser.add_argument("--slow-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.slow_worker:
        return slow_worker()
    if not args.slow_python:
        sys.exit("--slow-python (or YOPO_SLOW_TOKENIZER_PYTHON) is required; see the module docstring")

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, ".gitattributes"), "w") as f:
        f.write("# Written by make_tokenizer_fixtures.py: vocabulary files are data, never text-diffed or normalised.\n"
                "*.model binary\nhf-*/tokenizer.json -text -diff\ntoy/*.json -text -diff\n*.inp -text\n*.out -text\n")
    copy_inputs()
    build_hf_files()
    build_toy_models()
    cases = read_cases(os.path.join(OUT, "ggml-vocab-llama-spm.gguf.inp"))
    assert len(cases) == 46
    import sentencepiece
    import tokenizers
    import transformers
    goldens = {
        "format": ("encode: ids for each text; hf-* include the post-processor's BOS, spm ids come from "
                   "SentencePieceProcessor.encode (no BOS), slow:* from transformers' slow LlamaTokenizer "
                   "__call__ (with BOS, special tokens matched in text). decode: sentencepiece decode for spm "
                   "(control ids invisible); tokenizers decode with skip_special_tokens false / true for hf-*. "
                   "toy: SentencePiece ids and pieces per toy model. prompts: tokenizer_image_token ids "
                   "(-200 per image, chunks = per-chunk ids with BOS) for the original templates; whole-string "
                   "ids with one 32000 per image (not expanded) for llava-hf."),
        "versions": {"sentencepiece": sentencepiece.__version__, "tokenizers": tokenizers.__version__,
                     "transformers": transformers.__version__},
        "special_strings": SPECIAL_STRINGS,
        "spm": spm_goldens(cases),
        "hf-metaspace": hf_goldens("hf-metaspace", cases),
        "hf-legacy": hf_goldens("hf-legacy", cases),
        "hf-prompts": hf_prompt_goldens(),
        "toy-hf": build_toy_hf(),
    }
    slow = slow_goldens(args.slow_python, cases)
    goldens["versions"]["slow"] = slow.pop("versions")
    goldens["slow"] = slow
    write_json(os.path.join(OUT, "goldens.json"), goldens)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
