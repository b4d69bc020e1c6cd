#!/usr/bin/env python3
"""Synthetic visual question answering ("shapes on a grid"), deterministic by seed.

Images are 224 x 224 RGB on a white background, an 8 x 8 grid of 28-pixel cells: one cell is one
patch of the patch-28 vision tower (8 x 8 = 64 image tokens), so every object is exactly one image
token: a shape drawn inside its cell, 3 px from the cell's edges, without anti-aliasing.
Each image holds 1-5 objects, distinct cells, distinct (colour, shape) pairs.

Question types (category), single-word answers:
  colour        What colour is the <shape>?                 (shape unique in the image)
  shape         What shape is the <colour> object?          (colour unique in the image)
  count_all     How many objects are there?                 1..5
  count_colour  How many <colour> objects are there?        0..
  count_shape   How many <shape>s are there?                0..
  exist         Is there a <colour> <shape>?                yes/no; half absent (POPE-like: the
                                                            absent pair shares colour or shape with
                                                            an object present, when possible)
  left_right    Is the <c1> <s1> left or right of the <c2> <s2>?   left/right (different columns)
  above_below   Is the <c1> <s1> above or below the <c2> <s2>?     above/below (different rows)

    python make_task.py --out DIR [--seed 0] [--test-images 300] [--calib 100]

writes DIR/images/*.png, DIR/test/questions.jsonl + answers.json (GQA questions-json layout:
{id: {"answer", "isBalanced": true, "types": {"structural", "detailed"}}}), DIR/calib/… (100
questions) and DIR/val/…. Training data is generated in memory by train.py from the same code
(other seeds), never from these files.
"""
import argparse
import json
import os
import random

from PIL import Image, ImageDraw

IMAGE = 224
PATCH = 28
GRID = 8                    # cells per side
CELL = IMAGE // GRID        # 28 px = one patch
COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220),
           "yellow": (235, 200, 20), "purple": (140, 40, 170)}
SHAPES = ["circle", "square", "triangle", "diamond"]
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "diamond": "diamonds"}
CATEGORIES = ["colour", "shape", "count_all", "count_colour", "count_shape", "exist",
              "left_right", "above_below"]
NUMBERS = ["0", "1", "2", "3", "4", "5"]
SUFFIX = "\nAnswer the question using a single word or phrase."
STRUCTURAL = {"colour": "query", "shape": "query", "count_all": "query", "count_colour": "query",
              "count_shape": "query", "exist": "verify", "left_right": "choose", "above_below": "choose"}


