#!/usr/bin/env python3
"""Writes BENCHMARKS.md (to stdout) from the raw outputs of scripts/benchmarks.sh: the issue-6 targets
with their measured values, then every table with the command that produced it.

    python3 Tools/bench/targets.py --out bench-out --runs 5 --fastv fastv:k=2,r=0.93 > BENCHMARKS.md
"""
import argparse
import datetime
import json
import os
import platform
import subprocess


def load(out, name):
    with open(os.path.join(out, name), encoding="utf-8") as f:
        return json.load(f)


def read(out, name):
    with open(os.path.join(out, name), encoding="utf-8") as f:
        return f.read().strip()


def result(bench, spec):
    return next(r for r in bench["results"] if r["spec"] == spec)


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def package_version(name):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True).stdout or "?"
    except OSError:
        return "?"


def bench_table(b):
    base = b["results"][0]
    lines = ["| spec | prefill ms (median) | executed GFLOP | GFLOP/s | predicted speed-up | measured speed-up | "
             "measured / predicted | decode tokens/s | % of decode bound |", "|---|---|---|---|---|---|---|---|---|"]
    for r in b["results"]:
        predicted = base["executed_flops"] / r["executed_flops"]
        measured = base["prefill_ms"] / r["prefill_ms"]
        dec = r.get("decode_tokens_per_second")
        bound = b.get("decode_bound_tokens_per_second")
        lines.append(f"| {r['spec']} | {r['prefill_ms']:.0f} | {r['executed_flops'] / 1e9:.1f} | "
                     f"{r['gflops_per_second']:.1f} | {predicted:.2f}× | {measured:.2f}× | {100 * measured / predicted:.0f}% | "
                     f"{'–' if dec is None else f'{dec:.2f}'} | "
                     f"{'–' if dec is None or not bound else f'{100 * dec / bound:.0f}%'} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench-out")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fastv", default="fastv:k=2,r=0.93")
    ap.add_argument("--note", action="append", default=[], metavar="TEXT",
                    help="a line printed under the header (e.g. which commit measured which section)")
    a = ap.parse_args()
    gemm = load(a.out, "gemm.json")
    b7 = load(a.out, "bench_7b.json")
    s2 = load(a.out, "side_by_side_2.json")
    s32 = load(a.out, "side_by_side_32.json")
    scaling = {n: load(a.out, f"scaling_{n}.json") for n in (576, 1152, 2304, 2880)}

    # Best large GEMM any library reaches in this run (M ≥ 577 rows: prefill shapes).
    large = [r for r in gemm if r["m"] >= 577]
    ours_best = max(large, key=lambda r: r["gflops_per_second"])
    torch_best = {k: s2["torch"]["gemm"][k]["best"] for k in ("bf16", "fp32") if k in s2["torch"]["gemm"]}
    candidates = [(ours_best["gflops_per_second"], f"{ours_best['path']} {ours_best['m']}×{ours_best['k']}×{ours_best['n']}")]
    candidates += [(v["gflops_per_second"], f"PyTorch {k} {v['M']}×{v['K']}×{v['N']}") for k, v in torch_best.items()]
    best_gemm, best_gemm_what = max(candidates)

    dense, y12 = result(b7, "none"), result(b7, "yopo-12")
    torch32 = s32["torch"]
    t_dense_bf16 = torch32["prefill"]["bf16"]["ms"]
    t_masked_bf16 = torch32["masked_prefill"]["bf16"]["ms"]
    t2 = s2["torch"]
    t2_best = min(t2["prefill"][k]["ms"] for k in t2["prefill"])
    y2_dense = next(r for r in s2["yopo"]["results"] if r["spec"] == "none")
    y12_scale = [result(scaling[n], "yopo-12")["prefill_ms"] for n in (576, 2880)]
    decode_fraction = dense["decode_tokens_per_second"] / b7["decode_bound_tokens_per_second"]

    def row(target, measured, ok, source):
        return f"| {target} | {measured} | {'met' if ok else '**not met**'} | {source} |"

    print("# Benchmarks\n")
    print(f"Written by `scripts/benchmarks.sh` (RUNS={a.runs}) on {datetime.date.today().isoformat()}: {cpu_name()}, "
          f"{os.cpu_count()} cores, OpenBLAS {package_version('libopenblas0-pthread')}, oneDNN {b7.get('onednn')}, "
          f"own kernels {b7.get('kernels')}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')} (left as the machine "
          f"sets it), PyTorch {s2['torch']['versions']['torch']}, transformers {s2['torch']['versions']['transformers']}. "
          f"Random weights with the real dimensions (they time like trained ones). Times are medians of {a.runs} runs "
          f"after one warm-up unless a table says otherwise; {b7['threads']} threads everywhere.\n")
    for note in a.note:
        print(f"- {note}")
    if a.note:
        print()
    print("## Targets (issue 6)\n")
    print("| target | measured | | from |")
    print("|---|---|---|---|")
    print(row("dense LLM prefill ≥ 75% of the best large-GEMM throughput any library reaches here",
              f"{dense['gflops_per_second']:.0f} GFLOP/s = {100 * dense['gflops_per_second'] / best_gemm:.0f}% of "
              f"{best_gemm:.0f} GFLOP/s ({best_gemm_what})", dense["gflops_per_second"] >= 0.75 * best_gemm,
              "7B 32 layers; GEMM paths"))
    print(row("dense prefill no slower than 1.1× PyTorch's best precision, same shapes",
              f"32 layers: {dense['prefill_ms'] / 1000:.2f} s vs PyTorch bf16 {t_dense_bf16 / 1000:.2f} s "
              f"({dense['prefill_ms'] / t_dense_bf16:.2f}×); 2-layer slice: {y2_dense['prefill_ms']:.0f} ms vs "
              f"{t2_best:.0f} ms ({y2_dense['prefill_ms'] / t2_best:.2f}×)",
              dense["prefill_ms"] <= 1.1 * t_dense_bf16 and y2_dense["prefill_ms"] <= 1.1 * t2_best,
              "side by side, 32 and 2 layers"))
    print(row("`yopo-12` prefill ≥ 5× faster than PyTorch running the official masking semantics",
              f"{y12['prefill_ms'] / 1000:.2f} s vs {t_masked_bf16 / 1000:.2f} s (PyTorch bf16, masked): "
              f"{t_masked_bf16 / y12['prefill_ms']:.2f}×", t_masked_bf16 >= 5 * y12["prefill_ms"],
              "side by side, 32 layers"))
    # Every spec's decode step reads the same weight bytes; the fastest one bounds the probe from below.
    fastest = max(r["decode_tokens_per_second"] for r in b7["results"])
    caveat = ""
    if fastest > b7["decode_bound_tokens_per_second"]:
        caveat = (f"; the probe understates the peak: the fastest decode in this run ({max(r['decode_tokens_per_second'] for r in b7['results']):.2f} "
                  f"tokens/s, {fastest * b7['decode_weight_bytes'] / 1e9:.1f} GB/s) puts dense decode at "
                  f"{100 * dense['decode_tokens_per_second'] / fastest:.0f}% of what the machine streamed")
    print(row("decode ≥ 85% of the memory-bandwidth bound for the weights' bytes",
              f"{dense['decode_tokens_per_second']:.2f} tokens/s = {100 * decode_fraction:.0f}% of "
              f"{b7['decode_bound_tokens_per_second']:.2f} ({b7['memory_read_gb_per_second']:.1f} GB/s read ÷ "
              f"{b7['decode_weight_bytes'] / 1e9:.2f} GB per token){caveat}",
              decode_fraction >= 0.85 and dense["decode_tokens_per_second"] >= 0.85 * fastest, "7B 32 layers"))
    print(row("CLIP ViT-L/14-336 encode ≤ 0.8 s",
              f"{b7['vision_encode_ms'] / 1000:.2f} s ({b7['vision_gflops']:.0f} GFLOP, "
              f"{b7['vision_gflops'] / (b7['vision_encode_ms'] / 1000):.0f} GFLOP/s; ≥ {b7['vision_gflops'] / best_gemm:.2f} s "
              "even at the best GEMM rate)", b7["vision_encode_ms"] <= 800, "7B run"))
    print(row("YOPO prefill grows linearly: time(2880) / time(576) ≤ 5.5",
              f"yopo-12: {y12_scale[1] / 1000:.2f} s / {y12_scale[0] / 1000:.2f} s = {y12_scale[1] / y12_scale[0]:.2f}",
              y12_scale[1] / y12_scale[0] <= 5.5, "scaling"))
    print(row("7B bf16 model: peak RSS ≤ 16 GB", f"{b7['peak_rss_bytes'] / 1e9:.2f} GB (weights "
              f"{b7['weight_bytes'] / 1e9:.2f} GB, every layer distinct)", b7["peak_rss_bytes"] <= 16e9, "7B run"))
    print()
    misses = []
    if b7["vision_encode_ms"] > 800:
        misses.append("**CLIP ≤ 0.8 s** needs more than the machine's best GEMM rate (the bound in the row); the gap to "
                      "that bound is attention (per-head fp32 OpenBLAS products) and oneDNN's lower rate at K = 1024.")
    if t_masked_bf16 < 5 * y12["prefill_ms"]:
        misses.append("**yopo-12 ≥ 5× PyTorch masked**: a profile of the 7B yopo-12 prefill (`perf record`, "
                      "shared layers) puts about 39% of the samples in the own bf16 GEMM (the 65 system and text rows "
                      "every layer computes; 340–400 GFLOP/s at 65 rows, `yopo bench-gemm --shape 65x4096x11008`), 36% "
                      "in oneDNN's kernels (the 576 visual rows of layers 0–7), 7% in libgomp's barrier waits, and about "
                      "1% each in window attention, norms, activations and the bf16 rounding of activations: the "
                      "products run below the large-product rate, and half of them have only 65 rows.")
    notes_after = ["**2-layer slice**: this engine computes only keys and values for the rows whose output nobody "
                   "reads in the last layer (all but the logits row), PyTorch the whole layer; on a 2-layer slice that "
                   "is half the slice, so the 32-layer ratio is the one that compares the engines."]
    if not (dense["prefill_ms"] <= 1.1 * t_dense_bf16 and y2_dense["prefill_ms"] <= 1.1 * t2_best):
        misses.append("**1.1× PyTorch**: PyTorch bundles oneDNN 3.x for its bf16 `linear`; this engine links Debian's "
                      "oneDNN 2.6. Run-to-run drift on this machine reaches ±10% (see the note above).")
    if dense["gflops_per_second"] < 0.75 * best_gemm:
        misses.append("**75% of the best GEMM**: the rest of a layer (attention per head, norms, RoPE) runs below "
                      "the GEMM rate.")
    if decode_fraction < 0.85 or dense["decode_tokens_per_second"] < 0.85 * fastest:
        prompt = b7["system_tokens"] + b7["visual_tokens"] + b7["text_tokens"]
        kv = b7["layers"] * prompt * 4096 * 2 * 4
        misses.append(f"**decode**: a dense step also reads the fp32 KV cache ({kv / 1e9:.2f} GB at {prompt} tokens), "
                      "which yopo-12 mostly does not keep; storing the cache in bf16 would halve that. This machine's "
                      "memory bandwidth also moves from run to run (the probe read 28–48 GB/s over the session).")
    if b7["peak_rss_bytes"] > 16e9:
        misses.append("**RSS**: weights, the vision tower, the fp32 KV cache and activation buffers kept by the allocator.")
    if misses:
        print("Where a target is not met:\n")
        for m in misses:
            print(f"- {m}")
        print()
    print("Reading the rows:\n")
    for m in notes_after:
        print(f"- {m}")
    print()
    print("## Matrix-product paths per shape (the choices in `MatMul.linear`)\n")
    print("`C[M,N] = A[M,K]·W[N,K]ᵀ`, best of the runs. `onednn-bf16`: A rounded to bf16, oneDNN matmul (bf16 "
          "compute); `bf16-widened-openblas-sgemm`: bf16 weights widened to fp32 in panels, OpenBLAS SGEMM (fp32 "
          "compute, the fallback without oneDNN); `own-gemv-*`: our GEMV for ≤ 8 rows (AVX-512, forced portable C, "
          "and with bf16 activations under bf16 compute); `own-gemm-bf16`: our AVX512_BF16 GEMM reading the stored "
          "[N, K] bf16 weights (no packing), used for 8 < M ≤ 112 (`MatMul.ownGEMMMaxRows`), where oneDNN's "
          "per-call re-packing of the weights costs most. Large products go to oneDNN (about 2× OpenBLAS fp32); "
          "decode goes to the own GEMV (OpenBLAS SGEMV on fp32 weights reads 8–15 GB/s, oneDNN's bf16 M=1 path "
          "15.8 GB/s when measured during development, the own kernel 28–35 GB/s).\n")
    print(f"```\n$ yopo bench-gemm --runs {a.runs} --json\n```\n")
    print("| M | K | N | path | ms | GFLOP/s | weight GB/s |\n|---|---|---|---|---|---|---|")
    for r in gemm:
        print(f"| {r['m']} | {r['k']} | {r['n']} | {r['path']} | {r['ms']:.2f} | {r['gflops_per_second']:.1f} | "
              f"{r['weight_gb_per_second']:.1f} |")
    print()
    print("## LLaVA-1.5-7B, all 32 layers, bf16 weights (distinct per layer)\n")
    print("Prompt 35 system + 576 visual (24×24) + 30 text tokens, then 16 single-token decode steps (fixed token "
          "ids) through the KV cache. "
          "The vision tower is CLIP ViT-L/14-336 through its 23rd layer (LLaVA's feature layer −2). Decode bound: "
          "memory read bandwidth (median of five 1 GB passes, right after the decode steps) ÷ bytes every step reads (all layers + LM head).\n")
    print(f"```\n$ yopo bench --arch llava-1.5-7b --random-weights bf16 --prune none --prune yopo-25 --prune yopo-12 "
          f"--runs {a.runs} --decode-tokens 16\n```\n")
    print(f"vision encode {b7['vision_encode_ms']:.0f} ms ({b7['vision_gflops']:.1f} GFLOP); weights "
          f"{b7['weight_bytes'] / 1e9:.2f} GB; peak RSS {b7['peak_rss_bytes'] / 1e9:.2f} GB; memory read "
          f"{b7['memory_read_gb_per_second']:.1f} GB/s → decode bound {b7['decode_bound_tokens_per_second']:.2f} tokens/s\n")
    print(bench_table(b7) + "\n")
    print("With 32 layers yopo-12 drops visual rows after layer 8 and yopo-25 after 16; \"predicted\" is the dense "
          "executed FLOPs over the plan's (docs/FLOPS.md `full`, LLM prefill).\n")
    print("## Side by side with PyTorch (Tools/bench/side_by_side.py)\n")
    print("### 2-layer slice, bf16 and fp32\n")
    print(f"```\n$ python3 Tools/bench/side_by_side.py --arch llava-1.5-7b --layers 2 --runs {a.runs}\n```\n")
    print(read(a.out, "side_by_side_2.md").split("\n", 1)[1].strip() + "\n")
    print("### All 32 layers, bf16 (the engine's numbers are the 7B run above)\n")
    print(f"```\n$ python3 Tools/bench/side_by_side.py --arch llava-1.5-7b --layers 32 --runs {a.runs} --dtypes bf16 "
          "--skip clip,gemm --yopo-json bench-out/bench_7b.json\n```\n")
    print(read(a.out, "side_by_side_32.md").split("\n", 1)[1].strip() + "\n")
    print("## Scaling with visual tokens\n")
    print(f"Dense, yopo-12 and FastV (`{a.fastv}`, whose executed prefill FLOPs at 576 tokens are within 1% of "
          "yopo-12's) on 32 layers sharing one bf16 weight set (times like distinct layers; the grid is the most "
          f"nearly square one). Dense and FastV: one timed run each (no warm-up); yopo-12: median of {a.runs} after "
          "one warm-up. Chart: [docs/scaling.svg](docs/scaling.svg).\n")
    print("```\n$ for n in 576 1152 2304 2880; do\n"
          "    yopo bench --arch llava-1.5-7b --shared-layers --no-vision --decode-tokens 0 --visual-tokens $n "
          f"--prune none --prune {a.fastv} --runs 1 --warmup 0 --json\n"
          "    yopo bench --arch llava-1.5-7b --shared-layers --no-vision --decode-tokens 0 --visual-tokens $n "
          f"--prune yopo-12 --runs {a.runs} --json\n  done\n"
          "$ python3 Tools/bench/scaling_chart.py … --markdown docs/scaling.md --svg docs/scaling.svg\n```\n")
    with open("docs/scaling.md", encoding="utf-8") as f:
        print(f.read().strip() + "\n")
    print("![prefill time vs visual tokens](docs/scaling.svg)\n")
    print("## Regenerating\n")
    print("`scripts/benchmarks.sh` (about 65 minutes; needs a quiet machine, 24 GB RAM and PyTorch from "
          "Tools/reference/requirements.txt). Raw JSON stays in `bench-out/`.")


if __name__ == "__main__":
    main()
