#!/usr/bin/env python3
"""Trains a miniature LLaVA-1.5 (llava-hf layout) on the shapes task of make_task.py, on the CPU.

    python train.py --task /tmp/task --out Tests/Fixtures/models/llava-demo \
        [--stage1-min 5] [--stage2-min 9] [--seed 0]

Architecture: transformers' LlavaForConditionalGeneration with a small CLIPVisionModel (224 px,
patch 28 -> 8 x 8 = 64 image tokens, vision_feature_layer -2, "default" = CLS dropped), the
llava-hf mlp2x_gelu projector (linear-gelu-linear) and a small LlamaForCausalLM. Tokenizer: a
SentencePiece BPE model (byte fallback, LLaMA-style specials <unk>=0 <s>=1 </s>=2) trained on the
task's text, converted to tokenizer.json the way transformers converts LLaMA's tokenizer.model,
plus <image> and <pad> as added special tokens.

Prompt (the checkpoint's chat template: llava-hf's, preceded by vicuna_v1's system prompt when the
conversation has none, so the system prompt precedes the image as in LLaVA-1.5): "{system} USER:
<image>\n{question}\nAnswer the question using a single word or phrase. ASSISTANT:" followed by
" {answer}</s>".

Recipe: stage 1 = dense captions (every object's colour, shape, row, column; loss on caption
tokens; all weights train), stage 2 = questions (loss on answer tokens + </s>) mixed with 25%
captions. Wall-clock budgets per stage; the best checkpoint by validation accuracy (first answer
token, teacher forced) is saved. Then the test split is scored with transformers' greedy
generate() through the saved checkpoint and its processor.
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import common as reference_common  # noqa: E402

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_task as T  # noqa: E402

import transformers  # noqa: E402
from transformers import (AutoProcessor, AutoTokenizer, CLIPVisionConfig, LlamaConfig,  # noqa: E402
                          LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor)
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil  # noqa: E402

transformers.logging.set_verbosity_error()

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
N_IMG = (T.IMAGE // T.PATCH) ** 2  # 64
CAPTION_Q = "Describe the image."
# vicuna_v1's system prompt (LLaVA's conv_vicuna_v1), the default of the checkpoint's chat template.
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
# The fixtures' llava-hf template (Tools/reference/common.py) after the default system prompt.
TEMPLATE = ("{%- if messages[0]['role'] != 'system' -%}{{ '" + SYSTEM.replace("'", "\\'") + " ' }}{%- endif -%}"
            + reference_common.LLAVA_HF_CHAT_TEMPLATE)


def prompt_string(text: str) -> str:
    return SYSTEM + " USER: <image>\n" + text + " ASSISTANT:"


# --------------------------------------------------------------------------------------------------
# Tokenizer

def train_tokenizer(out_dir: str, vocab: int, seed: int) -> None:
    import sentencepiece as spm
    rng = random.Random(seed + 5)
    lines = []
    for _ in range(3000):
        scene, cat, q, a = T.sample(rng)
        lines.append(prompt_string(T.prompt_text(q)) + " " + a)
        lines.append(prompt_string(CAPTION_Q) + " " + T.caption(scene))
    lines += T.all_words()
    with tempfile.TemporaryDirectory() as tmp:
        txt = os.path.join(tmp, "text.txt")
        with open(txt, "w") as f:
            f.write("\n".join(lines) + "\n")
        prefix = os.path.join(tmp, "sp")
        spm.SentencePieceTrainer.train(
            input=txt, model_prefix=prefix, vocab_size=vocab, model_type="bpe", byte_fallback=True,
            character_coverage=1.0, normalization_rule_name="identity", add_dummy_prefix=True,
            remove_extra_whitespaces=False, split_digits=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            user_defined_symbols=[], num_threads=1, minloglevel=2)
        spdir = os.path.join(tmp, "spdir")
        os.makedirs(spdir)
        shutil.copy(prefix + ".model", os.path.join(spdir, "tokenizer.model"))
        with open(os.path.join(spdir, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "LlamaTokenizer", "legacy": False, "add_bos_token": True,
                       "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                       "unk_token": "<unk>"}, f)
        tok = AutoTokenizer.from_pretrained(spdir)
        tok.add_tokens(["<image>"], special_tokens=True)
        tok.add_special_tokens({"pad_token": "<pad>"})
        tok.save_pretrained(out_dir)
        shutil.copy(prefix + ".model", os.path.join(out_dir, "tokenizer.model.sp"))


# --------------------------------------------------------------------------------------------------
# Data

def pixels(scene) -> np.ndarray:
    a = np.asarray(T.render(scene), dtype=np.float32) / 255.0
    return ((a - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)


class Encoder:
    def __init__(self, tok):
        self.tok = tok
        self.image_id = tok.convert_tokens_to_ids("<image>")
        self.eos = tok.eos_token_id
        self.cache = {}

    def ids(self, text):
        if text not in self.cache:
            self.cache[text] = self.tok(text)["input_ids"]
        return self.cache[text]

    def example(self, text: str, answer: str):
        p = self.ids(prompt_string(text))
        full = self.tok(prompt_string(text) + " " + answer)["input_ids"]
        assert full[:len(p)] == p, (p, full)
        ans = full[len(p):] + [self.eos]
        k = p.index(self.image_id)
        p = p[:k] + [self.image_id] * N_IMG + p[k + 1:]
        return p + ans, len(p)

    def turn(self, text: str, answer: str):
        """A later turn of a conversation: `USER: {text} ASSISTANT: {answer}</s>` after the previous
        turn's `</s>` (vicuna_v1's separators), as ids without BOS, and where its answer starts."""
        q = self.tok("USER: " + text + " ASSISTANT:", add_special_tokens=False)["input_ids"]
        full = self.tok("USER: " + text + " ASSISTANT: " + answer, add_special_tokens=False)["input_ids"]
        assert full[:len(q)] == q, (q, full)
        return full + [self.eos], len(q)


def cell_classes(scene) -> list:
    """Per image token (raster order): 0 for an empty cell, else 1 + colour index * 4 + shape index."""
    out = [0] * (T.GRID * T.GRID)
    colours = list(T.COLOURS)
    for o in scene:
        out[o["row"] * T.GRID + o["col"]] = 1 + colours.index(o["colour"]) * len(T.SHAPES) + T.SHAPES.index(o["shape"])
    return out


class VisionProbe(torch.nn.Module):
    """Training-only linear probes on the projector's output (the image tokens the LLM reads): each
    token's cell content (empty or one of 20 colour-shape pairs), row and column. They give the
    vision tower dense supervision from the first step (stage 0, and beside the LM loss later); they
    are not part of the saved checkpoint."""

    def __init__(self, hidden: int):
        super().__init__()
        self.cell = torch.nn.Linear(hidden, 1 + len(T.COLOURS) * len(T.SHAPES))
        self.row = torch.nn.Linear(hidden, T.GRID)
        self.col = torch.nn.Linear(hidden, T.GRID)
        idx = torch.arange(T.GRID * T.GRID)
        self.register_buffer("rows", idx // T.GRID, persistent=False)
        self.register_buffer("cols", idx % T.GRID, persistent=False)
        self.features = None
        self.align_mse = False  # --align-mse: match the word embeddings' sum itself, not only its direction

    def hook(self, _module, _args, output):
        self.features = output

    def loss(self, classes: torch.Tensor):
        f = self.features.reshape(classes.shape[0], T.GRID * T.GRID, -1)
        ce = torch.nn.functional.cross_entropy
        b = classes.shape[0]
        return (ce(self.cell(f).flatten(0, 1), classes.flatten())
                + ce(self.row(f).flatten(0, 1), self.rows.repeat(b)) + ce(self.col(f).flatten(0, 1), self.cols.repeat(b)))

    def alignment(self, classes: torch.Tensor, embeddings: torch.Tensor, word_ids: torch.Tensor):
        """1 - cosine between each object token and the sum of its colour's and shape's word
        embeddings in the LLM (detached targets): "visual tokens as text", so that the question's
        words and the image tokens they refer to meet in the same space."""
        f = self.features.reshape(classes.shape[0], T.GRID * T.GRID, -1)
        obj = classes > 0
        if not bool(obj.any()):
            return f.sum() * 0.0
        c = classes[obj] - 1
        target = (embeddings[word_ids[c // len(T.SHAPES)]] + embeddings[word_ids[len(T.COLOURS) + c % len(T.SHAPES)]]).detach()
        if self.align_mse:
            return ((f[obj] - target) ** 2).sum(-1).mean() / target.pow(2).sum(-1).mean()
        return (1 - torch.nn.functional.cosine_similarity(f[obj], target, dim=-1)).mean()

    def accuracy(self, classes: torch.Tensor) -> float:
        f = self.features.reshape(classes.shape[0], T.GRID * T.GRID, -1)
        return (self.cell(f).argmax(-1) == classes).float().mean().item()


def image_batch(rng: random.Random, n: int):
    scenes = [T.make_scene(rng) for _ in range(n)]
    return torch.from_numpy(np.stack([pixels(sc) for sc in scenes])), torch.tensor([cell_classes(sc) for sc in scenes])


def batch(enc: Encoder, rng: random.Random, n: int, caption_frac: float, turns: int = 1):
    """n samples: a caption (caption_frac of them) or a conversation of `turns` questions about one
    image (LLaVA's training conversations are multi-turn too; the test prompt is the first turn's
    format). Labels: the answers' tokens and each turn's </s>."""
    seqs, marks, pix, cells = [], [], [], []
    for _ in range(n):
        scene, cat, q, a = T.sample(rng)
        cells.append(cell_classes(scene))
        if rng.random() < caption_frac:
            s, st = enc.example(CAPTION_Q, T.caption(scene))
            mark = [False] * st + [True] * (len(s) - st)
        else:
            s, st = enc.example(T.prompt_text(q), a)
            mark = [False] * st + [True] * (len(s) - st)
            asked = {q}
            for _ in range(turns - 1):
                for _ in range(20):  # a question not asked yet in this conversation
                    qa = T.make_question(scene, rng.choice(T.CATEGORIES), rng)
                    if qa is not None and qa[0] not in asked:
                        break
                else:
                    break
                asked.add(qa[0])
                t, ts = enc.turn(T.prompt_text(qa[0]), qa[1])
                s = s + t
                mark += [False] * ts + [True] * (len(t) - ts)
        seqs.append(s)
        marks.append(mark)
        pix.append(pixels(scene))
    L = max(len(s) for s in seqs)
    pad = enc.tok.pad_token_id
    ids = torch.full((n, L), pad, dtype=torch.long)
    labels = torch.full((n, L), -100, dtype=torch.long)
    att = torch.zeros((n, L), dtype=torch.long)
    for i, (s, mark) in enumerate(zip(seqs, marks)):
        ids[i, :len(s)] = torch.tensor(s)
        labels[i, :len(s)] = torch.tensor([t if m else -100 for t, m in zip(s, mark)])
        att[i, :len(s)] = 1
    return ids, att, labels, torch.from_numpy(np.stack(pix)), torch.tensor(cells)


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy averaged over each sample's labelled tokens, then over the samples."""
    tgt = labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), tgt, ignore_index=-100, reduction="none")
    n = (tgt != -100).sum(1).clamp(min=1)
    return (ce.sum(1) / n).mean()


