#!/usr/bin/env python3
"""PyTorch CPU vs `yopo bench`, side by side: same shapes, same thread count, one run.

PyTorch side (transformers, random weights, the real LLaVA-1.5 decoder / CLIP dimensions):
  (a) LLM prefill of `inputs_embeds` [1, prompt, hidden] through LlamaForCausalLM with N decoder layers,
      use_cache=True, logits_to_keep=1 (LM head on the last row only), bf16 and fp32, SDPA attention
      (--dense-attn eager|both to time eager too);
      GFLOP/s from docs/FLOPS.md's `full` rules (Tools/reference/full_flops_rules.py: every linear
      2·M·K·N, attention per head in 64-row causal query blocks extended to the image's end, LM head
      for the last row) -- the same count as the engine's `executed_flops` for `none`;
  (b) greedy decode with the KV cache after the prefill, bf16 (tokens/s over --decode-tokens steps);
  (c) CLIP ViT-L/14-336 vision tower (CLIPVisionModel, all 24 layers as llava-hf runs it; no projector),
      one image, bf16 and fp32;
  (d) the best single-GEMM throughput of torch.nn.functional.linear, bf16 and fp32, for
      M = prompt rows / 2048, K = hidden, N = hidden / intermediate (7B: 641|2048 x 4096 x 4096|11008);
  (e) the official YOPO release's semantics for `yopo-12` (dense computation with masks: symmetric
      5x5 window on the image block, official head mask, layer drop from K, visual FFN channels zeroed
      beyond int(I/2)) via Tools/reference/make_pruning_fixtures.py (YopoReference in "simulate"
      mode on its eager-order attention), bf16 and fp32.
The decoder layers share one random weight set (like `yopo bench --shared-layers`; the engine's default
gives every layer its own weights). A 7B/13B layer (0.4-1.3 GB) is far larger than any CPU cache, so
prefill and decode stream it from memory either way; sharing keeps 32/40-layer fp32 models in RAM.
Vocabulary 32000 (the engine's; llava-hf checkpoints have 32064), tied embedding / LM head.

yopo side: `BIN bench --arch A --layers N --threads T --runs R --system-tokens S --visual-tokens V
--text-tokens X --decode-tokens D --random-weights bf16 --prune none --prune yopo-12 --json`, or its
JSON read from --yopo-json FILE. Missing keys print as n/a.

Ratios are PyTorch best / yopo for times (> 1: yopo faster) and yopo / PyTorch for rates.

    python3 Tools/bench/side_by_side.py --layers 2                       # 7B slice, 2 threads
    python3 Tools/bench/side_by_side.py --arch llava-1.5-7b --layers 32 --runs 3 \\
        --json side_by_side_7b.json --markdown side_by_side_7b.md
    python3 Tools/bench/side_by_side.py --layers 1 --runs 1 --yopo-json bench.json   # no binary run

With --layers N below the model's, yopo-12's official head mask is cut to its first N layers and
K stays the full model's (7B: 8, 13B: 10; as the engine slices the plan), so for K >= N the layer
drop never fires.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

# glibc returns large freed buffers to the kernel and faults them in again on the next forward
# (make_pruning_fixtures.py measured 2x on eager attention). Keep freed memory in the heap for the
# PyTorch side; the yopo subprocess gets the caller's original environment back.
_MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}
_ORIG_KEY = "_SIDE_BY_SIDE_ORIGINAL_MALLOC_ENV"
if __name__ == "__main__" and _ORIG_KEY not in os.environ:
    os.environ[_ORIG_KEY] = json.dumps({k: os.environ.get(k) for k in _MALLOC_ENV})
    os.environ.update(_MALLOC_ENV)
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:])

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "Tools", "reference"))

ARCHS = {  # hidden, heads, intermediate, yopo-12 K, official mask stem (METHOD.md §5.4 presets)
    "llava-1.5-7b": dict(d=4096, H=32, I=11008, L=32, K=8, mask="headmask_7b_16"),
    "llava-1.5-13b": dict(d=5120, H=40, I=13824, L=40, K=10, mask="headmask_13b_20"),
}
VOCAB = 32000
WINDOW, FFN_RATIO = 5, 2


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="llava-1.5-7b")
    ap.add_argument("--layers", type=int, default=2, help="decoder layers (a slice of the model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5, help="timed runs (median), after one warm-up")
    ap.add_argument("--system-tokens", type=int, default=35)
    ap.add_argument("--visual-tokens", type=int, default=576, help="a square number (24x24 = 576)")
    ap.add_argument("--text-tokens", type=int, default=30)
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--dense-attn", choices=["sdpa", "eager", "both"], default="sdpa",
                    help="PyTorch attention for the dense prefill (both: time each, report the faster)")
    ap.add_argument("--yopo", default=os.path.join(REPO, ".build", "release", "yopo"), metavar="BIN")
    ap.add_argument("--yopo-weights", choices=["bf16", "fp32"], default="bf16",
                    help="passed as --random-weights")
    ap.add_argument("--yopo-shared-layers", action="store_true",
                    help="pass --shared-layers to yopo bench (one weight set for every layer, as PyTorch here)")
    ap.add_argument("--yopo-json", metavar="FILE", help="read `yopo bench --json` output instead of running BIN")
    ap.add_argument("--dtypes", default="bf16,fp32", help="PyTorch precisions to time (comma list of bf16, fp32)")
    ap.add_argument("--skip", default="", help="PyTorch parts to skip (comma list of clip, gemm), e.g. for a 32-layer run")
    ap.add_argument("--torch-json", metavar="FILE",
                    help="reuse the PyTorch measurements of an earlier --json output instead of timing PyTorch again")
    ap.add_argument("--json", metavar="OUT", help="write every measurement and ratio as JSON")
    ap.add_argument("--markdown", metavar="OUT", help="write the table as Markdown")
    a = ap.parse_args()
    g = int(round(a.visual_tokens ** 0.5))
    if a.visual_tokens < 1 or g * g != a.visual_tokens:
        ap.error(f"--visual-tokens {a.visual_tokens} is not a square grid")
    if a.layers < 1 or a.runs < 1 or a.threads < 1 or a.system_tokens < 1 or a.text_tokens < 1:
        ap.error("--layers, --runs, --threads, --system-tokens and --text-tokens must be >= 1")
    if a.layers > ARCHS[a.arch]["L"]:
        ap.error(f"--layers {a.layers}: {a.arch} has {ARCHS[a.arch]['L']}")
    if a.decode_tokens < 1:
        ap.error("--decode-tokens must be >= 1")
    a.grid = g
    a.prompt = a.system_tokens + a.visual_tokens + a.text_tokens
    return a


# ------------------------------------------------------------------------------------------- yopo

def yopo_command(a):
    return [a.yopo, "bench", "--arch", a.arch, "--layers", str(a.layers), "--threads", str(a.threads),
            "--runs", str(a.runs), "--system-tokens", str(a.system_tokens), "--visual-tokens",
            str(a.visual_tokens), "--text-tokens", str(a.text_tokens), "--decode-tokens", str(a.decode_tokens),
            "--random-weights", a.yopo_weights, "--prune", "none", "--prune", "yopo-12", "--json"] + \
        (["--shared-layers"] if a.yopo_shared_layers else [])


def parse_yopo_json(text):
    start = min([i for i in (text.find("{"), text.find("[")) if i >= 0], default=-1)
    if start < 0:
        raise ValueError("no JSON object in the yopo output")
    data = json.loads(text[start:])
    return {"results": data} if isinstance(data, list) else data  # older bench printed the list only


def run_yopo(a):
    if a.yopo_json:
        with open(a.yopo_json, encoding="utf-8") as f:
            return parse_yopo_json(f.read()), None
    if not (os.path.isfile(a.yopo) and os.access(a.yopo, os.X_OK)):
        sys.exit(f"error: yopo binary not found or not executable: {a.yopo}\n"
                 "build it (swift build -c release --product yopo), pass --yopo BIN, or --yopo-json FILE")
    env = dict(os.environ)
    for k, v in json.loads(env.pop(_ORIG_KEY, "{}")).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    cmd = yopo_command(a)
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"error: yopo bench exited with {p.returncode}:\n{p.stderr.strip()}")
    return parse_yopo_json(p.stdout), cmd


def yopo_result(data, spec):
    for r in data.get("results") or []:
        if isinstance(r, dict) and r.get("spec") == spec:
            return r
    return {}


# ---------------------------------------------------------------------------------------- PyTorch

def timed(fn, runs):
    """Median milliseconds of `runs` calls after one warm-up, and every run."""
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), times


def build_llm(a, dtype):
    """LlamaForCausalLM with `a.layers` decoder layers sharing layer 0's parameters, tied LM head."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    A = ARCHS[a.arch]
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=A["d"], intermediate_size=A["I"], num_hidden_layers=1,
                      num_attention_heads=A["H"], num_key_value_heads=A["H"], max_position_embeddings=max(4096, a.prompt + a.decode_tokens),
                      rms_norm_eps=1e-5, tie_word_embeddings=True, pad_token_id=None)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(dtype).eval()
    proto = model.model.layers[0]
    cfg.num_hidden_layers = a.layers
    for i in range(1, a.layers):
        with torch.device("meta"):
            layer = LlamaDecoderLayer(cfg, i)
        for name, module in layer.named_modules():
            source = proto.get_submodule(name)
            for pname, _ in list(module.named_parameters(recurse=False)):
                setattr(module, pname, getattr(source, pname))
        model.model.layers.append(layer.eval())
    assert all(not p.is_meta for p in model.parameters())
    # one config object: LlamaModel runs layers[:num_hidden_layers] and attention reads _attn_implementation
    assert model.config is cfg and all(layer.self_attn.config is cfg for layer in model.model.layers)
    return model


