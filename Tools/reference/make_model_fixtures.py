#!/usr/bin/env python3
"""Builds tiny random-weight LLaVA-1.5 checkpoints in the real on-disk layouts and dumps golden
outputs of the reference stacks into Tests/Fixtures/models/.

    python make_model_fixtures.py              # (re)write every checkpoint, golden and the README
    python make_model_fixtures.py --search 40  # only report which seeds satisfy the golden criteria

Checkpoints (see Tests/Fixtures/models/README.md, which this script writes):
  llava-hf-tiny/        LlavaForConditionalGeneration.save_pretrained (transformers 5.24), fp32
  llava-hf-tiny-f16/    the same weights rounded to and stored in float16
  llava-hf-tiny-bf16/   the same weights rounded to and stored in bfloat16
  llava-v1.5-tiny/      original LLaVA layout (LlavaLlamaForCausalLM), sharded, other weights
  clip-vit-tiny/        the CLIPModel that llava-v1.5-tiny names as its vision tower

Everything is deterministic: fixed seeds, one CPU thread, deterministic algorithms, eager attention.
Re-running the script reproduces every file byte for byte.
"""
import argparse
import copy
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoProcessor,
    AutoTokenizer,
    CLIPConfig,
    CLIPModel,
    CLIPVisionConfig,
    CLIPVisionModel,
    LlamaConfig,
    LlamaForCausalLM,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil  # noqa: E402

transformers.logging.set_verbosity_error()

# --------------------------------------------------------------------------------------------------
# Constants

MODELS = os.path.join(common.FIXTURES, "models")
GOLDEN = os.path.join(MODELS, "golden")
IMAGES = os.path.join(common.FIXTURES, "images")
SHARED_IMAGES = os.path.join(common.SHARED, "images")

HF_DIR = "llava-hf-tiny"
HF_F16_DIR = "llava-hf-tiny-f16"
HF_BF16_DIR = "llava-hf-tiny-bf16"
ORIG_DIR = "llava-v1.5-tiny"
CLIP_DIR = "clip-vit-tiny"

# Seeds chosen with `--search 30`: of the seeds for which every golden case of the model passes
# case_ok (top-1/top-2 logit gap >= MIN_MARGIN on all greedy steps, no EOS, in-vocabulary ids,
# varied ids), the one with the largest minimum margin.
HF_SEED = 9
ORIG_SEED = 18
CLIP_SEED = 0
SEED_OFFSET_ORIG = 1000  # the original-layout LLM/projector use ORIG_SEED + this (never the HF seed)
SEED_OFFSET_CLIP = 2000

MIN_MARGIN = 1e-3
MIN_DISTINCT = 10  # "varied tokens": at least this many distinct ids among the 20 greedy ids
NEW_TOKENS = 20
EOS_ID = 2

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

VICUNA_V1_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                    "The assistant gives helpful, detailed, and polite answers to the user's questions.")

LLAVA_HF_CHAT_TEMPLATE = common.LLAVA_HF_CHAT_TEMPLATE

TEXT_CFG = dict(vocab_size=32064, hidden_size=24, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=64, num_hidden_layers=3, max_position_embeddings=4096,
                rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
VISION_CFG = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
                  image_size=336, patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                  projection_dim=16)
CLIP_TEXT_CFG = dict(vocab_size=1000, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                     num_attention_heads=2, max_position_embeddings=77, projection_dim=16,
                     pad_token_id=1, bos_token_id=998, eos_token_id=999)

HF_CASES = [
    # name, checkpoint dir, image, prompt
    ("hf_chelsea", HF_DIR, "chelsea.png", "What is shown?"),
    ("hf_rocket", HF_DIR, "rocket.jpg", "Describe the image."),
    ("hf_f16_chelsea", HF_F16_DIR, "chelsea.png", "What is shown?"),
    ("hf_bf16_chelsea", HF_BF16_DIR, "chelsea.png", "What is shown?"),
]
ORIG_CASES = [
    ("orig_chelsea", "chelsea.png", "What is shown?"),
    ("orig_astronaut", "astronaut.png", "What is the person wearing?"),
]
TOKENIZER_PROMPTS = [
    "What is shown?",
    "Describe the image.",
    "What is the person wearing?",
    "What colour is the cat's fur? Answer in one word.",
    "  Two leading spaces,\ttab and\nnewline.",
    "Count: 1234567 items, 3.14 each — ok?",
    "Qu'est-ce que c'est ? Привет 😀",
]


def setup_determinism():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------------------------------
# Random weights with a useful spread

