#!/usr/bin/env python3
"""Asks the Swift engine (yopo generate) and transformers' greedy generate() the same test
questions, one at a time (no padding), and prints both answers and the agreement.

    python compare_engine.py --model Tests/Fixtures/models/llava-demo --task /tmp/task \
        [--yopo .build/release/yopo] [--n 20]
"""
import argparse
import json
import os
import subprocess

import torch
from PIL import Image
from transformers import AutoProcessor, LlavaForConditionalGeneration


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--task", required=True)
    ap.add_argument("--yopo", default=".build/release/yopo")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--max-tokens", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(2)
    model = LlavaForConditionalGeneration.from_pretrained(a.model, dtype=torch.float32).eval()
    proc = AutoProcessor.from_pretrained(a.model)
    qs = [json.loads(l) for l in open(os.path.join(a.task, "test", "questions.jsonl"))]
    ans = json.load(open(os.path.join(a.task, "test", "answers.json")))
    # every n-th question so all categories appear
    step = max(1, len(qs) // a.n)
    picked = qs[::step][:a.n]
    agree = right_hf = right_engine = 0
    rows = []
    for q in picked:
        img = os.path.join(a.task, "images", q["image"])
        text = proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q["text"]}]}],
                                        add_generation_prompt=True)
        inp = proc(images=[Image.open(img).convert("RGB")], text=[text], return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**inp, max_new_tokens=a.max_tokens, do_sample=False)
        hf = proc.tokenizer.decode(out[0, inp["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        r = subprocess.run([a.yopo, "generate", "--model", a.model, "--image", img, "--prompt", q["text"],
                            "--max-tokens", str(a.max_tokens)], capture_output=True, text=True, check=True)
        eng = r.stdout.strip()
        gold = ans[q["question_id"]]["answer"]
        agree += hf == eng
        right_hf += hf == gold
        right_engine += eng == gold
        rows.append((q["question_id"], q["category"], q["text"].split("\n")[0], gold, hf, eng))
        print(f"{q['question_id']} | {q['category']} | {q['text'].splitlines()[0]} | gold {gold} | hf {hf!r} | engine {eng!r}"
              f" | {'agree' if hf == eng else 'DIFFER'}", flush=True)
    print(f"agreement {agree}/{len(picked)}; correct: transformers {right_hf}/{len(picked)}, engine {right_engine}/{len(picked)}")


if __name__ == "__main__":
    main()