def prefill_fn(model, x, cache_box):
    import torch
    from transformers import DynamicCache

    def run():
        cache = DynamicCache(config=model.config)
        with torch.no_grad():
            out = model(inputs_embeds=x, cache=cache, use_cache=True, logits_to_keep=1)
        cache_box[:] = [cache, out.logits]
    return run


def measure_decode(a, model, cache, logits):
    import torch
    first = logits[:, -1].argmax(-1, keepdim=True)

    def run():
        extra = cache.get_seq_length() - a.prompt
        if extra > 0:
            cache.crop(-extra)  # transformers 5: a negative count removes that many tokens
        tok = first
        with torch.no_grad():
            for _ in range(a.decode_tokens):
                out = model(input_ids=tok, cache=cache, use_cache=True, logits_to_keep=1)
                tok = out.logits[:, -1].argmax(-1, keepdim=True)
    ms, runs = timed(run, a.runs)
    return {"ms": ms, "runs_ms": runs, "tokens_per_second": a.decode_tokens / (ms / 1000)}


def load_head_mask(stem):
    import numpy as np
    candidates = [os.path.join(REPO, "Tests", "Fixtures", "headmasks", stem + ".npy")]
    shared = os.environ.get("YOPO_SHARED", os.path.join(REPO, "..", "shared"))
    candidates.append(os.path.join(shared, "yopo-official", "headmask", stem + ".npy"))
    for path in candidates:
        if os.path.exists(path):
            return np.load(path), os.path.relpath(path, REPO)
    sys.exit(f"error: official head mask {stem}.npy not found in {candidates}")


