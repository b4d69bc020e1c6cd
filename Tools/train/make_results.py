#!/usr/bin/env python3
"""Regenerates docs/RESULTS.md and its charts (docs/results/*.svg) from the committed demo models.

    make results        # = swift build -c release --product yopo && python3 Tools/train/make_results.py

Python standard library only; every number comes from the engine (`yopo calibrate`, `yopo eval`,
`yopo analyze`, `yopo flops`) on the committed checkpoints and the committed test split
(Tests/Fixtures/shapes), except the PyTorch answers it compares with (Tools/train/results/
pytorch_test_answers.json, written by make_demo_goldens.py). Run files go to /tmp/yopo-results
(or --work). fp32 compute, so the engine's numbers are the ones transformers gives.
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIX = os.path.join(REPO, "Tests", "Fixtures")
SHAPES = os.path.join(FIX, "shapes")
DENSE_MODEL = os.path.join(FIX, "models", "llava-demo")
TUNED = {"yopo-25": os.path.join(FIX, "models", "llava-demo-yopo25"), "yopo-12": os.path.join(FIX, "models", "llava-demo-yopo12")}
CHARTS = os.path.join(REPO, "docs", "results")
RESULTS_MD = os.path.join(REPO, "docs", "RESULTS.md")
PYTORCH = os.path.join(REPO, "Tools", "train", "results", "pytorch_test_answers.json")
CATEGORIES = ["colour", "shape", "count_all", "count_colour", "count_shape", "exist", "left_right", "above_below"]

# The official LLaVA rule's settings for the demo model (make_demo_goldens.py chose alpha and wrote the golden mask).
CALIBRATION = json.load(open(os.path.join(FIX, "calibration", "demo_calibration.json")))
ALPHA, VOTES = CALIBRATION["alpha"], CALIBRATION["votes"]
# Combined YOPO plans (window, K, mask, FFN r); the share of the dense visual FLOPs they reach is measured.
PLAN25 = "window=3,layers=3,ffn=2"
PLAN12 = "window=3,layers=2,ffn=4"


def yopo_binary():
    return os.path.join(REPO, ".build", "release", "yopo")


def run(args, **kw):
    print("$ yopo " + " ".join(os.path.relpath(a, REPO) if a.startswith(REPO) else a for a in args), flush=True)
    r = subprocess.run([yopo_binary()] + args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"yopo {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def write_bool_npy(path, rows):
    """A [layers, heads] bool array in numpy's .npy v1.0 format (what np.save writes)."""
    header = "{'descr': '|b1', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), len(rows[0]))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(bytes(1 if v else 0 for row in rows for v in row))


def read_bool_npy(path):
    data = open(path, "rb").read()
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode("latin1")
    assert "'|b1'" in header, header
    shape = tuple(int(x) for x in header.split("(")[1].split(")")[0].split(",") if x.strip())
    body = data[10 + hlen:]
    return [[bool(body[l * shape[1] + h]) for h in range(shape[1])] for l in range(shape[0])]


def random_like(mask, seed):
    """A mask keeping as many heads in every layer as `mask`, chosen at random (seeded)."""
    rng = random.Random(seed)
    out = []
    for row in mask:
        keep = set(rng.sample(range(len(row)), sum(row)))
        out.append([h in keep for h in range(len(row))])
    return out


LIMIT = None  # --limit: only the first N test questions (a quick check of the script, not for RESULTS.md)


def eval_run(model, out, prunes, mode, extra=()):
    if os.path.exists(out):  # a fresh run (yopo eval resumes an existing one and counts only what it runs)
        shutil.rmtree(out)
    args = ["eval", "run", "--model", model, "--benchmark", "gqa", "--questions", os.path.join(SHAPES, "test", "questions.jsonl"),
            "--images", os.path.join(SHAPES, "images"), "--answers", os.path.join(SHAPES, "test", "answers.json"),
            "--out", out, "--compute", "fp32", "--yopo-mode", mode, "--progress-every", "100000"]
    for p in prunes:
        args += ["--prune", p]
    run(args + list(extra) + (["--limit", str(LIMIT)] if LIMIT else []))
    summary = json.load(open(os.path.join(out, "summary.json")))
    return summary


