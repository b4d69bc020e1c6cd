#!/usr/bin/env python3
"""Goldens of the trained demo model (issue 14), from transformers, for the Swift tests and RESULTS.md.

    python make_demo_goldens.py --model Tests/Fixtures/models/llava-demo --task /tmp/task \
        [--alpha 0.1] [--votes 40] [--plan "window=3,layers=3,ffn=2"]

Writes
- Tests/Fixtures/shapes/: the task's test and calibration splits (questions.jsonl, answers.json,
  scenes.json) and their images, so tests and RESULTS.md need no generator run;
- Tests/Fixtures/calibration/demo_masses.npy: float64 [samples, layers, heads, 3], per calibration
  sample (the 100 of the calib split), layer and head, the attention mass the question rows (every row
  after the image) pay to the visual, text and system keys, from transformers' eager attention
  probabilities (output_attentions) — the dump the official gen_mask_llava.py sums;
- Tests/Fixtures/calibration/demo_mask_llava_alpha{A}_votes{V}.npy: the official LLaVA rule on that dump
  (make_calibration_fixture.py's independent implementation), and demo_mask_random_*.npy, a random mask
  keeping as many heads in each layer (seeded), for the calibrated-vs-random comparison;
- Tests/Fixtures/models/golden/demo_answers.json: for the first 6 test questions of every category, the
  greedy ids (up to 5 new tokens, EOS included) of the dense model and of the model under the YOPO plan
  `plan,heads=<calibrated mask>` in simulate semantics (Tools/reference/make_pruning_fixtures.py's
  YopoReference: the official numerics, KV cache, decode steps);
- Tools/train/results/pytorch_test_answers.json: the same two runs' answers on every test question,
  which RESULTS.md compares with the engine's.
Deterministic (one thread, no sampling). fp32 compute on the checkpoint's stored (bf16) values.
"""
import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import common  # noqa: E402
import make_pruning_fixtures as mpf  # noqa: E402
from transformers import AutoProcessor, DynamicCache, LlavaForConditionalGeneration  # noqa: E402

FIX = common.FIXTURES
SHAPES = os.path.join(FIX, "shapes")
CAL = os.path.join(FIX, "calibration")
GOLDEN = os.path.join(FIX, "models", "golden")
RESULTS = os.path.join(HERE, "results")
EOS = 2
NEW_TOKENS = 5
PER_CATEGORY = 6