class _LlavaShim:
    """What make_pruning_fixtures.YopoPatch reads of a Llava model, over a LlamaForCausalLM."""

    def __init__(self, lm):
        from types import SimpleNamespace
        self.config = SimpleNamespace(text_config=lm.config)
        self.model = SimpleNamespace(language_model=lm.model)


def masked_prefill(a, model, x, mask):
    """Prefill under the official release's yopo-12 semantics (simulate mode of the reference)."""
    import torch
    import make_pruning_fixtures as mpf

    A = ARCHS[a.arch]
    plan = mpf.Plan(f"yopo:window={WINDOW},layers={A['K']},heads=<{A['mask']}>,ffn={FFN_RATIO}",
                    window=WINDOW, layers=A["K"], heads=None, ffn=FFN_RATIO)
    model.config._attn_implementation = "eager"  # YopoPatch checks it, then installs its own attention
    ref = mpf.YopoReference(model.config, "simulate", plan, (a.system_tokens, a.visual_tokens), a.grid)
    ref.M = torch.from_numpy(mask[: a.layers].copy())
    box = []
    try:
        with mpf.YopoPatch(_LlavaShim(model), ref):
            ms, runs = timed(prefill_fn(model, x, box), a.runs)
    finally:
        model.config._attn_implementation = "sdpa"
    return {"ms": ms, "runs_ms": runs}