def load_split(task: str, split: str):
    qs = [json.loads(l) for l in open(os.path.join(task, split, "questions.jsonl"))]
    ans = json.load(open(os.path.join(task, split, "answers.json")))
    return qs, ans


@torch.no_grad()
def val_accuracy(model, enc, task, qs, ans):
    """Exact match of the whole answer (+ </s>) under teacher forcing: every answer position's
    argmax equals the target, which is what greedy decoding would produce."""
    from PIL import Image
    model.eval()
    correct = 0
    for i in range(0, len(qs), 50):
        chunk = qs[i:i + 50]
        seqs, starts, pix = [], [], []
        for q in chunk:
            s, st = enc.example(q["text"], ans[q["question_id"]]["answer"])
            seqs.append(s)
            starts.append(st)
            a = np.asarray(Image.open(os.path.join(task, "images", q["image"])).convert("RGB"), dtype=np.float32) / 255.0
            pix.append(((a - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1))
        L = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), L), enc.tok.pad_token_id, dtype=torch.long)
        att = torch.zeros_like(ids)
        for j, s in enumerate(seqs):
            ids[j, :len(s)] = torch.tensor(s)
            att[j, :len(s)] = 1
        pred = model(input_ids=ids, attention_mask=att, pixel_values=torch.from_numpy(np.stack(pix))).logits.argmax(-1)
        for j, (s, st) in enumerate(zip(seqs, starts)):
            correct += pred[j, st - 1:len(s) - 1].tolist() == s[st:]
    model.train()
    return correct / len(qs)