def per_type(answers_file, truth, questions):
    cat = {q["question_id"]: q["category"] for q in questions}
    got = {}
    for line in open(answers_file):
        a = json.loads(line)
        got[a["question_id"]] = a["text"]
    counts = {c: [0, 0] for c in CATEGORIES}
    for qid, text in got.items():
        ok = text.strip().lower().rstrip(".") == truth[qid]["answer"]
        counts[cat[qid]][0] += ok
        counts[cat[qid]][1] += 1
    total = [sum(v[0] for v in counts.values()), sum(v[1] for v in counts.values())]
    return counts, total, got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/yopo-results")
    ap.add_argument("--limit", type=int, default=None, help="only the first N test questions (checks the script; "
                    "RESULTS.md is not written)")
    a = ap.parse_args()
    global LIMIT
    LIMIT = a.limit
    work = a.work
    os.makedirs(work, exist_ok=True)
    os.makedirs(CHARTS, exist_ok=True)
    questions = [json.loads(line) for line in open(os.path.join(SHAPES, "test", "questions.jsonl"))]
    truth = json.load(open(os.path.join(SHAPES, "test", "answers.json")))
    calib = os.path.join(SHAPES, "calib", "questions.jsonl")
    images = os.path.join(SHAPES, "images")

    # 1. Calibration: the official LLaVA rule and a keep-half mask, on the 100 calibration samples.
    mask_llava = os.path.join(work, "mask_llava.npy")
    report = os.path.join(work, "calibration.json")
    cal_out = run(["calibrate", "--model", DENSE_MODEL, "--benchmark", "gqa", "--questions", calib, "--images", images,
                   "--samples", "100", "--alpha", str(ALPHA), "--votes", str(VOTES), "--compute", "fp32",
                   "--out", mask_llava, "--report", report])
    golden_mask = os.path.join(FIX, "calibration", CALIBRATION["mask"])
    assert open(mask_llava, "rb").read() == open(golden_mask, "rb").read(), "yopo calibrate differs from the Python golden"
    mask_keep = os.path.join(work, "mask_keep50.npy")
    run(["calibrate", "--model", DENSE_MODEL, "--benchmark", "gqa", "--questions", calib, "--images", images,
         "--samples", "100", "--keep", "0.5", "--compute", "fp32", "--out", mask_keep])
    masks = {"llava": read_bool_npy(mask_llava), "keep50": read_bool_npy(mask_keep)}
    random_paths = {}
    for name, m in masks.items():
        random_paths[name] = os.path.join(work, f"mask_{name}_random.npy")
        write_bool_npy(random_paths[name], random_like(m, seed=0))

    def spec(body, mask=None):
        """The plan as yopo writes it (fields in the order window, layers, heads, ffn, heads-scope)."""
        fields = dict(item.split("=", 1) for item in body.split(",") if item)
        if mask:
            fields["heads"] = mask
        order = ["window", "layers", "heads", "ffn", "heads-scope"]
        return "yopo:" + ",".join(f"{k}={fields[k]}" for k in order if k in fields)

    rows = []  # (group, label, model key, summary plan, per-type)

    def collect(group, model_key, out_dir, summary, labels):
        for plan in summary["plans"]:
            label = labels.get(plan["prune"], plan["method"])
            counts, total, got = per_type(os.path.join(out_dir, os.path.relpath(plan["answers"], out_dir))
                                          if not os.path.isabs(plan["answers"]) else plan["answers"], truth, questions)
            rows.append({"group": group, "label": label, "model": model_key, "plan": plan, "counts": counts,
                         "total": total, "answers": got})

    # 2. The dense model, training-free: each strategy alone, the combined plans (calibrated and random
    # masks), the token-pruning baselines at the combined plans' budgets, the head-scope ablation.
    p25 = spec(PLAN25, mask_llava)
    p12 = spec(PLAN12, mask_llava)
    labels = {
        "none": "dense",
        spec("window=3"): "window 3 alone",
        spec("layers=3"): "layer drop K = 3 alone",
        spec("", mask_llava): "heads (LLaVA rule mask) alone",
        spec("", mask_keep): "heads (keep-half mask) alone",
        spec("", random_paths["keep50"]): "heads (random mask, keep-half sizes) alone",
        spec("ffn=2"): "sparse FFN r = 2 alone",
        p25: "YOPO ~25% (calibrated mask)",
        spec(PLAN25, random_paths["llava"]): "YOPO ~25% (random mask, same sizes)",
        p12: "YOPO ~12% (calibrated mask)",
        spec(PLAN12, random_paths["llava"]): "YOPO ~12% (random mask, same sizes)",
        spec("heads-scope=all", mask_keep): "ablation: keep-half heads pruned for visual and text",
    }
    yopo_plans = [p for p in labels if p != "none"]
    for mode in ("skip", "simulate"):
        out = os.path.join(work, f"dense-{mode}")
        s = eval_run(DENSE_MODEL, out, ["none"] + yopo_plans, mode)
        collect(f"training-free ({mode})", "dense", out, s, labels)
    budgets = {}
    for share, name in ((0.25, "~25%"), (0.125, "~12%")):
        out = os.path.join(work, f"budget-{share}")
        s = eval_run(DENSE_MODEL, out, [], "skip", ["--budget", str(share)])
        budgets[name] = s
        collect(f"budget {name} of the dense FLOPs (yopo convention)", "dense", out, s, {})

    # 3. The mask-fine-tuned models (the paper's recipe) under their plans.
    tuned_plans = {"yopo-25": p25, "yopo-12": p12}
    for key, model in TUNED.items():
        if not os.path.isdir(model):
            continue
        for mode in ("simulate", "skip"):
            out = os.path.join(work, f"tuned-{key}-{mode}")
            s = eval_run(model, out, ["none", tuned_plans[key]], mode)
            collect(f"fine-tuned with {key} ({mode})", key,
                    out, s, {"none": "dense (fine-tuned weights)", tuned_plans[key]: f"YOPO {key[5:]}% plan it was tuned with"})

    # 4. Engine vs PyTorch on every test question (dense, and the golden plan in simulate mode).
    agreement = None
    if os.path.exists(PYTORCH):
        pt = json.load(open(PYTORCH))
        dense_row = next(r for r in rows if r["group"] == "training-free (simulate)" and r["label"] == "dense")
        golden_spec = "yopo:" + pt["plan"].split(":", 1)[1].replace(
            "heads=calibration/", "heads=" + os.path.join(FIX, "calibration") + "/")
        out = os.path.join(work, "pytorch-plan")
        s = eval_run(DENSE_MODEL, out, [golden_spec], "simulate")
        counts, total, got = per_type(s["plans"][0]["answers"], truth, questions)
        common_ids = [q for q in pt["answers"] if q in got]
        agree_dense = sum(pt["answers"][q]["dense"] == dense_row["answers"][q] for q in common_ids)
        agree_yopo = sum(pt["answers"][q]["yopo"] == got[q] for q in common_ids)
        agreement = (len(common_ids), agree_dense, agree_yopo, pt["plan"], total)

    # 5. Charts.
    summaries = [os.path.join(work, "dense-skip", "summary.json")] + [
        os.path.join(work, f"budget-{x}", "summary.json") for x in (0.25, 0.125)]
    if LIMIT:  # unscored (the GQA scorer needs every question): no accuracy chart
        for r in rows:
            print(f"{r['group']:40s} {r['label']:50s} {r['total']}")
        print(agreement)
        return
    run(["analyze", "--calibration", report, "--out", CHARTS] + sum((["--eval", p] for p in summaries), []))

    write_markdown(rows, cal_out, masks, agreement, budgets)
    print(f"wrote {os.path.relpath(RESULTS_MD, REPO)} and {os.path.relpath(CHARTS, REPO)}/")