def measure_torch(a):
    import torch
    import torch.nn.functional as F
    import transformers
    from transformers import CLIPVisionConfig, CLIPVisionModel
    import full_flops_rules as ffr

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.set_flush_denormal(True)
    A = ARCHS[a.arch]
    D = dict(ffr.LLAVA_7B if a.arch == "llava-1.5-7b" else ffr.LLAVA_13B, L=a.layers, Lv=24)
    counts, _ = ffr.full(D, ffr.llava_layout(a.system_tokens, (a.grid, a.grid), a.text_tokens))
    prefill_flops, clip_flops = counts.total(stage="prefill"), counts.total(stage="vision")
    mask, mask_path = load_head_mask(A["mask"])
    out = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                        "python": platform.python_version()},
           "threads": torch.get_num_threads(), "weights": "random (normal init, seed 0)",
           "prefill_flops": prefill_flops, "clip_flops": clip_flops,
           "yopo12_mask": {"file": mask_path, "shape": list(mask.shape), "layers_used": min(a.layers, mask.shape[0]),
                           "K": A["K"], "layer_drop_fires": A["K"] < a.layers},
           "prefill": {}, "masked_prefill": {}, "clip": {}, "gemm": {}}

    def log(msg):
        print(f"[torch] {msg}", file=sys.stderr, flush=True)

    dtypes = [(n, d) for n, d in (("bf16", torch.bfloat16), ("fp32", torch.float32)) if n in a.dtypes.split(",")]
    skip = set(filter(None, a.skip.split(",")))
    for name, dtype in dtypes:
        model = build_llm(a, dtype)
        torch.manual_seed(1)
        x = (torch.randn(1, a.prompt, A["d"]) * 0.02).to(dtype)
        by_attn = {}
        for impl in (["sdpa", "eager"] if a.dense_attn == "both" else [a.dense_attn]):
            model.config._attn_implementation = impl
            box = []
            ms, runs = timed(prefill_fn(model, x, box), a.runs)
            by_attn[impl] = {"ms": ms, "runs_ms": runs, "gflops_per_second": prefill_flops / ms / 1e6}
            log(f"prefill {name} ({impl}): {ms:.1f} ms")
        impl = min(by_attn, key=lambda k: by_attn[k]["ms"])
        out["prefill"][name] = dict(by_attn[impl], attention=impl, by_attention=by_attn)
        model.config._attn_implementation = "sdpa"
        if name == "bf16":  # decode continues the cache of the last timed prefill
            out["decode_bf16"] = measure_decode(a, model, *box)
            log(f"decode bf16: {out['decode_bf16']['tokens_per_second']:.2f} tok/s")
        del box
        out["masked_prefill"][name] = masked_prefill(a, model, x, mask)
        log(f"yopo-12 masked prefill {name}: {out['masked_prefill'][name]['ms']:.1f} ms")
        del model, x

    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if "clip" in skip and "gemm" in skip:
        return out
    vcfg = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                            image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu")
    vcfg._attn_implementation = "sdpa"
    torch.manual_seed(2)
    clip = CLIPVisionModel(vcfg).eval()
    pixels = torch.randn(1, 3, 336, 336)
    for name, dtype in ([] if "clip" in skip else dtypes):
        clip = clip.to(dtype)
        px = pixels.to(dtype)

        def encode():
            with torch.no_grad():
                clip(pixel_values=px, output_hidden_states=True)
        ms, runs = timed(encode, a.runs)
        out["clip"][name] = {"ms": ms, "runs_ms": runs, "gflops_per_second": clip_flops / ms / 1e6}
        log(f"CLIP {name}: {ms:.1f} ms")
    del clip

    shapes = [(m, A["d"], n) for m in (a.prompt, 2048) for n in (A["d"], A["I"])]
    for name, dtype in ([] if "gemm" in skip else dtypes):
        rows = []
        for m, k, n in shapes:
            xm, w = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
            ms, _ = timed(lambda: F.linear(xm, w), a.runs)
            rows.append({"M": m, "K": k, "N": n, "ms": ms, "gflops_per_second": 2 * m * k * n / ms / 1e6})
        best = max(rows, key=lambda r: r["gflops_per_second"])
        out["gemm"][name] = {"shapes": rows, "best": best}
        log(f"GEMM {name}: best {best['gflops_per_second']:.1f} GFLOP/s at {best['M']}x{best['K']}x{best['N']}")
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


# ------------------------------------------------------------------------------------------ table

def get(d, *path):
    for k in path:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return f"{v:,.{digits}f}"


