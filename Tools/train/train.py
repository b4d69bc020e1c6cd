#!/usr/bin/env python3
"""Trains a miniature LLaVA-1.5 (llava-hf layout) on the shapes task of make_task.py, on the CPU.

    python train.py --task /tmp/task --out Tests/Fixtures/models/llava-demo \
        [--stage1-min 5] [--stage2-min 9] [--seed 0]

Architecture: transformers' LlavaForConditionalGeneration with a small CLIPVisionModel (336 px,
patch 28 -> 12 x 12 = 144 image tokens, vision_feature_layer -2, "default" = CLS dropped), the
llava-hf mlp2x_gelu projector (linear-gelu-linear) and a small LlamaForCausalLM. Tokenizer: a
SentencePiece BPE model (byte fallback, LLaMA-style specials <unk>=0 <s>=1 </s>=2) trained on the
task's text, converted to tokenizer.json the way transformers converts LLaMA's tokenizer.model,
plus <image> and <pad> as added special tokens.

Prompt (the checkpoint's llava-hf chat template): "USER: <image>\n{question}\nAnswer the question
using a single word or phrase. ASSISTANT:" followed by " {answer}</s>".

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
N_IMG = (T.IMAGE // T.PATCH) ** 2  # 144
CAPTION_Q = "Describe the image."
TEMPLATE = reference_common.LLAVA_HF_CHAT_TEMPLATE  # the fixtures' llava-hf template (Tools/reference/common.py)


def prompt_string(text: str) -> str:
    return "USER: <image>\n" + text + " ASSISTANT:"


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


def batch(enc: Encoder, rng: random.Random, n: int, caption_frac: float):
    seqs, starts, pix = [], [], []
    for _ in range(n):
        scene, cat, q, a = T.sample(rng)
        if rng.random() < caption_frac:
            s, st = enc.example(CAPTION_Q, T.caption(scene))
        else:
            s, st = enc.example(T.prompt_text(q), a)
        seqs.append(s)
        starts.append(st)
        pix.append(pixels(scene))
    L = max(len(s) for s in seqs)
    pad = enc.tok.pad_token_id
    ids = torch.full((n, L), pad, dtype=torch.long)
    labels = torch.full((n, L), -100, dtype=torch.long)
    att = torch.zeros((n, L), dtype=torch.long)
    for i, (s, st) in enumerate(zip(seqs, starts)):
        ids[i, :len(s)] = torch.tensor(s)
        labels[i, st:len(s)] = torch.tensor(s[st:])
        att[i, :len(s)] = 1
    return ids, att, labels, torch.from_numpy(np.stack(pix))


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
                                num_attention_heads=4, num_key_value_heads=4,
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
    return LlavaForConditionalGeneration(cfg)


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
    ap.add_argument("--llm-layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--stage1-min", type=float, default=5)
    ap.add_argument("--stage2-min", type=float, default=9)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench", action="store_true", help="time 5 steps and exit")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--init", default=None, help="continue from a saved checkpoint (its tokenizer too)")
    ap.add_argument("--data-offset", type=int, default=0, help="other training-data stream (continuation)")
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
    model.train()
    nparam = sum(p.numel() for p in model.parameters())
    print(f"vocab {len(tok)}  params {nparam / 1e6:.2f} M", flush=True)
    vq, vans = load_split(a.task, "val")
    vq = vq[:200]
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01, betas=(0.9, 0.98))
    rng = random.Random(a.seed + 10000 + 997 * a.data_offset)
    log = []
    best = -1.0
    t0 = time.time()
    step = 0
    for stage, minutes, cap in ((1, a.stage1_min, 1.0), (2, a.stage2_min, 0.25)):
        ts = time.time()
        sstep = 0
        while True:
            el = (time.time() - ts) / 60
            if el >= minutes or (a.bench and sstep == 5):
                break
            frac = el / minutes
            warm = min(1.0, (sstep + 1) / 30)
            lr = a.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            ids, att, labels, pix = batch(enc, rng, a.batch, cap)
            out = model(input_ids=ids, attention_mask=att, pixel_values=pix, labels=labels)
            opt.zero_grad()
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            sstep += 1
            if a.bench:
                print(f"step {step} {time.time() - t0:.1f}s loss {out.loss.item():.3f}", flush=True)
            if sstep % a.eval_every == 0 or (stage == 2 and (time.time() - ts) / 60 >= minutes):
                acc = val_accuracy(model, enc, a.task, vq, vans)
                rec = {"stage": stage, "step": step, "minutes": round((time.time() - t0) / 60, 2),
                       "loss": round(out.loss.item(), 4), "val_acc": round(acc, 4)}
                log.append(rec)
                print(json.dumps(rec), flush=True)
                if stage == 2 and acc > best:
                    best = acc
                    save_checkpoint(model, tok_dir, a.out)
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