# --------------------------------------------------------------------------------------------------
# Model

def build_model(tok, args) -> LlavaForConditionalGeneration:
    vocab = len(tok)
    vocab_padded = (vocab + 7) // 8 * 8
    cfg = LlavaConfig(
        text_config=LlamaConfig(vocab_size=vocab_padded, hidden_size=args.llm_hidden,
                                num_attention_heads=args.llm_heads, num_key_value_heads=args.llm_heads,
                                intermediate_size=args.llm_hidden * 4 if args.llm_hidden <= 128 else args.llm_hidden * 3,
                                num_hidden_layers=args.llm_layers, max_position_embeddings=512,
                                rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                                tie_word_embeddings=False, bos_token_id=1, eos_token_id=2),
        vision_config=CLIPVisionConfig(hidden_size=args.vit_hidden, num_hidden_layers=args.vit_layers,
                                       num_attention_heads=4, intermediate_size=args.vit_hidden * 4,
                                       image_size=T.IMAGE, patch_size=T.PATCH, hidden_act="quick_gelu",
                                       layer_norm_eps=1e-5, projection_dim=args.vit_hidden),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        pad_token_id=tok.pad_token_id,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        multimodal_projector_bias=True,
        image_seq_length=N_IMG,
        tie_word_embeddings=False,
    )
    model = LlavaForConditionalGeneration(cfg)
    # CLIP initialises the position embedding with std 0.02, ~70x below the patch embedding's output
    # on these images (std ~1.5): position would barely reach the image tokens, and the row / column
    # questions need it. Start it at the patch embedding's scale instead.
    with torch.no_grad():
        [m for n, m in model.named_modules() if n.endswith("embeddings.position_embedding")][0].weight.normal_(0.0, 1.0)
    return model