def make_scene(rng: random.Random) -> list:
    n = rng.randint(1, 5)
    cells = rng.sample(range(GRID * GRID), n)
    pairs = rng.sample([(c, s) for c in COLOURS for s in SHAPES], n)
    return [{"colour": c, "shape": s, "row": cell // GRID, "col": cell % GRID}
            for (c, s), cell in zip(pairs, cells)]


def render(scene: list) -> Image.Image:
    img = Image.new("RGB", (IMAGE, IMAGE), (255, 255, 255))
    d = ImageDraw.Draw(img)
    m = 3  # margin inside the cell; the shape stays within its patch
    for o in scene:
        x0, y0 = o["col"] * CELL, o["row"] * CELL
        x1, y1 = x0 + CELL - 1, y0 + CELL - 1
        fill = COLOURS[o["colour"]]
        if o["shape"] == "square":
            d.rectangle([x0 + m, y0 + m, x1 - m, y1 - m], fill=fill)
        elif o["shape"] == "circle":
            d.ellipse([x0 + m, y0 + m, x1 - m, y1 - m], fill=fill)
        elif o["shape"] == "triangle":
            d.polygon([((x0 + x1) / 2, y0 + m), (x1 - m, y1 - m), (x0 + m, y1 - m)], fill=fill)
        elif o["shape"] == "diamond":
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            d.polygon([(cx, y0 + m), (x1 - m, cy), (cx, y1 - m), (x0 + m, cy)], fill=fill)
    return img


def caption(scene: list) -> str:
    """Dense description for stage 1: every object, row-major, with colour, shape, row, column."""
    objs = sorted(scene, key=lambda o: (o["row"], o["col"]))
    parts = [f"{o['colour']} {o['shape']} at row {o['row'] + 1} column {o['col'] + 1}" for o in objs]
    return f"There are {len(objs)} objects: " + ", ".join(parts) + "."


def _name(o):
    return f"{o['colour']} {o['shape']}"


def make_question(scene: list, category: str, rng: random.Random):
    """(question, answer) or None when the scene cannot ask this category."""
    if category == "colour":
        uniq = [o for o in scene if sum(p["shape"] == o["shape"] for p in scene) == 1]
        if not uniq:
            return None
        o = rng.choice(uniq)
        return f"What colour is the {o['shape']}?", o["colour"]
    if category == "shape":
        uniq = [o for o in scene if sum(p["colour"] == o["colour"] for p in scene) == 1]
        if not uniq:
            return None
        o = rng.choice(uniq)
        return f"What shape is the {o['colour']} object?", o["shape"]
    if category == "count_all":
        return "How many objects are there?", NUMBERS[len(scene)]
    if category == "count_colour":
        c = rng.choice(list(COLOURS))
        return f"How many {c} objects are there?", NUMBERS[sum(o["colour"] == c for o in scene)]
    if category == "count_shape":
        s = rng.choice(SHAPES)
        return f"How many {PLURAL[s]} are there?", NUMBERS[sum(o["shape"] == s for o in scene)]
    if category == "exist":
        present = {(o["colour"], o["shape"]) for o in scene}
        if rng.random() < 0.5:
            c, s = rng.choice(sorted(present))
            return f"Is there a {c} {s}?", "yes"
        absent = [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in present]
        near = [(c, s) for c, s in absent if any(c == pc or s == ps for pc, ps in present)]
        c, s = rng.choice(near if near and rng.random() < 0.7 else absent)
        return f"Is there a {c} {s}?", "no"
    if category in ("left_right", "above_below"):
        key = "col" if category == "left_right" else "row"
        pairs = [(a, b) for a in scene for b in scene if a[key] != b[key]]
        if not pairs:
            return None
        a, b = rng.choice(pairs)
        if category == "left_right":
            return (f"Is the {_name(a)} left or right of the {_name(b)}?",
                    "left" if a["col"] < b["col"] else "right")
        return (f"Is the {_name(a)} above or below the {_name(b)}?",
                "above" if a["row"] < b["row"] else "below")
    raise ValueError(category)


def sample(rng: random.Random, category: str = None):
    """One (scene, category, question, answer); categories uniform unless given."""
    while True:
        scene = make_scene(rng)
        cat = category or rng.choice(CATEGORIES)
        qa = make_question(scene, cat, rng)
        if qa is not None:
            return scene, cat, qa[0], qa[1]


def prompt_text(question: str) -> str:
    return question + SUFFIX


def all_words() -> list:
    """Every word the task can produce (for the tokenizer's training text)."""
    return list(COLOURS) + SHAPES + list(PLURAL.values()) + NUMBERS


def write_split(out: str, split: str, seed: int, n_images: int, per_image: int, prefix: str):
    rng = random.Random(seed)
    img_dir = os.path.join(out, "images")
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(os.path.join(out, split), exist_ok=True)
    questions, answers, scenes = [], {}, {}
    qid = 0
    for i in range(n_images):
        scene = make_scene(rng)
        name = f"{prefix}{i:05d}.png"
        render(scene).save(os.path.join(img_dir, name))
        scenes[name] = scene
        cats = rng.sample(CATEGORIES, len(CATEGORIES))
        asked = 0
        for cat in cats:
            if asked == per_image:
                break
            qa = make_question(scene, cat, rng)
            if qa is None:
                continue
            q, a = qa
            sid = f"{prefix}{qid:06d}"
            qid += 1
            asked += 1
            questions.append({"question_id": sid, "image": name, "text": prompt_text(q), "category": cat})
            answers[sid] = {"question": q, "answer": a, "imageId": name, "isBalanced": True,
                            "types": {"structural": STRUCTURAL[cat], "detailed": cat}}
    with open(os.path.join(out, split, "questions.jsonl"), "w") as f:
        for q in questions:
            f.write(json.dumps(q) + "\n")
    with open(os.path.join(out, split, "answers.json"), "w") as f:
        json.dump(answers, f, indent=0)
    with open(os.path.join(out, split, "scenes.json"), "w") as f:
        json.dump(scenes, f)
    return questions, answers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-images", type=int, default=300)
    ap.add_argument("--val-images", type=int, default=100)
    ap.add_argument("--calib", type=int, default=100)
    a = ap.parse_args()
    # Seeds: test = seed+1000, val = seed+2000, calib = seed+3000; train.py uses seed+10000 upward.
    tq, _ = write_split(a.out, "test", a.seed + 1000, a.test_images, 4, "test")
    vq, _ = write_split(a.out, "val", a.seed + 2000, a.val_images, 4, "val")
    cq, _ = write_split(a.out, "calib", a.seed + 3000, a.calib, 1, "calib")
    print(f"test {len(tq)} questions, val {len(vq)}, calib {len(cq)} -> {a.out}")


if __name__ == "__main__":
    main()