def _is_norm_param(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 2 and "norm" in parts[-2]


def reinit_(named_params, seed: int) -> None:
    """Re-draws every parameter from a generator seeded with `seed`, in sorted-name order.

    Norm weights ~ 1 + N(0, 0.1); norm biases and other biases ~ N(0, 0.1); every other tensor is
    N(0, s^2) with a per-tensor s drawn uniformly from [0.1, 0.5]. transformers' default init
    (std 0.02) leaves such tiny models with near-uniform logits."""
    gen = torch.Generator().manual_seed(seed)
    for name, p in sorted(named_params, key=lambda kv: kv[0]):
        if name == "logit_scale":  # CLIP's temperature: keep the config's initial value
            continue
        shape = tuple(p.shape)
        noise = torch.randn(shape, generator=gen, dtype=torch.float32)
        if _is_norm_param(name) and name.endswith(".weight"):
            value = 1.0 + 0.1 * noise
        elif name.endswith(".bias"):
            value = 0.1 * noise
        else:
            std = 0.1 + 0.4 * torch.rand((), generator=gen, dtype=torch.float32)
            value = std * noise
        with torch.no_grad():
            p.copy_(value.to(p.dtype))


# --------------------------------------------------------------------------------------------------
# Model construction (in memory)

def hf_config() -> LlavaConfig:
    return LlavaConfig(
        text_config=LlamaConfig(**TEXT_CFG),
        vision_config=CLIPVisionConfig(**VISION_CFG),
        image_token_index=common.IMAGE_TOKEN_INDEX_HF,
        pad_token_id=common.PAD_TOKEN_INDEX_HF,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        multimodal_projector_bias=True,
        tie_word_embeddings=False,
    )


def build_hf_model(seed: int) -> LlavaForConditionalGeneration:
    model = LlavaForConditionalGeneration(hf_config()).eval()
    reinit_(list(model.named_parameters()), seed)
    return model


def round_model_(model, dtype) -> None:
    """Rounds every fp32 parameter to `dtype` and back (the stored low-precision values, in fp32)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))


def orig_json_config() -> dict:
    """Hand-written config.json in the transformers 4.x dialect used by liuhaotian/llava-v1.5-7b."""
    return {
        "architectures": ["LlavaLlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "freeze_mm_mlp_adapter": False,
        "hidden_act": "silu",
        "hidden_size": 24,
        "image_aspect_ratio": "pad",
        "initializer_range": 0.02,
        "intermediate_size": 64,
        "max_position_embeddings": 4096,
        "mm_hidden_size": 32,
        "mm_patch_merge_type": "flat",
        "mm_projector_lr": None,
        "mm_projector_type": "mlp2x_gelu",
        "mm_use_im_patch_token": False,
        "mm_use_im_start_end": False,
        "mm_vision_select_feature": "patch",
        "mm_vision_select_layer": -2,
        "mm_vision_tower": "../" + CLIP_DIR,
        "model_type": "llava_llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 3,
        "num_key_value_heads": 2,
        "pad_token_id": 0,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 2.0, "type": "linear"},
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "tokenizer_model_max_length": 2048,
        "tokenizer_padding_side": "right",
        "torch_dtype": "float32",
        "tune_mm_mlp_adapter": False,
        "use_cache": True,
        "use_mm_proj": True,
        "vocab_size": 32000,
    }


def llama_config_from_orig(cfg: dict) -> LlamaConfig:
    """What original LLaVA's LlavaConfig(LlamaConfig) means by the 4.x fields, in 5.24 terms."""
    scaling = cfg["rope_scaling"]
    assert scaling["type"] == "linear"
    return LlamaConfig(
        vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"],
        intermediate_size=cfg["intermediate_size"], num_hidden_layers=cfg["num_hidden_layers"],
        num_attention_heads=cfg["num_attention_heads"], num_key_value_heads=cfg["num_key_value_heads"],
        hidden_act=cfg["hidden_act"], max_position_embeddings=cfg["max_position_embeddings"],
        rms_norm_eps=cfg["rms_norm_eps"], tie_word_embeddings=cfg["tie_word_embeddings"],
        bos_token_id=cfg["bos_token_id"], eos_token_id=cfg["eos_token_id"],
        pad_token_id=cfg["pad_token_id"], attention_bias=cfg["attention_bias"],
        rope_parameters={"rope_type": "linear", "factor": float(scaling["factor"]),
                         "rope_theta": float(cfg["rope_theta"])},
    )


class OrigLlava(torch.nn.Module):
    """The original LLaVA-1.5 computation: CLIP tower (hidden_states[-2], CLS dropped), mlp2x_gelu
    projector, features spliced in place of -200, LLaMA + lm_head."""

    def __init__(self, llm: LlamaForCausalLM, projector: torch.nn.Sequential, tower: CLIPVisionModel,
                 select_layer: int):
        super().__init__()
        self.llm, self.projector, self.tower, self.select_layer = llm, projector, tower, select_layer

    def vision(self, pixel_values):
        out = self.tower(pixel_values.unsqueeze(0), output_hidden_states=True)
        feats = out.hidden_states[self.select_layer][:, 1:]  # mm_vision_select_feature "patch"
        return feats[0], self.projector(feats)[0]

    def embeds(self, input_ids, image_features):
        pos = input_ids.index(common.IMAGE_TOKEN_INDEX_ORIGINAL)
        assert input_ids.count(common.IMAGE_TOKEN_INDEX_ORIGINAL) == 1
        emb = self.llm.get_input_embeddings()
        before = emb(torch.tensor(input_ids[:pos]))
        after = emb(torch.tensor(input_ids[pos + 1:]))
        return torch.cat([before, image_features, after], dim=0).unsqueeze(0)


def new_projector(mm_hidden: int, hidden: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(mm_hidden, hidden), torch.nn.GELU(),
                               torch.nn.Linear(hidden, hidden))


def build_orig_parts(seed: int):
    cfg = orig_json_config()
    llm = LlamaForCausalLM(llama_config_from_orig(cfg)).eval()
    proj = new_projector(cfg["mm_hidden_size"], cfg["hidden_size"]).eval()
    state = {}
    for k, v in llm.named_parameters():
        state[k] = v
    for k, v in proj.named_parameters():
        state["model.mm_projector." + k] = v
    reinit_(list(state.items()), seed)
    return cfg, llm, proj


def clip_config() -> CLIPConfig:
    return CLIPConfig(text_config=CLIP_TEXT_CFG, vision_config=VISION_CFG, projection_dim=16)


def build_clip(seed: int) -> CLIPModel:
    model = CLIPModel(clip_config()).eval()
    reinit_(list(model.named_parameters()), seed)
    return model


def clip_image_processor() -> CLIPImageProcessorPil:
    return CLIPImageProcessorPil(
        do_resize=True, size={"shortest_edge": 336}, resample=3, do_center_crop=True,
        crop_size={"height": 336, "width": 336}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=CLIP_MEAN, image_std=CLIP_STD, do_convert_rgb=True)


# --------------------------------------------------------------------------------------------------
# Prompts

def llava_hf_messages(prompt: str) -> list:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]


def vicuna_v1_prompt(prompt: str) -> str:
    return f"{VICUNA_V1_SYSTEM} USER: {common.IMAGE_TOKEN}\n{prompt} ASSISTANT:"


class SpmImageTokenizer:
    """tokenizer_image_token semantics with the slow SentencePiece tokenizer."""

    def __init__(self, model_file: str):
        import sentencepiece as spm
        self.sp = spm.SentencePieceProcessor(model_file=model_file)
        assert self.sp.bos_id() == 1 and self.sp.eos_id() == 2 and self.sp.get_piece_size() == 32000

    def __call__(self, text: str) -> list:
        chunks = [[self.sp.bos_id()] + self.sp.encode(c) for c in text.split(common.IMAGE_TOKEN)]
        ids = [self.sp.bos_id()]
        for i, chunk in enumerate(chunks):
            if i > 0:
                ids.append(common.IMAGE_TOKEN_INDEX_ORIGINAL)
            ids.extend(chunk[1:])
        return ids


# --------------------------------------------------------------------------------------------------
# Golden runs

def load_rgb(name: str) -> Image.Image:
    with Image.open(os.path.join(IMAGES, name)) as im:
        return im.convert("RGB")


def expand2square(img: Image.Image, fill) -> Image.Image:
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    canvas = Image.new(img.mode, (side, side), fill)
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas


def margins_of(step_logits) -> list:
    out = []
    for lg in step_logits:
        top = torch.topk(lg.reshape(-1).double(), 2).values
        out.append(float(top[0] - top[1]))
    return out