def ratio(num, den):
    return None if num is None or den in (None, 0) else num / den


def build_rows(t, y):
    dense, y12 = yopo_result(y, "none"), yopo_result(y, "yopo-12")
    best = lambda *v: min([x for x in v if x is not None], default=None)  # noqa: E731
    pb, pf = get(t, "prefill", "bf16", "ms"), get(t, "prefill", "fp32", "ms")
    mb, mf = get(t, "masked_prefill", "bf16", "ms"), get(t, "masked_prefill", "fp32", "ms")
    cb, cf = get(t, "clip", "bf16", "ms"), get(t, "clip", "fp32", "ms")
    dec = get(t, "decode_bf16", "tokens_per_second")
    gb, gf = get(t, "gemm", "bf16", "best", "gflops_per_second"), get(t, "gemm", "fp32", "best", "gflops_per_second")
    ygf = dense.get("gflops_per_second")
    best_gemm = max([v for v in (gb, gf) if v is not None], default=None)
    pct = ratio(ygf, best_gemm)
    ycg = ratio(y.get("vision_gflops"), None if y.get("vision_encode_ms") is None else y["vision_encode_ms"] / 1000)
    rows = [
        # metric, torch bf16, torch fp32, yopo, ratio, digits
        ("LLM prefill ms, dense", pb, pf, dense.get("prefill_ms"), ratio(best(pb, pf), dense.get("prefill_ms")), 1),
        ("LLM prefill GFLOP/s, dense", get(t, "prefill", "bf16", "gflops_per_second"),
         get(t, "prefill", "fp32", "gflops_per_second"), ygf,
         ratio(ygf, max([v for v in (get(t, "prefill", "bf16", "gflops_per_second"),
                                     get(t, "prefill", "fp32", "gflops_per_second")) if v is not None], default=None)), 1),
        ("LLM prefill ms, yopo-12 (PyTorch: official masking)", mb, mf, y12.get("prefill_ms"),
         ratio(best(mb, mf), y12.get("prefill_ms")), 1),
        ("yopo-12 speed-up over dense, same engine (×)", ratio(pb, mb), ratio(pf, mf),
         ratio(dense.get("prefill_ms"), y12.get("prefill_ms")), "–", 2),
        ("decode tok/s, dense", dec, None, dense.get("decode_tokens_per_second"),
         ratio(dense.get("decode_tokens_per_second"), dec), 2),
        ("decode tok/s, yopo-12 (PyTorch: dense)", dec, None, y12.get("decode_tokens_per_second"),
         ratio(y12.get("decode_tokens_per_second"), dec), 2),
        ("CLIP ViT-L/14-336 encode ms", cb, cf, y.get("vision_encode_ms"), ratio(best(cb, cf), y.get("vision_encode_ms")), 1),
        ("CLIP encode GFLOP/s (PyTorch: 24 layers; yopo: its vision_gflops)", get(t, "clip", "bf16", "gflops_per_second"),
         get(t, "clip", "fp32", "gflops_per_second"), ycg,
         ratio(ycg, max([v for v in (get(t, "clip", "bf16", "gflops_per_second"),
                                     get(t, "clip", "fp32", "gflops_per_second")) if v is not None], default=None)), 1),
        ("best GEMM GFLOP/s (torch) vs yopo dense prefill GFLOP/s", gb, gf, ygf,
         None if pct is None else f"{100 * pct:.0f}% of best GEMM", 1),
    ]
    return rows