def save_checkpoint(model, tok_dir, out_dir):
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    model.save_pretrained(out_dir)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    ip = CLIPImageProcessorPil(
        do_resize=True, size={"shortest_edge": T.IMAGE}, resample=3, do_center_crop=True,
        crop_size={"height": T.IMAGE, "width": T.IMAGE}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=CLIP_MEAN.tolist(), image_std=CLIP_STD.tolist(), do_convert_rgb=True)
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=T.PATCH,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=TEMPLATE)
    proc.save_pretrained(out_dir)
    with open(os.path.join(out_dir, "chat_template.json"), "w") as f:
        json.dump({"chat_template": TEMPLATE}, f, indent=2)
    shutil.copy(os.path.join(tok_dir, "tokenizer.model.sp"), os.path.join(out_dir, "tokenizer.model"))


# --------------------------------------------------------------------------------------------------
# Fine-tuning with a YOPO plan active (the paper's recipe), simulate semantics, batched

class YopoTrainingPlan:
    """The official release's simulate numerics (METHOD.md §2), for a batch whose rows all hold the
    image at the same span [s, s + n) (the prompt before the image is the same for every sample):
    the V x V block of the causal mask is overwritten by the symmetric Chebyshev window; after the
    softmax the visual key columns are multiplied by M[l, h] in layers < K and by 0 from K on (no
    renormalisation); heads with M[l, h] = False give no output at visual query rows (every layer);
    visual rows use the first int(I / r) FFN channels (the others zeroed). Right padding only: the
    causal mask already keeps real rows off the padding, so the attention mask is not read.
    An independent, batched re-implementation of Tools/reference/make_pruning_fixtures.py's
    YopoReference (which runs one sequence and decodes), differentiable for training."""

    def __init__(self, spec: str, text_cfg, span: tuple, grid: int):
        fields = dict(item.split("=", 1) for item in spec.split(","))
        assert set(fields) <= {"window", "layers", "heads", "ffn"}, spec
        self.L, self.H, self.I = text_cfg.num_hidden_layers, text_cfg.num_attention_heads, text_cfg.intermediate_size
        self.s, self.n = span
        self.K = int(fields.get("layers", self.L))
        self.M = torch.ones(self.L, self.H, dtype=torch.bool)
        if "heads" in fields:
            m = np.load(fields["heads"])
            assert m.shape == (self.L, self.H), (m.shape, self.L, self.H)
            self.M = torch.from_numpy(m.astype(bool))
        self.keep = int(self.I / float(fields["ffn"])) if "ffn" in fields else self.I
        self.window = int(fields["window"]) if "window" in fields else None
        self.grid = grid
        self._base = {}

    def base_mask(self, length: int) -> torch.Tensor:
        if length not in self._base:
            pos = torch.arange(length)
            allowed = pos[None, :] <= pos[:, None]
            if self.window is not None:
                rho = (self.window - 1) // 2
                t = torch.arange(self.n)
                r, c = t // self.grid, t % self.grid
                win = ((r[:, None] - r[None, :]).abs() <= rho) & ((c[:, None] - c[None, :]).abs() <= rho)
                allowed[self.s:self.s + self.n, self.s:self.s + self.n] = win
            self._base[length] = torch.zeros(length, length).masked_fill(~allowed, float("-inf"))
        return self._base[length]

    def attention(self, l, groups, query, key, value, scaling):
        from transformers.models.llama.modeling_llama import repeat_kv
        b, H, q, _ = query.shape
        kv = key.shape[2]
        assert q == kv, "training runs whole sequences"
        k, v = repeat_kv(key, groups), repeat_kv(value, groups)
        scores = torch.matmul(query, k.transpose(2, 3)) * scaling + self.base_mask(q)
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        factor = self.M[l].float() if l < self.K else torch.zeros(H)
        if not bool((factor == 1).all()):
            cols = torch.ones(H, 1, kv)
            cols[:, :, self.s:self.s + self.n] = factor.view(H, 1, 1)
            probs = probs * cols
        out = torch.matmul(probs, v)  # [b, H, q, d]
        if not bool(self.M[l].all()):
            rows = torch.ones(H, q, 1)
            rows[~self.M[l], self.s:self.s + self.n] = 0.0
            out = out * rows
        return out.transpose(1, 2).contiguous(), probs

    def mlp(self, mlp, x):
        g, u = mlp.gate_proj(x), mlp.up_proj(x)
        if self.keep < self.I:
            m = torch.ones(x.shape[1], self.I)
            m[self.s:self.s + self.n, self.keep:] = 0.0
            g, u = g * m, u * m
        return mlp.down_proj(mlp.act_fn(g) * u)