def greedy_no_cache(forward_last_logits, n: int) -> list:
    """Reference check: greedy ids recomputing the whole sequence at every step."""
    ids = []
    for _ in range(n):
        ids.append(int(torch.argmax(forward_last_logits(ids))))
    return ids


def run_hf_case(model, processor, image_name: str, prompt: str) -> dict:
    image = load_rgb(image_name)
    prompt_text = processor.apply_chat_template(llava_hf_messages(prompt), add_generation_prompt=True)
    inputs = processor(images=image, text=prompt_text, return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    image_positions = [i for i, t in enumerate(ids) if t == common.IMAGE_TOKEN_INDEX_HF]
    span = [image_positions[0], len(image_positions)]
    assert image_positions == list(range(span[0], span[0] + span[1])) and span[1] == 576

    captured = {}

    def hook(_module, args, output):
        captured["vision_features"] = args[0].detach().clone()
        captured["image_features"] = output.detach().clone()

    handle = model.model.multi_modal_projector.register_forward_hook(hook)
    with torch.no_grad():
        out = model(**inputs)
    handle.remove()
    logits = out.logits[0, -1].detach().clone()

    with torch.no_grad():
        gen = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False, num_beams=1,
                             output_logits=True, return_dict_in_generate=True, eos_token_id=EOS_ID,
                             pad_token_id=common.PAD_TOKEN_INDEX_HF)
    greedy = gen.sequences[0, len(ids):].tolist()
    margins = margins_of(gen.logits)
    first_step_diff = float((gen.logits[0][0] - logits).abs().max())

    def last_logits(extra):
        full = dict(inputs)
        full["input_ids"] = torch.tensor([ids + extra])
        full["attention_mask"] = torch.ones_like(full["input_ids"])
        with torch.no_grad():
            return model(**full).logits[0, -1]

    return {
        "tensors": {
            "pixel_values": inputs["pixel_values"][0].to(torch.float32).contiguous(),
            "vision_features": captured["vision_features"][0].contiguous(),
            "image_features": captured["image_features"][0].contiguous(),
            "logits": logits.contiguous(),
        },
        "prompt_text": prompt_text, "input_ids": ids, "image_span": span,
        "greedy_ids": greedy, "margins": margins, "first_step_generate_vs_forward": first_step_diff,
        "no_cache_check": lambda: greedy_no_cache(last_logits, NEW_TOKENS),
    }


def run_orig_case(model: OrigLlava, image_processor, tokenize, image_name: str, prompt: str) -> dict:
    fill = tuple(int(m * 255) for m in image_processor.image_mean)
    assert fill == (122, 116, 104)
    image = expand2square(load_rgb(image_name), fill)
    pixel_values = image_processor(images=image, return_tensors="pt")["pixel_values"][0]
    prompt_text = vicuna_v1_prompt(prompt)
    ids = tokenize(prompt_text)
    pos = ids.index(common.IMAGE_TOKEN_INDEX_ORIGINAL)
    with torch.no_grad():
        vision_features, image_features = model.vision(pixel_values)
        embeds = model.embeds(ids, image_features)
        out = model.llm(inputs_embeds=embeds, attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long))
        logits = out.logits[0, -1].detach().clone()
        gen = model.llm.generate(inputs_embeds=embeds,
                                 attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
                                 max_new_tokens=NEW_TOKENS, do_sample=False, num_beams=1,
                                 output_logits=True, return_dict_in_generate=True,
                                 eos_token_id=EOS_ID, pad_token_id=0)
    greedy = gen.sequences[0].tolist()  # only the new tokens when generating from inputs_embeds
    margins = margins_of(gen.logits)
    first_step_diff = float((gen.logits[0][0] - logits).abs().max())

    def last_logits(extra):
        with torch.no_grad():
            emb = model.embeds(ids + extra, image_features)
            return model.llm(inputs_embeds=emb).logits[0, -1]

    return {
        "tensors": {
            "pixel_values": pixel_values.to(torch.float32).contiguous(),
            "vision_features": vision_features.contiguous(),
            "image_features": image_features.contiguous(),
            "logits": logits.contiguous(),
        },
        "prompt_text": prompt_text, "input_ids": ids, "image_span": [pos, image_features.shape[0]],
        "greedy_ids": greedy, "margins": margins, "first_step_generate_vs_forward": first_step_diff,
        "no_cache_check": lambda: greedy_no_cache(last_logits, NEW_TOKENS),
    }


def case_ok(result: dict, vocab_limit: int) -> tuple:
    g, m = result["greedy_ids"], min(result["margins"]) if result["margins"] else 0.0
    problems = []
    if len(g) != NEW_TOKENS:
        problems.append(f"{len(g)} ids")
    if EOS_ID in g:
        problems.append("EOS")
    if any(t >= vocab_limit or t < 0 for t in g):
        problems.append("id outside the text vocabulary")
    if m < MIN_MARGIN:
        problems.append(f"margin {m:.2e}")
    if len(set(g)) < MIN_DISTINCT:
        problems.append(f"only {len(set(g))} distinct ids")
    return not problems, problems


# --------------------------------------------------------------------------------------------------
# Writing checkpoints

def _compact_int_lists(obj):
    """Replaces lists of ints by placeholders so they can be printed on one line."""
    found = []

    def walk(x):
        if isinstance(x, list) and x and all(isinstance(v, int) and not isinstance(v, bool) for v in x):
            found.append(json.dumps(x))
            return f"@@INTLIST{len(found) - 1}@@"
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        return x

    return walk(obj), found