def llava_rule(m, alpha, votes):
    """The official LLaVA rule (as make_calibration_fixture.py writes it): ratio = v / (t + s); active
    in a sample when ratio > alpha, in layers 0 and 1 when ratio >= 0; kept when active in > votes samples."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = m[..., 0] / (m[..., 1] + m[..., 2])
    active = ratio > alpha
    active[:, :2, :] = ratio[:, :2, :] >= 0
    return active.sum(axis=0) > votes, ratio


def copy_splits(task):
    if os.path.exists(SHAPES):
        shutil.rmtree(SHAPES)
    os.makedirs(os.path.join(SHAPES, "images"))
    for split in ("test", "calib"):
        os.makedirs(os.path.join(SHAPES, split))
        for name in ("questions.jsonl", "answers.json", "scenes.json"):
            shutil.copy(os.path.join(task, split, name), os.path.join(SHAPES, split, name))
        for line in open(os.path.join(task, split, "questions.jsonl")):
            image = json.loads(line)["image"]
            dst = os.path.join(SHAPES, "images", image)
            if not os.path.exists(dst):
                shutil.copy(os.path.join(task, "images", image), dst)


def load_split(split):
    qs = [json.loads(line) for line in open(os.path.join(SHAPES, split, "questions.jsonl"))]
    return qs, json.load(open(os.path.join(SHAPES, split, "answers.json")))


def inputs_for(proc, q):
    text = proc.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q["text"]}]}], add_generation_prompt=True)
    image = Image.open(os.path.join(SHAPES, "images", q["image"])).convert("RGB")
    return proc(images=image, text=text, return_tensors="pt")


@torch.no_grad()
def masses(model, proc, qs, image_id):
    out = []
    for q in qs:
        inp = inputs_for(proc, q)
        ids = inp["input_ids"][0].tolist()
        s, n = mpf.image_span(ids, image_id)
        att = model(input_ids=inp["input_ids"], pixel_values=inp["pixel_values"], output_attentions=True).attentions  # per layer [1, H, T, T]
        rows = range(s + n, len(ids))
        per = np.zeros((len(att), att[0].shape[1], 3))
        for l, a in enumerate(att):
            p = a[0].double()
            for r in rows:
                per[l, :, 0] += p[:, r, s:s + n].sum(-1).numpy()
                per[l, :, 1] += p[:, r, s + n:r + 1].sum(-1).numpy()
                per[l, :, 2] += p[:, r, :s].sum(-1).numpy()
        out.append(per)
    return np.stack(out)


@torch.no_grad()
def greedy(model, inp, new_tokens=NEW_TOKENS):
    cache = DynamicCache(config=model.config.text_config)
    out = model(input_ids=inp["input_ids"], pixel_values=inp["pixel_values"], cache=cache, use_cache=True)
    ids = []
    for _ in range(new_tokens):
        t = int(out.logits[0, -1].argmax())
        ids.append(t)
        if t == EOS:
            break
        out = model(input_ids=torch.tensor([[t]]), cache=cache, use_cache=True)
    return ids


class AllRowsReference(mpf.YopoReference):
    """The head-scope ablation (`heads-scope=all`): the mask's pruned heads also give no output at
    text rows (prefill and decode), on top of the simulate semantics."""

    def attention(self, l, groups, query, key, value, scaling, position_ids):
        out, probs = super().attention(l, groups, query, key, value, scaling, position_ids)
        z = ~self.M[l]
        if bool(z.any()):
            out[:, :, z, :] = 0.0  # [1, q, H, d]
        return out, probs


def run(model, proc, q, plan, reference=mpf.YopoReference, new_tokens=NEW_TOKENS):
    inp = inputs_for(proc, q)
    if plan is None:
        return greedy(model, inp, new_tokens)
    ids = inp["input_ids"][0].tolist()
    vc = model.config.vision_config
    grid = vc.image_size // vc.patch_size
    ref = reference(model.config.text_config, "simulate", plan, mpf.image_span(ids, model.config.image_token_id), grid)
    with mpf.YopoPatch(model, ref):
        return greedy(model, inp, new_tokens)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--task", required=True)
    ap.add_argument("--alpha", default="auto",
                    help="the rule's threshold; auto = the median over the voting layers' heads of each head's median "
                         "ratio, to 2 significant digits (the official 0.035-0.2 suit 576 image tokens; here 64 of ~110)")
    ap.add_argument("--votes", type=int, default=40)
    ap.add_argument("--plan", default="window=3,layers=3,ffn=2")
    ap.add_argument("--run-image", default="test00007.png", help="the test image make run asks about")
    ap.add_argument("--run-prompt", default="Describe the image.")
    ap.add_argument("--skip-full", action="store_true", help="only the goldens, not the 1200-question comparison")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    copy_splits(a.task)
    model = LlavaForConditionalGeneration.from_pretrained(a.model, dtype=torch.float32, attn_implementation="eager").eval()
    proc = AutoProcessor.from_pretrained(a.model)
    tc = model.config.text_config
    L, H = tc.num_hidden_layers, tc.num_attention_heads

    # Calibration dump and masks.
    cq, _ = load_split("calib")
    m = masses(model, proc, cq, model.config.image_token_id)
    os.makedirs(CAL, exist_ok=True)
    np.save(os.path.join(CAL, "demo_masses.npy"), m)
    if a.alpha == "auto":
        with np.errstate(divide="ignore", invalid="ignore"):
            r = m[..., 0] / (m[..., 1] + m[..., 2])
        a.alpha = float(f"{np.median(np.median(r[:, 2:, :], axis=0)):.2g}")
    else:
        a.alpha = float(a.alpha)
    mask, ratio = llava_rule(m, a.alpha, a.votes)
    tag = f"alpha{a.alpha:g}_votes{a.votes}"
    np.save(os.path.join(CAL, f"demo_mask_llava_{tag}.npy"), mask)
    # The margin of the rule's comparisons in the voting layers: how far the closest ratio is from alpha.
    margin = float(np.nanmin(np.abs(ratio[:, 2:, :] - a.alpha)))
    counts = (ratio[:, 2:, :] > a.alpha).sum(0)
    vote_margin = int(np.abs(counts - a.votes - 0.5).min() - 0.5)  # 0: a count of votes or votes + 1
    rng = np.random.default_rng(0)
    random_mask = np.zeros_like(mask)
    for l in range(L):
        random_mask[l, rng.choice(H, size=int(mask[l].sum()), replace=False)] = True
    np.save(os.path.join(CAL, f"demo_mask_random_{tag}.npy"), random_mask)
    with open(os.path.join(CAL, "demo_calibration.json"), "w") as f:
        json.dump({"samples": len(cq), "alpha": a.alpha, "votes": a.votes, "mask": f"demo_mask_llava_{tag}.npy",
                   "random_mask": f"demo_mask_random_{tag}.npy", "kept_per_layer": mask.sum(1).tolist(),
                   "closest_ratio_to_alpha": margin, "closest_vote_count_to_threshold": vote_margin}, f, indent=1)
    print(f"mask {tag}: kept per layer {mask.sum(1).tolist()}; random {random_mask.sum(1).tolist()}; "
          f"closest ratio to alpha {margin:.3g}; closest vote count to the threshold {vote_margin}")

    # Answers: dense and one YOPO plan in simulate semantics.
    plan = mpf.parse_plan(f"yopo:{a.plan},heads=calibration/demo_mask_llava_{tag}.npy")
    tq, tans = load_split("test")
    subset = []
    for cat in ("colour", "shape", "count_all", "count_colour", "count_shape", "exist", "left_right", "above_below"):
        subset += [q for q in tq if q["category"] == cat][:PER_CATEGORY]
    subset.sort(key=lambda q: q["question_id"])
    ablation = mpf.parse_plan(f"yopo:heads=calibration/demo_mask_llava_{tag}.npy")
    rows = []
    for q in subset:
        rows.append({"question_id": q["question_id"], "image": q["image"], "text": q["text"],
                     "answer": tans[q["question_id"]]["answer"],
                     "input_ids": inputs_for(proc, q)["input_ids"][0].tolist(),
                     "dense_ids": run(model, proc, q, None), "yopo_ids": run(model, proc, q, plan),
                     "ablation_ids": run(model, proc, q, ablation, AllRowsReference)})
    golden = {"model": "llava-demo", "plan": plan.spec, "mode": "simulate", "max_new_tokens": NEW_TOKENS,
              "ablation_plan": ablation.spec + ",heads-scope=all",
              "compute": "fp32 (transformers eager attention on the stored bf16 values)",
              "mask_margin": {"closest_ratio_to_alpha": margin, "closest_vote_count_to_threshold": vote_margin},
              "questions": rows}
    os.makedirs(GOLDEN, exist_ok=True)
    with open(os.path.join(GOLDEN, "demo_answers.json"), "w") as f:
        json.dump(golden, f, indent=1)
    print(f"golden: {len(rows)} questions, plan {plan.spec}")
    # make run's question: the bundled image and prompt, 64 new tokens at most.
    demo = {"question_id": "make-run", "image": a.run_image, "text": a.run_prompt}
    shutil.copy(os.path.join(SHAPES, "images", a.run_image), os.path.join(FIX, "images", "shapes-demo.png"))
    ids = run(model, proc, demo, None, new_tokens=64)
    with open(os.path.join(GOLDEN, "demo_run.json"), "w") as f:
        json.dump({"image": "shapes-demo.png", "prompt": a.run_prompt, "source_image": a.run_image,
                   "input_ids": inputs_for(proc, demo)["input_ids"][0].tolist(), "greedy_ids": ids,
                   "text": proc.tokenizer.decode(ids, skip_special_tokens=True)}, f, indent=1)
    print(f"make run: {a.run_prompt!r} -> {proc.tokenizer.decode(ids, skip_special_tokens=True)!r} {ids}")
    if a.skip_full:
        return
    full = {}
    for i, q in enumerate(tq):
        d = proc.tokenizer.decode(run(model, proc, q, None), skip_special_tokens=True).strip()
        y = proc.tokenizer.decode(run(model, proc, q, plan), skip_special_tokens=True).strip()
        full[q["question_id"]] = {"dense": d, "yopo": y}
        if i % 200 == 0:
            print(f"  {i}/{len(tq)}", flush=True)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "pytorch_test_answers.json"), "w") as f:
        json.dump({"plan": plan.spec, "mode": "simulate", "answers": full}, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
