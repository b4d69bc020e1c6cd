#!/usr/bin/env python3
"""Times Qwen2-VL-7B and Qwen2.5-VL-7B on random bf16 weights with the real dimensions (issue 15) and
writes the tables into BENCHMARKS.md between the `qwen` markers (replacing an older section, or
appending it).

    swift build -c release --product yopo
    python3 Tools/bench/qwen_bench.py --runs 1

Per architecture: one run with 28 distinct decoder layers at the 1920×1080 photo's 39×69 = 2691
tokens (vision tower and merger, prefill per spec, 8 decode steps, read bandwidth, peak RSS), then the
448² (16×16) and 896² (32×32) images with the layers sharing one weight set (prefill times like
distinct layers). Specs: dense, YOPO at ~25% of the visual FLOPs (window 5, visual rows in the first
14 of 28 layers, FFN halved: 26.0% under the yopo convention at 2691 tokens), and FastV at equal
executed prefill FLOPs (K = 2, R = 0.77: within 2.5% of the YOPO plan's at every size). Prompt:
15 system tokens (Qwen's template up to <|vision_start|>) + image + 30 text tokens. OPENBLAS_CORETYPE
is left as the machine sets it. Raw JSON goes to --json-dir.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from markdown_section import write_section  # noqa: E402

BEGIN = "<!-- qwen:begin -->"
END = "<!-- qwen:end -->"
YOPO = "yopo:window=5,layers=14,ffn=2"
FASTV = "fastv:k=2,r=0.77"
ARCHS = ["qwen2-vl-7b", "qwen2.5-vl-7b"]
SIZES = [("448²", "16x16"), ("896²", "32x32")]
MAIN = ("1920×1080 (1932×1092)", "39x69")


def bench(binary, arch, grid, runs, extra, path):
    command = [binary, "bench", "--arch", arch, "--random-weights", "bf16", "--grid", grid, "--text-tokens", "30",
               "--prune", "none", "--prune", YOPO, "--prune", FASTV, "--runs", str(runs), "--warmup", "0",
               "--json"] + extra
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    with open(path, "w", encoding="utf-8") as f:
        f.write(out)
    return json.loads(out), " ".join(command[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=".build/release/yopo")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json-dir", default="bench-out")
    ap.add_argument("--out", default="BENCHMARKS.md")
    a = ap.parse_args()
    os.makedirs(a.json_dir, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    results, commands = {}, []
    for arch in ARCHS:
        r, c = bench(a.binary, arch, MAIN[1], a.runs, ["--decode-tokens", "8"], f"{a.json_dir}/qwen_{arch}_{MAIN[1]}.json")
        results[(arch, MAIN[1])] = r
        commands.append(c)
        for _, grid in SIZES:
            r, c = bench(a.binary, arch, grid, a.runs, ["--shared-layers", "--decode-tokens", "0"],
                         f"{a.json_dir}/qwen_{arch}_{grid}.json")
            results[(arch, grid)] = r
            commands.append(c)

    def spec(r, name):
        return next(x for x in r["results"] if x["spec"] == name)

    lines = [BEGIN, "", "## Qwen2-VL-7B and Qwen2.5-VL-7B, random bf16 weights (issue 15)", "",
             f"Written by `python3 Tools/bench/qwen_bench.py --runs {a.runs}` at commit {commit} on "
             f"{datetime.date.today().isoformat()}: bf16 weights and compute, 2 threads, one timed run per "
             "measurement (no warm-up; the weights were just generated, so they are resident). The 2691-token run has 28 "
             "distinct decoder layers (real decode bytes and RSS); the 448² and 896² runs share one layer's weights. "
             "Prompt: 15 system + image + 30 text tokens. "
             f"YOPO = `{YOPO}` (26.0% of the dense visual FLOPs under the yopo convention at 2691 tokens, "
             f"`yopo flops --arch qwen2-vl-7b --image-size 1920x1080 --prune {YOPO}`); FastV = `{FASTV}`, "
             "whose executed prefill FLOPs are within 2.5% of YOPO's at each size. Predicted speed-up = dense executed "
             "prefill FLOPs / the spec's (the decoder: the vision tower is the same for every spec).", "",
             "```"] + commands + ["```", "",
             "| model | visual tokens | vision + merger ms | vision GFLOP | vision GFLOP/s | dense prefill ms | prefill GFLOP/s | "
             "decode tokens/s | % of decode bound | weights GB | peak RSS GB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for arch in ARCHS:
        r = results[(arch, MAIN[1])]
        d = spec(r, "none")
        bound = r.get("decode_bound_tokens_per_second")
        tps = d.get("decode_tokens_per_second")
        lines.append(
            f"| {arch} | {r['visual_tokens']} | {r['vision_encode_ms']:,.0f} | {r['vision_gflops']:,.0f} | "
            f"{r['vision_gflops'] / (r['vision_encode_ms'] / 1000):.0f} | {d['prefill_ms']:,.0f} | {d['gflops_per_second']:.0f} | "
            f"{tps:.2f} | {100 * tps / bound:.0f}% | {r['weight_bytes'] / 1e9:.2f} | {r['peak_rss_bytes'] / 1e9:.2f} |")
    lines += ["", "At 2691 visual tokens, each spec:", "",
              "| model | spec | prefill ms | executed GFLOP | predicted speed-up | measured speed-up | measured / predicted |",
              "|---|---|---:|---:|---:|---:|---:|"]
    verdicts = []
    for arch in ARCHS:
        r = results[(arch, MAIN[1])]
        d = spec(r, "none")
        for name in ["none", YOPO, FASTV]:
            x = spec(r, name)
            predicted = d["executed_flops"] / x["executed_flops"]
            measured = d["prefill_ms"] / x["prefill_ms"]
            lines.append(f"| {arch} | `{name}` | {x['prefill_ms']:,.0f} | {x['executed_flops'] / 1e9:,.0f} | "
                         f"{predicted:.2f}× | {measured:.2f}× | {100 * measured / predicted:.0f}% |")
            if name == YOPO:
                verdicts.append(f"{arch} {100 * measured / predicted:.0f}%")
    lines += ["", "Target (issue 15): the ~25% YOPO plan at ≥ 80% of its predicted prefill speed-up at 2691 tokens: "
              + ", ".join(verdicts) + ".", "",
              "Scaling: dense vs YOPO vs FastV at equal FLOPs (prefill ms; whole = vision + merger + prefill):", "",
              "| model | image | tokens | vision ms | dense | YOPO | FastV | YOPO speed-up | FastV speed-up | whole: dense | whole: YOPO | whole speed-up |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for arch in ARCHS:
        for image, grid in SIZES + [MAIN]:
            r = results[(arch, grid)]
            d, y, f = spec(r, "none")["prefill_ms"], spec(r, YOPO)["prefill_ms"], spec(r, FASTV)["prefill_ms"]
            v = r["vision_encode_ms"]
            lines.append(f"| {arch} | {image} | {r['visual_tokens']} | {v:,.0f} | {d:,.0f} | {y:,.0f} | {f:,.0f} | "
                         f"{d / y:.2f}× | {d / f:.2f}× | {v + d:,.0f} | {v + y:,.0f} | {(v + d) / (v + y):.2f}× |")
    lines += ["", END]
    section = "\n".join(lines) + "\n"
    write_section(a.out, BEGIN, END, section)
    print(section)


if __name__ == "__main__":
    main()