def write_json(path: str, obj, compact_lists: bool = False) -> None:
    if compact_lists:
        obj, lists = _compact_int_lists(obj)
        text = json.dumps(obj, indent=2, ensure_ascii=False)
        for i, s in enumerate(lists):
            text = text.replace(f'"@@INTLIST{i}@@"', s, 1)
    else:
        text = json.dumps(obj, indent=2, ensure_ascii=False)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def fresh_dir(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


def ensure_images(names) -> None:
    os.makedirs(IMAGES, exist_ok=True)
    for name in names:
        dst, src = os.path.join(IMAGES, name), os.path.join(SHARED_IMAGES, name)
        if os.path.exists(dst):
            with open(dst, "rb") as a, open(src, "rb") as b:
                assert a.read() == b.read(), f"{dst} differs from {src}"
        else:
            shutil.copyfile(src, dst)


PROCESSOR_FILES = ["processor_config.json", "chat_template.json", "chat_template.jinja",
                   "tokenizer.json", "tokenizer_config.json"]
# Big files the low-precision checkpoints share with llava-hf-tiny through relative symlinks
# (identical bytes; keeps Tests/Fixtures/models small).
LINKED_FILES = {"tokenizer.json"}


def write_hf_processor(out_dir: str) -> None:
    tmp = os.path.join(out_dir, ".tok")
    common.write_hf_tokenizer(tmp)
    tokenizer = AutoTokenizer.from_pretrained(tmp)
    shutil.rmtree(tmp)
    processor = LlavaProcessor(image_processor=clip_image_processor(), tokenizer=tokenizer,
                               patch_size=14, vision_feature_select_strategy="default",
                               # +1 for CLS (dropped again by "default"): 24*24 + 1 - 1 = 576. The
                               # 5.24 default of 0 would expand <image> to 575 tokens.
                               num_additional_image_tokens=1,
                               chat_template=LLAVA_HF_CHAT_TEMPLATE)
    processor.save_pretrained(out_dir)
    # The tokenizer files are exactly the ones common.write_hf_tokenizer produces.
    common.write_hf_tokenizer(out_dir)
    # llava-hf hub checkpoints carry the template as chat_template.json; transformers 5.24 writes
    # chat_template.jinja. Both are kept, with the same template.
    write_json(os.path.join(out_dir, "chat_template.json"), {"chat_template": LLAVA_HF_CHAT_TEMPLATE})


def save_hf(model, out_dir: str, dtype) -> None:
    fresh_dir(out_dir)
    m = copy.deepcopy(model).to(dtype)
    m.save_pretrained(out_dir)


def copy_processor_files(src_dir: str, dst_dir: str) -> None:
    for name in PROCESSOR_FILES:
        src = os.path.join(src_dir, name)
        if not os.path.exists(src):
            continue
        dst = os.path.join(dst_dir, name)
        if name in LINKED_FILES:
            os.symlink(os.path.join("..", os.path.basename(src_dir), name), dst)
        else:
            shutil.copyfile(src, dst)


def save_orig(cfg: dict, llm: LlamaForCausalLM, proj: torch.nn.Sequential, out_dir: str) -> None:
    fresh_dir(out_dir)
    write_json(os.path.join(out_dir, "config.json"), cfg)
    state = {}
    for k, v in llm.state_dict().items():
        state[k] = v.detach().to(torch.float32).contiguous()
    for k, v in proj.state_dict().items():
        state["model.mm_projector." + k] = v.detach().to(torch.float32).contiguous()
    order = list(state)
    total = sum(t.numel() * t.element_size() for t in state.values())
    shards, acc = [[], []], 0
    for k in order:
        shards[0 if acc < total // 2 else 1].append(k)
        acc += state[k].numel() * state[k].element_size()
    assert shards[0] and shards[1]
    weight_map = {}
    for i, keys in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: state[k] for k in keys}, os.path.join(out_dir, fname), metadata={"format": "pt"})
        for k in keys:
            weight_map[k] = fname
    write_json(os.path.join(out_dir, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    shutil.copyfile(common.SPM_MODEL, os.path.join(out_dir, "tokenizer.model"))
    write_json(os.path.join(out_dir, "tokenizer_config.json"), {
        "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "clean_up_tokenization_spaces": False,
        "eos_token": "</s>", "legacy": False, "model_max_length": cfg["tokenizer_model_max_length"],
        "pad_token": "<unk>", "padding_side": "right", "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>"})
    write_json(os.path.join(out_dir, "generation_config.json"),
               {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0})


def save_clip(model: CLIPModel, out_dir: str) -> None:
    fresh_dir(out_dir)
    model.save_pretrained(out_dir)
    clip_image_processor().save_pretrained(out_dir)


# --------------------------------------------------------------------------------------------------
# Loading back from disk (the goldens are computed from what was written)

def load_hf(out_dir: str, attn: str):
    model = LlavaForConditionalGeneration.from_pretrained(out_dir, dtype=torch.float32,
                                                          attn_implementation=attn).eval()
    return model


def load_hf_processor(out_dir: str):
    processor = AutoProcessor.from_pretrained(out_dir)
    ip = processor.image_processor
    assert type(ip).__name__ == "CLIPImageProcessorPil" and ip.backend == "pil", type(ip)
    assert processor.chat_template == LLAVA_HF_CHAT_TEMPLATE
    return processor


def load_orig(orig_dir: str, attn: str):
    with open(os.path.join(orig_dir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(orig_dir, "model.safetensors.index.json")) as f:
        index = json.load(f)
    state = {}
    for fname in sorted(set(index["weight_map"].values())):
        with safe_open(os.path.join(orig_dir, fname), "pt") as f:
            for k in f.keys():
                assert index["weight_map"][k] == fname
                state[k] = f.get_tensor(k)
    assert set(state) == set(index["weight_map"])
    llm_cfg = llama_config_from_orig(cfg)
    llm_cfg._attn_implementation = attn
    llm = LlamaForCausalLM(llm_cfg).eval()
    proj = new_projector(cfg["mm_hidden_size"], cfg["hidden_size"]).eval()
    proj_state = {k[len("model.mm_projector."):]: v for k, v in state.items() if k.startswith("model.mm_projector.")}
    llm_state = {k: v for k, v in state.items() if not k.startswith("model.mm_projector.")}
    llm.load_state_dict(llm_state, strict=True)
    proj.load_state_dict(proj_state, strict=True)
    # Linear RoPE scaling: inverse frequencies divided by the factor.
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    expected = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    expected = expected / cfg["rope_scaling"]["factor"]
    assert torch.allclose(llm.model.rotary_emb.inv_freq.float(), expected), "linear rope scaling not applied"
    tower_dir = os.path.normpath(os.path.join(orig_dir, cfg["mm_vision_tower"]))
    tower, info = CLIPVisionModel.from_pretrained(tower_dir, dtype=torch.float32, attn_implementation=attn,
                                                  output_loading_info=True)
    assert not info["missing_keys"] and not info.get("mismatched_keys"), info
    return OrigLlava(llm, proj, tower.eval(), cfg["mm_vision_select_layer"]), cfg, tower_dir


def cross_check_orig_with_hf(orig_dir: str, results: dict) -> dict:
    """Independent check of the hand-built original path: convert llava-v1.5-tiny + clip-vit-tiny with
    the documented conversion map (REFERENCE.md §1.3) into transformers' LlavaForConditionalGeneration,
    expand -200 into 576 image tokens and compare logits and greedy ids with the goldens. The
    vocabulary is padded with zero rows to 32064 so that id 32000 can serve as the image token."""
    with open(os.path.join(orig_dir, "config.json")) as f:
        cfg = json.load(f)
    tower_dir = os.path.normpath(os.path.join(orig_dir, cfg["mm_vision_tower"]))
    text_cfg = llama_config_from_orig(cfg)
    text_cfg.vocab_size = 32064
    config = LlavaConfig(text_config=text_cfg, vision_config=clip_config().vision_config,
                         image_token_index=32000, projector_hidden_act="gelu",
                         vision_feature_layer=cfg["mm_vision_select_layer"],
                         vision_feature_select_strategy="default", multimodal_projector_bias=True)
    config._attn_implementation = "eager"
    model = LlavaForConditionalGeneration(config).eval()
    with open(os.path.join(orig_dir, "model.safetensors.index.json")) as f:
        files = sorted(set(json.load(f)["weight_map"].values()))
    state = {}
    for fname in files:
        with safe_open(os.path.join(orig_dir, fname), "pt") as f:
            for k in f.keys():
                t = f.get_tensor(k)
                if k.startswith("model.mm_projector."):
                    idx, rest = k[len("model.mm_projector."):].split(".", 1)
                    state[f"model.multi_modal_projector.linear_{ {'0': 1, '2': 2}[idx]}.{rest}"] = t
                elif k.startswith("model."):
                    state["model.language_model." + k[len("model."):]] = t
                else:
                    state[k] = t
    with safe_open(os.path.join(tower_dir, "model.safetensors"), "pt") as f:
        for k in f.keys():
            if k.startswith("vision_model."):
                state["model.vision_tower." + k[len("vision_model."):]] = f.get_tensor(k)
    for k in ("model.language_model.embed_tokens.weight", "lm_head.weight"):
        state[k] = torch.cat([state[k], torch.zeros(64, state[k].shape[1])])
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and not missing, (missing, unexpected)
    out = {}
    for name, r in results.items():
        ids = []
        for t in r["input_ids"]:
            ids.extend([32000] * 576 if t == common.IMAGE_TOKEN_INDEX_ORIGINAL else [t])
        inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
                  "pixel_values": r["tensors"]["pixel_values"].unsqueeze(0)}
        with torch.no_grad():
            logits = model(**inputs).logits[0, -1, :32000]
            gen = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False, num_beams=1,
                                 eos_token_id=EOS_ID, pad_token_id=0)
        ref = r["tensors"]["logits"]
        out[name] = float((logits - ref).abs().max() / ref.abs().max())
        assert out[name] < 1e-5, (name, out[name])
        assert gen[0, len(ids):].tolist() == r["greedy_ids"], name
    return out


# --------------------------------------------------------------------------------------------------
# Seed search

def search(n: int) -> None:
    ensure_images({c[2] for c in HF_CASES} | {c[1] for c in ORIG_CASES})
    tmp = os.path.join(MODELS, ".search")
    fresh_dir(tmp)
    try:
        proc_dir = os.path.join(tmp, "proc")
        os.makedirs(proc_dir)
        write_hf_processor(proc_dir)
        processor = load_hf_processor(proc_dir)
        clip_dir = os.path.join(tmp, CLIP_DIR)
        save_clip(build_clip(CLIP_SEED + SEED_OFFSET_CLIP), clip_dir)
        tower = CLIPVisionModel.from_pretrained(clip_dir, attn_implementation="eager").eval()
        ip = CLIPImageProcessorPil.from_pretrained(clip_dir)
        tokenize = SpmImageTokenizer(common.SPM_MODEL)
        for seed in range(n):
            base = build_hf_model(seed)
            rows = []
            for name, ckpt, image, prompt in HF_CASES:
                m = base
                if ckpt != HF_DIR:
                    m = copy.deepcopy(base)
                    round_model_(m, torch.float16 if ckpt == HF_F16_DIR else torch.bfloat16)
                r = run_hf_case(m, processor, image, prompt)
                rows.append((name, case_ok(r, 32000), min(r["margins"]), r["greedy_ids"]))
            print_search_rows("hf", seed, rows)
            cfg, llm, proj = build_orig_parts(seed + SEED_OFFSET_ORIG)
            model = OrigLlava(llm, proj, tower, cfg["mm_vision_select_layer"])
            rows = []
            for name, image, prompt in ORIG_CASES:
                r = run_orig_case(model, ip, tokenize, image, prompt)
                rows.append((name, case_ok(r, 32000), min(r["margins"]), r["greedy_ids"]))
            print_search_rows("orig", seed, rows)
    finally:
        shutil.rmtree(tmp)


def print_search_rows(kind, seed, rows):
    ok = all(r[1][0] for r in rows)
    print(f"{kind} seed {seed}: {'OK' if ok else 'no'}; min margin {min(r[2] for r in rows):.4g}")
    for name, (good, problems), margin, ids in rows:
        print(f"    {name:16s} margin {margin:.4g} distinct {len(set(ids))} {problems} {ids}")


# --------------------------------------------------------------------------------------------------
# Main

def tensor_names(path: str) -> dict:
    with safe_open(path, "pt") as f:
        return {k: (f.get_slice(k).get_dtype(), f.get_slice(k).get_shape()) for k in f.keys()}


def name_patterns(names) -> list:
    import re
    return sorted({re.sub(r"\.\d+\.", ".N.", n) for n in names})


# Cases whose golden keeps `pixel_values` (one per preprocessing mode); the others' pixels are
# recomputed by the Swift image pipeline, whose bit-exactness the image fixtures check.
PIXEL_GOLDENS = {"hf_chelsea", "orig_chelsea"}


def save_golden(name: str, result: dict, meta: dict, keep_pixels: bool | None = None) -> None:
    """keep_pixels: store `pixel_values` (default: the case is one of PIXEL_GOLDENS; make_family_fixtures.py
    passes True for its golden)."""
    keep = name in PIXEL_GOLDENS if keep_pixels is None else keep_pixels
    tensors = {k: v for k, v in result["tensors"].items() if k != "pixel_values" or keep}
    save_file(tensors, os.path.join(GOLDEN, name + ".safetensors"))
    doc = dict(meta)
    doc.update({
        "prompt_text": result["prompt_text"],
        "input_ids": result["input_ids"],
        "image_span": result["image_span"],
        "greedy_ids": result["greedy_ids"],
        "min_top2_margin": round(min(result["margins"]), 6),
    })
    doc["reference"] = doc.pop("reference")
    write_json(os.path.join(GOLDEN, name + ".json"), doc, compact_lists=True)


def check_case(name, result, alt, vocab_limit):
    ok, problems = case_ok(result, vocab_limit)
    assert ok, f"{name}: {problems}"
    assert result["first_step_generate_vs_forward"] < 1e-4, result["first_step_generate_vs_forward"]
    assert result["no_cache_check"]() == result["greedy_ids"], f"{name}: no-cache greedy differs"
    # Relative to the tensor's largest magnitude (image features reach ~80).
    diff = {k: float((result["tensors"][k] - alt["tensors"][k]).abs().max() / max(1.0, float(v.abs().max())))
            for k, v in result["tensors"].items()}
    assert alt["greedy_ids"] == result["greedy_ids"], f"{name}: sdpa greedy ids differ"
    assert alt["input_ids"] == result["input_ids"]
    assert diff["pixel_values"] == 0.0 and max(diff.values()) < 1e-5, diff
    return diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--search", type=int, default=0, metavar="N", help="try seeds 0..N-1 and exit")
    args = ap.parse_args()
    setup_determinism()
    if args.search:
        search(args.search)
        return

    ensure_images({c[2] for c in HF_CASES} | {c[1] for c in ORIG_CASES})
    os.makedirs(MODELS, exist_ok=True)
    fresh_dir(GOLDEN)

    # 1-2. llava-hf layout, fp32 / f16 / bf16.
    hf = build_hf_model(HF_SEED)
    hf_dirs = {HF_DIR: torch.float32, HF_F16_DIR: torch.float16, HF_BF16_DIR: torch.bfloat16}
    for d, dtype in hf_dirs.items():
        out = os.path.join(MODELS, d)
        save_hf(hf, out, dtype)
        if d == HF_DIR:
            write_hf_processor(out)
        else:
            copy_processor_files(os.path.join(MODELS, HF_DIR), out)

    # 3-4. original layout + separate CLIP tower.
    save_clip(build_clip(CLIP_SEED + SEED_OFFSET_CLIP), os.path.join(MODELS, CLIP_DIR))
    cfg, llm, proj = build_orig_parts(ORIG_SEED + SEED_OFFSET_ORIG)
    save_orig(cfg, llm, proj, os.path.join(MODELS, ORIG_DIR))

    report = {"cases": {}, "hf_tensors": {}, "dtype_vs_fp32": {}, "eager_vs_sdpa": {}}

    # Goldens, llava-hf.
    hf_results = {}
    for name, ckpt, image, prompt in HF_CASES:
        d = os.path.join(MODELS, ckpt)
        processor = load_hf_processor(d)
        r = run_hf_case(load_hf(d, "eager"), processor, image, prompt)
        alt = run_hf_case(load_hf(d, "sdpa"), processor, image, prompt)
        report["eager_vs_sdpa"][name] = check_case(name, r, alt, 32000)
        hf_results[name] = r
        save_golden(name, r, {
            "checkpoint": ckpt, "vision_tower": None, "image": image, "prompt": prompt,
            "template": "llava-hf", "image_aspect_ratio": "crop",
            "reference": (f"transformers {transformers.__version__} LlavaForConditionalGeneration "
                          f"(eager attention, fp32 compute from {ckpt} weights), LlavaProcessor with "
                          f"{type(processor.image_processor).__name__} (PIL backend), generate() greedy "
                          f"with KV cache"),
        })
        report["cases"][name] = r

    base = hf_results["hf_chelsea"]
    for name in ("hf_f16_chelsea", "hf_bf16_chelsea"):
        r = hf_results[name]
        report["dtype_vs_fp32"][name] = {
            k: float((r["tensors"][k] - base["tensors"][k]).abs().max()) for k in ("image_features", "logits")}
        report["dtype_vs_fp32"][name]["greedy_ids_equal_fp32"] = r["greedy_ids"] == base["greedy_ids"]

    # Goldens, original layout.
    tokenize = SpmImageTokenizer(os.path.join(MODELS, ORIG_DIR, "tokenizer.model"))
    orig_dir = os.path.join(MODELS, ORIG_DIR)
    orig_results = {}
    for name, image, prompt in ORIG_CASES:
        model, _, tower_dir = load_orig(orig_dir, "eager")
        ip = CLIPImageProcessorPil.from_pretrained(tower_dir)
        assert ip.backend == "pil"
        r = run_orig_case(model, ip, tokenize, image, prompt)
        model_sdpa, _, _ = load_orig(orig_dir, "sdpa")
        alt = run_orig_case(model_sdpa, ip, tokenize, image, prompt)
        report["eager_vs_sdpa"][name] = check_case(name, r, alt, 32000)
        assert r["image_span"] == [35, 576], r["image_span"]
        save_golden(name, r, {
            "checkpoint": ORIG_DIR, "vision_tower": CLIP_DIR, "image": image, "prompt": prompt,
            "template": "vicuna_v1", "image_aspect_ratio": "pad",
            "reference": (f"original LLaVA-1.5 semantics re-implemented on transformers {transformers.__version__}: "
                          "expand2square (122,116,104) + CLIPImageProcessorPil, tokenizer_image_token with "
                          "sentencepiece, CLIPVisionModel hidden_states[-2][:,1:], mlp2x_gelu, features spliced "
                          "at -200, LlamaForCausalLM (eager, linear RoPE x2) generate() greedy with KV cache"),
        })
        report["cases"][name] = r
        orig_results[name] = r
    report["orig_vs_hf_port"] = cross_check_orig_with_hf(orig_dir, orig_results)

    # Prompt ids for both templates.
    hf_tok_processor = load_hf_processor(os.path.join(MODELS, HF_DIR))
    entries = []
    for prompt in TOKENIZER_PROMPTS:
        hf_text = hf_tok_processor.apply_chat_template(llava_hf_messages(prompt), add_generation_prompt=True)
        hf_ids = hf_tok_processor.tokenizer(hf_text)["input_ids"]
        v_text = vicuna_v1_prompt(prompt)
        entries.append({
            "prompt": prompt,
            "llava_hf": {"prompt_text": hf_text, "input_ids": hf_ids,
                         "image_token_positions": [i for i, t in enumerate(hf_ids) if t == common.IMAGE_TOKEN_INDEX_HF]},
            "vicuna_v1": {"prompt_text": v_text, "input_ids": tokenize(v_text)},
        })
    write_json(os.path.join(GOLDEN, "tokenizer_hf.json"), {
        "description": ("Prompt ids for both templates. llava_hf: chat template + tokenizer.json of "
                        f"{HF_DIR} via transformers {transformers.__version__}, one <image> token (32000) "
                        "before the processor expands it to 576 copies. vicuna_v1: tokenizer_image_token "
                        "semantics with sentencepiece on tokenizer.model (BOS once, chunks encoded "
                        "separately, -200 for the image)."),
        "cases": entries,
    }, compact_lists=True)

    # Facts for the README.
    st = tensor_names(os.path.join(MODELS, HF_DIR, "model.safetensors"))
    report["hf_tensors"] = st
    for d in (HF_F16_DIR, HF_BF16_DIR):
        other = tensor_names(os.path.join(MODELS, d, "model.safetensors"))
        assert set(other) == set(st)
    write_readme(report)
    print_summary(report)


# --------------------------------------------------------------------------------------------------
# README

def file_table() -> list:
    rows = []
    for root, dirs, files in os.walk(MODELS):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            rel = os.path.relpath(p, MODELS)
            if rel == "README.md":
                continue
            if os.path.islink(p):
                rows.append(f"| `{rel}` | symlink → `{os.readlink(p)}` |")
            else:
                rows.append(f"| `{rel}` | {os.path.getsize(p):,} |")
    return rows


def write_readme(report: dict) -> None:
    hf_cfg = json.load(open(os.path.join(MODELS, HF_DIR, "config.json")))
    f16_cfg = json.load(open(os.path.join(MODELS, HF_F16_DIR, "config.json")))
    patterns = name_patterns(report["hf_tensors"])
    L = []
    a = L.append
    a("# Tiny LLaVA-1.5 model fixtures")
    a("")
    a("Generated by `Tools/reference/make_model_fixtures.py` (run it through `Tools/reference/make_fixtures.sh`);")
    a("do not edit by hand, this README included. Random weights: the checkpoints exercise loaders and the numeric")
    a("path, they know nothing. Versions: " + ", ".join(
        f"{m.__name__} {m.__version__}" for m in (torch, transformers, np)) + f", pillow {Image.__version__}.")
    a(f"Seeds: llava-hf `{HF_SEED}`, original-layout LLM/projector `{ORIG_SEED + SEED_OFFSET_ORIG}`, CLIP `{CLIP_SEED + SEED_OFFSET_CLIP}`;")
    a("every parameter is redrawn in sorted-name order: norm weights 1 + N(0, 0.1), biases N(0, 0.1), other tensors")
    a("N(0, s²) with s ~ U[0.1, 0.5] per tensor. One CPU thread, deterministic algorithms: a re-run is byte-identical.")
    a("")
    a("**NOTICE.** The tokenizer files (`*/tokenizer.json`, `llava-v1.5-tiny/tokenizer.model`) and every `input_ids`/")
    a("`greedy_ids` list contain or index Meta's LLaMA-2 vocabulary, distributed under the Llama 2 Community License")
    a("(see `shared/README.md`); the rest of these fixtures is random data made by the script.")
    a("")
    a("## Checkpoints")
    a("")
    a(f"- `{HF_DIR}/`: `LlavaForConditionalGeneration(config).save_pretrained` (transformers {transformers.__version__}), fp32,")
    a("  one `model.safetensors`. Processor: `LlavaProcessor(CLIPImageProcessorPil, tokenizer, patch_size=14,")
    a("  vision_feature_select_strategy=\"default\", num_additional_image_tokens=1)`.save_pretrained (with the 5.24")
    a("  default `num_additional_image_tokens=0` the processor expands `<image>` to 575 tokens, TOK-1), which writes `processor_config.json` with the")
    a("  image-processor settings **nested** under `image_processor` (no `preprocessor_config.json`) and the template as")
    a("  `chat_template.jinja`; the script adds the hub-style `chat_template.json` (same template). Tokenizer files are")
    a("  `common.write_hf_tokenizer` (ids 32000 `<image>`, 32001 `<pad>`; Metaspace pre-tokenizer, prepend_scheme")
    a("  \"first\"). `generation_config.json` is what save_pretrained wrote.")
    a(f"- `{HF_F16_DIR}/`, `{HF_BF16_DIR}/`: the same model with every tensor rounded to float16 / bfloat16 and stored in")
    a(f"  that dtype (config `dtype`: `{f16_cfg.get('dtype')}` / `bfloat16`). Processor/tokenizer files are copies, except")
    a("  `tokenizer.json` (3.6 MB), a relative symlink to `../llava-hf-tiny/tokenizer.json`.")
    a(f"- `{ORIG_DIR}/`: original LLaVA layout (`liuhaotian/llava-v1.5-7b` style): hand-written `config.json`")
    a("  (`LlavaLlamaForCausalLM`, `model_type: llava_llama`, 4.x dialect: top-level `rope_theta`, `torch_dtype`,")
    a("  `rope_scaling: {type: linear, factor: 2.0}`, `mm_vision_tower: ../clip-vit-tiny`, vocab 32000, pad 0), weights")
    a("  `model.embed_tokens`, `model.layers.N.*`, `model.norm`, `lm_head`, `model.mm_projector.{0,2}.{weight,bias}` in two")
    a("  shards + `model.safetensors.index.json`; `tokenizer.model` (copy of shared/tokenizers/llama-spm) and a")
    a("  `tokenizer_config.json` (LlamaTokenizer, legacy false, add_bos true). Independent random weights.")
    a(f"- `{CLIP_DIR}/`: `CLIPModel.save_pretrained` (vision tower as in llava-hf-tiny, text tower vocab 1000 / hidden 16 /")
    a("  1 layer) + `preprocessor_config.json` from `CLIPImageProcessorPil.save_pretrained` (it records")
    a("  `image_processor_type: CLIPImageProcessor`). Tensor names `vision_model.*`, `text_model.*`, `visual_projection`,")
    a("  `text_projection`, `logit_scale`.")
    a("")
    a("Common sizes: LLaMA hidden 24, 4 heads (head_dim 6), 2 KV heads (GQA), FFN 64, 3 layers, RMSNorm eps 1e-5,")
    a("rope_theta 10000, untied lm_head. CLIP: hidden 32, 3 layers, 4 heads, FFN 64, 336 px / patch 14 (576 patches +")
    a("CLS), quick_gelu, LN eps 1e-5. Projector 32 → 24 → 24 with exact GELU. llava-hf: vocab 32064, image token 32000,")
    a("pad 32001, `vision_feature_layer -2`, `default` strategy.")
    a("")
    a(f"### What transformers {transformers.__version__} wrote for `{HF_DIR}`")
    a("")
    a("Config dialect (5.x): top-level `dtype`, `image_seq_length: 576`, `pad_token_id`; `text_config` has `head_dim`,")
    a("`rope_parameters: " + json.dumps(hf_cfg["text_config"].get("rope_parameters")) + "` and no `rope_theta`;")
    a("`vision_config.model_type: clip_vision_model`. Top-level keys: " +
      ", ".join(f"`{k}`" for k in hf_cfg) + ".")
    a("")
    a(f"Tensor names ({len(report['hf_tensors'])} tensors, `N` = layer index; legacy `language_model.model.*` /")
    a("`language_model.lm_head` names, but the CLIP tower **without** the `vision_model.` level):")
    a("")
    a("```")
    for p in patterns:
        a(p)
    a("```")
    a("")
    a("## Goldens (`golden/<case>.safetensors` + `.json`)")
    a("")
    a("Tensors (fp32): `pixel_values` [3,336,336] (what the model consumed; kept for hf_chelsea and orig_chelsea only, the other cases take pixels from the Swift image pipeline), `vision_features` [576,32] (selected layer")
    a("−2, CLS dropped), `image_features` [576,24] (projector output), `logits` [vocab] (last prompt position, first")
    a("step). JSON: checkpoint, vision_tower, image (under `Tests/Fixtures/images/`), prompt, template,")
    a("image_aspect_ratio, prompt_text, input_ids (llava-hf: expanded 576 × 32000 as the processor produced them;")
    a("original: one −200), image_span [start, length] in the expanded sequence, 20 greedy ids (KV-cached `generate`,")
    a("do_sample false), min_top2_margin, reference.")
    a("")
    a("| case | checkpoint | image | image span | min top-1/top-2 margin | greedy ids |")
    a("|---|---|---|---|---|---|")
    for name, r in report["cases"].items():
        ck = next((c[1] for c in HF_CASES if c[0] == name), ORIG_DIR)
        im = next((c[2] for c in HF_CASES if c[0] == name), None) or next(c[1] for c in ORIG_CASES if c[0] == name)
        a(f"| {name} | {ck} | {im} | {r['image_span']} | {min(r['margins']):.4g} | {' '.join(map(str, r['greedy_ids']))} |")
    a("")
    a("Each case is checked when it is made: greedy ids identical with eager and sdpa attention and with no KV")
    a("cache (full recomputation every step); first `generate` step equals the forward's logits; no EOS (2), all ids")
    a("< 32000. Largest eager-vs-sdpa difference, relative to each tensor's max |x|, over all cases: " + ", ".join(
        f"{k} {max(v[k] for v in report['eager_vs_sdpa'].values()):.1e}"
        for k in ("pixel_values", "vision_features", "image_features", "logits")) + ".")
    a("Magnitudes (max |x| over the cases): " + ", ".join(
        f"{k} {max(float(r['tensors'][k].abs().max()) for r in report['cases'].values()):.1f}"
        for k in ("pixel_values", "vision_features", "image_features", "logits")) +
      ": compare with a relative or magnitude-scaled tolerance.")
    a("")
    a("Preprocessing: llava-hf cases use the checkpoint's processor, which resolves to `CLIPImageProcessorPil`")
    a("(torchvision is not installed; the PIL backend is asserted): shortest edge 336, PIL bicubic, centre crop. Original")
    a("cases: `expand2square` with fill (122, 116, 104) pasted at ((max−w)//2, (max−h)//2), then the CLIP directory's")
    a("`CLIPImageProcessorPil`. Prompts: llava-hf `USER: <image>\\n{prompt} ASSISTANT:` (image at position 5);")
    a("vicuna_v1 with the system prompt (image at 35..610).")
    a("")
    a("`golden/tokenizer_hf.json`: prompt ids for both templates (llava-hf: rendered with the saved chat template and")
    a("tokenised with the saved `tokenizer.json`, one unexpanded 32000; vicuna_v1: tokenizer_image_token with")
    a("sentencepiece) for " + str(len(TOKENIZER_PROMPTS)) + " prompts.")
    a("")
    a("Cross-check of the original path: llava-v1.5-tiny + clip-vit-tiny converted with the documented map")
    a("(`model.mm_projector.0/2` → `linear_1/2`, `model.` → language model, `vision_model.` → vision tower; vocabulary")
    a("padded with zero rows to 32064) and run through `LlavaForConditionalGeneration` with −200 expanded to 576 × 32000")
    a("reproduces the orig goldens' greedy ids; first-step logits differ by " + ", ".join(
        f"{k} {v:.1e}" for k, v in report["orig_vs_hf_port"].items()) + " (relative to max |logit|).")
    a("")
    a("## F16 / BF16 tolerances")
    a("")
    a("The f16/bf16 goldens are fp32 computations on the rounded weights: an engine that upcasts the stored weights to")
    a("fp32 should match them as closely as the fp32 goldens (about 1e-5 relative to each tensor's max |x|). Against the")
    a("fp32 model's `hf_chelsea` outputs, the weight rounding alone gives:")
    a("")
    a("| case | max abs diff image_features | max abs diff logits | greedy ids equal to fp32 |")
    a("|---|---|---|---|")
    lg = base_logits_scale(report)
    for name, d in report["dtype_vs_fp32"].items():
        a(f"| {name} | {d['image_features']:.3e} | {d['logits']:.3e} | {d['greedy_ids_equal_fp32']} |")
    a("")
    a(f"(fp32 `hf_chelsea` logits: max |x| {lg[0]:.3f}, std {lg[1]:.3f}.)")
    a("")
    a("## Files")
    a("")
    a("Total " + f"{total_bytes() / 1e6:.1f}" + " MB (symlinks not counted). The vocabulary rows dominate: 32064 × 24 fp32 embedding +")
    a("lm_head are 6.2 MB per fp32 LLaMA checkpoint, `tokenizer.json` 3.6 MB, each golden's `pixel_values` 1.35 MB.")
    a("")
    a("| file | bytes |")
    a("|---|---|")
    L.extend(file_table())
    a("")
    with open(os.path.join(MODELS, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(L))


def total_bytes() -> int:
    n = 0
    for root, _, files in os.walk(MODELS):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p) and os.path.relpath(p, MODELS) != "README.md":
                n += os.path.getsize(p)
    return n


def base_logits_scale(report):
    lg = report["cases"]["hf_chelsea"]["tensors"]["logits"]
    return float(lg.abs().max()), float(lg.std())


def print_summary(report: dict) -> None:
    for name, r in report["cases"].items():
        print(f"{name:16s} span {r['image_span']} min margin {min(r['margins']):.4g} ids {r['greedy_ids']}")
    for name, d in report["dtype_vs_fp32"].items():
        print(f"{name} vs fp32: {d}")
    print("eager vs sdpa max diff (relative):", max(max(v.values()) for v in report["eager_vs_sdpa"].values()))
    print("original path vs transformers' Llava port (relative logits diff):", report["orig_vs_hf_port"])
    print(f"Tests/Fixtures/models: {total_bytes() / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