def pct(x):
    return f"{100 * x:.1f}"


def write_markdown(rows, cal_out, masks, agreement, budgets):
    dense = {r["model"]: r for r in rows if r["label"].startswith("dense")}
    base = next(r for r in rows if r["label"] == "dense")
    base_exec = base["plan"]["executed_flops_per_question"]
    base_conv = base["plan"]["convention_flops_per_question"]
    L = []
    w = L.append
    w("# Results on the demo model (issue 14)")
    w("")
    w("Regenerated by `make results` (Tools/train/make_results.py); do not edit by hand. The model, task and")
    w("recipe: [Tools/train/README.md](../Tools/train/README.md). Test split: "
      f"{base['total'][1]} questions (Tests/Fixtures/shapes/test), exact match, greedy, fp32 compute.")
    w("")
    w("FLOPs per question are the engine's executed count (`executed`, the whole question: vision tower,")
    w("projector, prefill and decode) and the visual FLOPs under the YOPO paper's convention (`visual`, the")
    w("LLM's computation on the image tokens, METHOD.md §5.2), each as a share of dense. `simulate` runs")
    w("the official numerics (the work is done: executed FLOPs equal dense); `skip` does not do the pruned work.")
    w("")
    def acc(group, label):
        r = next((r for r in rows if r["group"] == group and r["label"] == label), None)
        return None if r is None else 100 * (r["total"][0] / r["total"][1])  # rounds as the table's pct()

    d = acc("training-free (skip)", "dense")
    w("## Headlines")
    w("")
    w(f"- Dense: {d:.1f} %.")
    for mode in ("simulate", "skip"):
        t = acc(f"fine-tuned with yopo-25 ({mode})", "YOPO 25% plan it was tuned with")
        f = acc(f"training-free ({mode})", "YOPO ~25% (calibrated mask)")
        if t is not None:
            w(f"- YOPO ~25 % ({mode}): training-free {f:.1f} %, mask-fine-tuned {t:.1f} % "
              f"({t - d:+.1f} points from dense; the target is within 2).")
    for mode in ("skip", "simulate"):
        for body in ("YOPO ~25%", "YOPO ~12%"):
            c = acc(f"training-free ({mode})", f"{body} (calibrated mask)")
            r = acc(f"training-free ({mode})", f"{body} (random mask, same sizes)")
            w(f"- {body} training-free ({mode}), calibrated vs random mask of the same per-layer sizes: {c:.1f} % vs {r:.1f} %.")
        c = acc(f"training-free ({mode})", "heads (keep-half mask) alone")
        r = acc(f"training-free ({mode})", "heads (random mask, keep-half sizes) alone")
        x = acc(f"training-free ({mode})", "ablation: keep-half heads pruned for visual and text")
        w(f"- Heads alone ({mode}), keep-half calibrated vs random: {c:.1f} % vs {r:.1f} %; the same calibrated "
          f"heads pruned for visual and text tokens (ablation): {x:.1f} %.")
    if not os.path.isdir(TUNED["yopo-12"]):
        w("- Not run: the model fine-tuned with the ~12 % plan (only the ~25 % one was trained).")
    w("")
    w("## All runs")
    w("")
    w("| setting | method | visual % | executed % | accuracy % | " + " | ".join(CATEGORIES) + " |")
    w("|---|---|---:|---:|---:|" + "---:|" * len(CATEGORIES))
    for r in rows:
        p = r["plan"]
        conv = p["convention_flops_per_question"].get("yopo")
        vis = pct(conv / base_conv["yopo"]) if conv is not None and base_conv.get("yopo") else "–"
        ex = pct(p["executed_flops_per_question"] / base_exec)
        acc = pct(r["total"][0] / r["total"][1])
        cats = " | ".join(pct(r["counts"][c][0] / max(1, r["counts"][c][1])) for c in CATEGORIES)
        w(f"| {r['group']} | {r['label']} (`{short(p['prune'])}`) | {vis} | {ex} | **{acc}** | {cats} |")
    w("")
    w("## Calibration")
    w("")
    w(f"`yopo calibrate` on the 100 calibration questions (Tests/Fixtures/shapes/calib), official LLaVA rule "
      f"alpha {ALPHA}, votes {VOTES}: {cal_out.strip()}. It equals, byte for byte, the mask the independent")
    w("Python rule computes from transformers' attention dump (Tests/Fixtures/calibration/demo_masses.npy).")
    w(f"Kept heads per layer: LLaVA rule {[sum(r) for r in masks['llava']]}, keep-half {[sum(r) for r in masks['keep50']]}.")
    w("")
    w("![visual attention per layer](results/visual_attention_per_layer.svg)")
    w("![head activity](results/head_activity.svg)")
    w("![attention distance](results/attention_distance.svg)")
    w("![accuracy against FLOPs](results/accuracy_vs_flops.svg)")
    w("")
    if agreement:
        n, d, y, plan, total = agreement
        w("## Engine vs PyTorch")
        w("")
        w(f"On all {n} test questions the engine's answers equal transformers' for dense: {d}/{n}; for `{plan}` in")
        w(f"simulate mode (make_pruning_fixtures.py's YopoReference): {y}/{n} (that plan's accuracy {pct(total[0] / total[1])}%).")
        w("")
    open(RESULTS_MD, "w").write("\n".join(L) + "\n")


def short(prune):
    return prune.replace(os.path.join(FIX, "calibration") + "/", "").replace("/tmp/yopo-results/", "")


if __name__ == "__main__":
    main()
