#!/usr/bin/env python3
"""Answer-prior baseline: the most frequent training answer of each question type (no image),
scored on the test split.  python prior_baseline.py --task /tmp/task"""
import argparse, collections, json, os, random
import make_task as T

ap = argparse.ArgumentParser(); ap.add_argument("--task", required=True); ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
rng = random.Random(a.seed + 10000)
counts = collections.defaultdict(collections.Counter)
for _ in range(20000):
    _, cat, q, ans = T.sample(rng)
    counts[cat][ans] += 1
major = {c: v.most_common(1)[0][0] for c, v in counts.items()}
qs = [json.loads(l) for l in open(os.path.join(a.task, "test", "questions.jsonl"))]
gold = json.load(open(os.path.join(a.task, "test", "answers.json")))
per = collections.defaultdict(lambda: [0, 0])
for q in qs:
    per[q["category"]][0] += major[q["category"]] == gold[q["question_id"]]["answer"]
    per[q["category"]][1] += 1
for c in T.CATEGORIES:
    print(f"{c:13s} {major[c]:8s} {per[c][0]}/{per[c][1]} = {100 * per[c][0] / per[c][1]:.1f}%")
tot = [sum(v[0] for v in per.values()), sum(v[1] for v in per.values())]
print(f"overall {tot[0]}/{tot[1]} = {100 * tot[0] / tot[1]:.1f}%")