def render(a, t, y, cmd):
    A = ARCHS[a.arch]
    m = t["yopo12_mask"]
    dense = yopo_result(y, "none")
    lines = [
        f"# PyTorch vs yopo: {a.arch}, {a.layers} decoder layer(s), prompt {a.system_tokens} system + "
        f"{a.visual_tokens} visual + {a.text_tokens} text, {a.decode_tokens} decode tokens",
        "",
        f"- PyTorch {t['versions']['torch']}, transformers {t['versions']['transformers']}, "
        f"{t['threads']} threads, {t['weights']} weights; medians of {a.runs} run(s) after one warm-up.",
        f"- yopo: {' '.join(cmd) if cmd else 'JSON from ' + a.yopo_json}; weights {fmt(y.get('weights'))}, "
        f"compute {fmt(y.get('compute'))}, kernels {fmt(y.get('kernels'))}, oneDNN {fmt(y.get('onednn'))}, threads {fmt(y.get('threads'), 0)}, layers {fmt(y.get('layers'), 0)}, "
        f"peak RSS {fmt(None if y.get('peak_rss_bytes') is None else y['peak_rss_bytes'] / 2**30, 2)} GiB "
        f"(PyTorch process: {t['peak_rss_bytes'] / 2**30:.2f} GiB).",
        f"- FLOPs (docs/FLOPS.md `full`, 2 per multiply-add; attention per head in 64-row causal query blocks "
        f"extended to the image end; LM head on the last row; in the last layer only that row attends and runs "
        f"o_proj and the FFN, as the engine does, while PyTorch computes every row there, so PyTorch's GFLOP/s "
        f"below count less than it executes): dense prefill {t['prefill_flops'] / 1e9:.1f} GFLOP "
        f"(yopo executed_flops for none: {fmt(None if dense.get('executed_flops') is None else dense['executed_flops'] / 1e9)} GFLOP); "
        f"CLIP 24 layers {t['clip_flops'] / 1e9:.1f} GFLOP.",
        f"- PyTorch yopo-12 = the official release's dense masked computation (Tools/reference/make_pruning_fixtures.py, "
        f"simulate mode, eager attention): window {WINDOW}, K = {A['K']}, ffn r = {FFN_RATIO}, head mask "
        f"`{m['file']}` {m['shape']}" + (f", its first {m['layers_used']} layers" if m["layers_used"] < m["shape"][0] else "")
        + ("" if m["layer_drop_fires"] else f"; K = {A['K']} >= {a.layers} layers, so the layer drop never fires") + ".",
        "- Ratio: PyTorch best (faster of bf16/fp32) / yopo for times, yopo / PyTorch best for rates; > 1 = yopo faster. "
        f"PyTorch dense prefill attention: bf16 {fmt(get(t, 'prefill', 'bf16', 'attention'))}, fp32 {fmt(get(t, 'prefill', 'fp32', 'attention'))} "
        f"(--dense-attn {a.dense_attn}). Dense and masked PyTorch decoder layers share one weight set, vocabulary 32000, tied LM head.",
        "",
        "| metric | PyTorch bf16 | PyTorch fp32 | yopo | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, b, f, yv, r, digits in build_rows(t, y):
        rs = r if isinstance(r, str) else (fmt(r, 2) + "×" if r is not None else "n/a")
        lines.append(f"| {name} | {fmt(b, digits)} | {fmt(f, digits)} | {fmt(yv, digits)} | {rs} |")
    gb, gf = get(t, "gemm", "bf16", "best"), get(t, "gemm", "fp32", "best")
    warnings = [f"yopo ran with {k} = {y[k]}, PyTorch with {v}" for k, v in (
        ("arch", a.arch), ("layers", a.layers), ("threads", a.threads), ("system_tokens", a.system_tokens),
        ("visual_tokens", a.visual_tokens), ("text_tokens", a.text_tokens)) if y.get(k) is not None and y[k] != v]
    if dense.get("executed_flops") is not None and dense["executed_flops"] != t["prefill_flops"]:
        warnings.append(f"yopo's executed_flops for none ({dense['executed_flops']}) differs from the `full` count "
                        f"used for PyTorch ({t['prefill_flops']}): GFLOP/s are not on the same count")
    lines += [f"\n**Warning:** {w}." for w in warnings]
    if gb and gf:
        lines += ["", f"Best GEMM shapes (M×K×N): bf16 {gb['M']}×{gb['K']}×{gb['N']}, fp32 {gf['M']}×{gf['K']}×{gf['N']}."]
    return "\n".join(lines) + "\n"


def main():
    a = parse_args()
    y, cmd = run_yopo(a)  # first: fails fast on a missing binary or an unsupported option
    if a.torch_json:
        with open(a.torch_json, encoding="utf-8") as f:
            t = json.load(f)["torch"]
    else:
        t = measure_torch(a)
    text = render(a, t, y, cmd)
    print(text)
    if a.markdown:
        with open(a.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    if a.json:
        rows = [{"metric": n, "torch_bf16": b, "torch_fp32": f, "yopo": yv, "ratio": r}
                for n, b, f, yv, r, _ in build_rows(t, y)]
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"args": {k: v for k, v in vars(a).items()}, "yopo_command": cmd, "torch": t, "yopo": y,
                       "rows": rows}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