def _yopo_training_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    return module._yopo_plan.attention(module.layer_idx, module.num_key_value_groups, query, key, value, scaling)


def install_yopo(model, plan: YopoTrainingPlan) -> None:
    import types
    from transformers import AttentionInterface
    AttentionInterface.register("yopo_training", _yopo_training_attention)
    model.config.text_config._attn_implementation = "yopo_training"
    for layer in model.model.language_model.layers:
        layer.self_attn._yopo_plan = plan
        layer.mlp.forward = types.MethodType(lambda mlp, x: plan.mlp(mlp, x), layer.mlp)


def uninstall_yopo(model) -> None:
    model.config.text_config._attn_implementation = "sdpa"
    for layer in model.model.language_model.layers:
        del layer.self_attn._yopo_plan
        del layer.mlp.forward


# --------------------------------------------------------------------------------------------------
# Test evaluation with generate()

@torch.no_grad()
def evaluate_generate(model_dir, task, split, limit=None, out_file=None):
    from PIL import Image
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    proc = AutoProcessor.from_pretrained(model_dir)
    proc.tokenizer.padding_side = "left"
    qs, ans = load_split(task, split)
    qs = qs[:limit] if limit else qs
    per, preds = {}, {}
    for i in range(0, len(qs), 32):
        chunk = qs[i:i + 32]
        texts = [proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q["text"]}]}],
                                          add_generation_prompt=True) for q in chunk]
        images = [Image.open(os.path.join(task, "images", q["image"])).convert("RGB") for q in chunk]
        inp = proc(images=images, text=texts, return_tensors="pt", padding=True)
        out = model.generate(**inp, max_new_tokens=5, do_sample=False)
        dec = proc.tokenizer.batch_decode(out[:, inp["input_ids"].shape[1]:], skip_special_tokens=True)
        for q, d in zip(chunk, dec):
            p = d.strip()
            preds[q["question_id"]] = p
            ok = p.lower().rstrip(".") == ans[q["question_id"]]["answer"]
            c = per.setdefault(q["category"], [0, 0])
            c[0] += ok
            c[1] += 1
    if out_file:
        with open(out_file, "w") as f:
            json.dump(preds, f, indent=0)
    total = [sum(v[0] for v in per.values()), sum(v[1] for v in per.values())]
    return per, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp/llava-demo-work")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=600)
    ap.add_argument("--vit-hidden", type=int, default=96)
    ap.add_argument("--vit-layers", type=int, default=4)
    ap.add_argument("--llm-hidden", type=int, default=128)
    ap.add_argument("--llm-layers", type=int, default=6)
    ap.add_argument("--llm-heads", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--stage0-min", type=float, default=2, help="vision tower + projector on the probes alone")
    ap.add_argument("--probe-weight", type=float, default=0.5, help="the probes' loss beside the LM loss in stages 1-2")
    ap.add_argument("--stage1-min", type=float, default=5)
    ap.add_argument("--align-weight", type=float, default=0.0,
                    help="weight of the image-token / word-embedding alignment loss (VisionProbe.alignment)")
    ap.add_argument("--stage1-steps", type=int, default=None, help="stage 1's budget in steps (instead of minutes)")
    ap.add_argument("--stage2-steps", type=int, default=None, help="stage 2's budget in steps (instead of minutes)")
    ap.add_argument("--turns", type=int, default=1, help="questions per training conversation in stage 2")
    ap.add_argument("--align-mse", action="store_true", help="the alignment loss on the vectors (relative MSE), not cosines")
    ap.add_argument("--per-sample-loss", action="store_true",
                    help="average the LM loss per sample, then over the batch (a caption's many tokens then weigh as one answer)")
    ap.add_argument("--caption-frac", type=float, default=0.25, help="share of captions in stage 2's batches")
    ap.add_argument("--stage2-min", type=float, default=9)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench", action="store_true", help="time 5 steps and exit")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--init", default=None, help="continue from a saved checkpoint (its tokenizer too)")
    ap.add_argument("--data-offset", type=int, default=0, help="other training-data stream (continuation)")
    ap.add_argument("--yopo", default=None,
                    help="fine-tune with this YOPO plan active, simulate semantics: window=W,layers=K,heads=MASK.npy,ffn=R")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    if a.eval_only:
        per, total = evaluate_generate(a.out, a.task, "test", out_file=os.path.join(a.work, "test_preds.json"))
        print(json.dumps({"per_type": per, "total": total}))
        return
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    os.makedirs(a.work, exist_ok=True)
    tok_dir = os.path.join(a.work, "tok")
    if a.init:
        if os.path.exists(tok_dir):
            shutil.rmtree(tok_dir)
        AutoTokenizer.from_pretrained(a.init).save_pretrained(tok_dir)
        shutil.copy(os.path.join(a.init, "tokenizer.model"), os.path.join(tok_dir, "tokenizer.model.sp"))
    else:
        train_tokenizer(tok_dir, a.vocab, a.seed)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    enc = Encoder(tok)
    if a.init:
        model = LlavaForConditionalGeneration.from_pretrained(a.init, dtype=torch.float32)
    else:
        model = build_model(tok, a)
    yopo_plan = None
    if a.yopo:
        p = enc.example(CAPTION_Q, "x")[0]
        s0 = p.index(enc.image_id)
        yopo_plan = YopoTrainingPlan(a.yopo, model.config.text_config, (s0, N_IMG), T.IMAGE // T.PATCH)
        install_yopo(model, yopo_plan)
        print(f"YOPO plan {a.yopo} (simulate), image at [{s0}, {s0 + N_IMG})", flush=True)
    model.train()
    nparam = sum(p.numel() for p in model.parameters())
    print(f"vocab {len(tok)}  params {nparam / 1e6:.2f} M", flush=True)
    vq, vans = load_split(a.task, "val")
    vq = vq[:200]
    probe = VisionProbe(model.config.text_config.hidden_size)
    probe.align_mse = a.align_mse
    word_ids = torch.tensor([tok.convert_tokens_to_ids("\u2581" + w) for w in list(T.COLOURS) + T.SHAPES])
    model.model.multi_modal_projector.register_forward_hook(probe.hook)
    opt = torch.optim.AdamW(list(model.parameters()) + list(probe.parameters()), lr=a.lr, weight_decay=0.01,
                            betas=(0.9, 0.98))
    rng = random.Random(a.seed + 10000 + 997 * a.data_offset)
    log = []
    best = -1.0
    t0 = time.time()
    step = 0
    # Stage 0: the vision tower and projector learn to say what is in every cell (the probes only).
    ts = time.time()
    s0 = 0
    while (time.time() - ts) / 60 < a.stage0_min:
        lr = a.lr * min(1.0, (s0 + 1) / 30)
        for g in opt.param_groups:
            g["lr"] = lr
        pix, cells = image_batch(rng, a.batch)
        model.model.get_image_features(pixel_values=pix, vision_feature_layer=-2, vision_feature_select_strategy="default")
        loss = probe.loss(cells)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        s0 += 1
        step += 1
        if s0 % 50 == 0:
            rec = {"stage": 0, "step": step, "minutes": round((time.time() - t0) / 60, 2), "loss": round(loss.item(), 4),
                   "cell_acc": round(probe.accuracy(cells), 4)}
            log.append(rec)
            print(json.dumps(rec), flush=True)
    for stage, minutes, steps, cap in ((1, a.stage1_min, a.stage1_steps, 1.0), (2, a.stage2_min, a.stage2_steps, a.caption_frac)):
        ts = time.time()
        sstep = 0

        def done():
            """The stage's budget: steps when given (reproducible), else wall-clock minutes."""
            return sstep >= steps if steps is not None else (time.time() - ts) / 60 >= minutes

        while True:
            if done() or (a.bench and sstep == 5):
                break
            frac = sstep / steps if steps is not None else (time.time() - ts) / 60 / minutes
            warm = min(1.0, (sstep + 1) / 30)
            lr = a.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            ids, att, labels, pix, cells = batch(enc, rng, a.batch, cap, a.turns if stage == 2 else 1)
            out = model(input_ids=ids, attention_mask=att, pixel_values=pix, labels=labels)
            if a.per_sample_loss:
                out.loss = per_sample_loss(out.logits, labels)
            loss = out.loss + a.probe_weight * probe.loss(cells) if a.probe_weight > 0 else out.loss
            if a.align_weight > 0:
                loss = loss + a.align_weight * probe.alignment(cells, model.get_input_embeddings().weight, word_ids)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            sstep += 1
            if a.bench:
                print(f"step {step} {time.time() - t0:.1f}s loss {out.loss.item():.3f}", flush=True)
            if sstep % a.eval_every == 0 or (stage == 2 and done()):
                acc = val_accuracy(model, enc, a.task, vq, vans)
                rec = {"stage": stage, "step": step, "minutes": round((time.time() - t0) / 60, 2),
                       "loss": round(out.loss.item(), 4), "val_acc": round(acc, 4)}
                log.append(rec)
                print(json.dumps(rec), flush=True)
                if stage == 2 and acc > best:
                    best = acc
                    if a.yopo:
                        uninstall_yopo(model)
                    save_checkpoint(model, tok_dir, a.out)
                    if a.yopo:
                        install_yopo(model, yopo_plan)
                with open(os.path.join(a.work, "log.json"), "w") as f:
                    json.dump(log, f, indent=1)
        if a.bench:
            continue
    if a.bench:
        return
    print(f"training {(time.time() - t0) / 60:.1f} min, best val {best:.3f}", flush=True)
    per, total = evaluate_generate(a.out, a.task, "test", limit=a.test_limit,
                                   out_file=os.path.join(a.work, "test_preds.json"))
    res = {"per_type": per, "total": total, "log": log, "train_minutes": round((time.time() - t0) / 60, 2)}
    with open(os.path.join(a.work, "result.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({"per_type": per, "total": total}), flush=True)


if __name__ == "__main__":
    main()
