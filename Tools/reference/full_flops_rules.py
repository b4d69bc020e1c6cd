"""An independent evaluator of docs/FLOPS.md's `full` rules (and the `yopo` convention of the
scaling table), written from the rules text only, not from Sources/YOPOPruning/FLOPs.swift.

It walks the prompt row by row and every decoder layer head by head, and returns exact integers keyed
like the engine's `FLOPCounter`: (stage, layer or None, token group, component). The expected literals of
Tests/YOPOPruningTests/FullFLOPsTests.swift and Tests/yopoTests/FLOPsCommandTests.swift come from here,
and so does a check of the scaling tables in docs/FLOPS.md.

    python3 Tools/reference/full_flops_rules.py                 # every literal the tests use
    python3 Tools/reference/full_flops_rules.py --scaling 7b    # the Markdown table (7b or 13b)
    python3 Tools/reference/full_flops_rules.py --compare OUT.json ARGS…   # compare `yopo flops --json`
        # (full convention) with the evaluator for the same arguments (see compare_json below)

Needs Python 3.8+ and numpy (only to read the official head masks, shared/yopo-official/headmask/*.npy;
YOPO_SHARED overrides the location of shared/).

The rules, as implemented (FLOPs = 2 × multiply-adds; an [m, k] × [k, n] product costs 2·m·k·n):
- vision tower per image, grid of `cells` patches, N = cells + 1 (CLS): patch embedding 2·cells·3p²·dv;
  per computed layer 2·N·dv²·4 (projections) + 2·N²·dv·2 (attention) + 2·N·dv·Iv·2 (FFN);
- projector 2·n·dv·d + 2·n·d² for the n visual tokens of the image (cells, + 1 when CLS is kept);
- decoder row: q 2·d·H·hd, k and v 2·d·Hkv·hd each, o 2·H·hd·d; FFN 2·d·I·3;
- dense attention, per head, blocks of 64 new rows: a block [r0, r0 + b) after P cached positions
  computes keys [0, E), E = P + r0 + b, raised to the end of every image span the block intersects;
  each of its rows costs 2·E·hd·2;
- last decoder layer of a prefill: every row computes k and v; only the last row (the one whose logits
  are wanted) computes q, attends to every key (2·T·hd·2 per head for T prompt rows), and runs o and
  the FFN;
- LM head 2·d·V for the last prefill row and every decode row;
- skip mode (one image at most, n visual rows, s = text rows before it), layer l:
  text rows as dense for projections and FFN; visual rows in l < K: q and o over the h_l kept heads,
  k and v over the g_l key/value heads serving a kept head (query head h uses kv head h // (H / Hkv)),
  FFN over F channels; nothing in l ≥ K; in the last layer they take part in (l = K − 1, or L − 1),
  only k and v over the g_l heads, and no visual query;
  last layer L − 1: text rows compute k and v, and only the last text row computes q, o and the FFN and
  attends (all text keys, + n when it comes after the image and the head is kept in l < K);
  visual queries of a kept head in l < K: window: 2·(s + k_i)·hd·2 with k_i the in-window cells
  (Chebyshev radius (w − 1) // 2, clipped); no window: blocks of 64 image rows, a row of the block
  [r0, r0 + b) costs 2·(s + r0 + b)·hd·2; pruned heads nothing;
  text queries, per head: text rows in blocks of 64 (in order, skipping the image), each row of a block
  costs 2·keys·hd·2, keys = text positions up to the block's last row (cached and new) + n when the
  block's last row comes after the image and the head is kept in a layer l < K;
- decode step j: one text row after prompt + j cached positions (dense keys prompt + j + 1; skip: the
  text keys prompt − n + j + 1 plus n for kept heads in l < K);
- groups: `system` rows before the first image, `visual` image rows, `text` the rest (and decode).
"""
import os
import sys
from collections import defaultdict

B = 64  # query block rows

# ---------------------------------------------------------------------------------------------- shapes


def dims(name, d, L, H, Hkv, hd, I, V, dv=1024, Iv=4096, Lv=23, p=14, image=336, drops_cls=True):
    return dict(name=name, d=d, L=L, H=H, Hkv=Hkv, hd=hd, I=I, V=V, dv=dv, Iv=Iv, Lv=Lv, p=p, image=image,
                drops_cls=drops_cls)


LLAVA_7B = dims("llava-1.5-7b", 4096, 32, 32, 32, 128, 11008, 32000)
LLAVA_13B = dims("llava-1.5-13b", 5120, 40, 40, 40, 128, 13824, 32000)
# The tiny fixture (FullFLOPsTests.tiny = Tests/Fixtures/models/llava-hf-tiny/config.json).
TINY = dims("tiny", 24, 3, 4, 2, 6, 64, 32064, dv=32, Iv=64, Lv=2, p=14, image=336)


def layout(segments, grid, decode=0):
    """segments: list of ('text', t) / ('image',); grid: (rows, columns)."""
    return dict(segments=segments, grid=grid, decode=decode)


def llava_layout(system, grid, text, decode=0):
    return layout([("text", system), ("image",), ("text", text)], grid, decode)


def plan(D, K=None, window=None, mask=None, ffn=None):
    """A YOPO plan: K kept layers (default all), window side, mask [L][H] of bools (None = every head),
    FFN factor r (F = int(I / r))."""
    return dict(K=D["L"] if K is None else K, window=window,
                mask=mask if mask is not None else [[True] * D["H"] for _ in range(D["L"])],
                F=int(D["I"] / ffn) if ffn is not None else D["I"])


def official_mask(stem):
    import numpy as np
    shared = os.environ.get("YOPO_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
    m = np.load(os.path.join(shared, "yopo-official", "headmask", stem + ".npy"))
    return [[bool(x) for x in row] for row in m]


def preset(D, name):
    mask, half, quarter = {32: ("headmask_7b_16", 16, 8), 40: ("headmask_13b_20", 20, 10)}[D["L"]]
    return plan(D, K={"yopo-25": half, "yopo-12": quarter}[name], window=5, mask=official_mask(mask), ffn=2)


# ----------------------------------------------------------------------------------------- evaluator


class Counts:
    def __init__(self):
        self.cells = defaultdict(int)  # (stage, layer, group, component) -> FLOPs

    def add(self, stage, layer, group, component, flops):
        if flops:
            self.cells[(stage, layer, group, component)] += flops

    def key(self, stage, layer, group):
        """The FLOPCounter key total (all components)."""
        return sum(v for (s, l, g, _), v in self.cells.items() if (s, l, g) == (stage, layer, group))

    def keys(self):
        out = defaultdict(int)
        for (s, l, g, _), v in self.cells.items():
            out[(s, l, g)] += v
        return dict(out)

    def total(self, stage=None, group=None, component=None, layer="any"):
        return sum(v for (s, l, g, c), v in self.cells.items()
                   if (stage is None or s == stage) and (group is None or g == group)
                   and (component is None or c == component) and (layer == "any" or l == layer))


def rows_of(D, lay):
    """[(kind, group)] per prompt row, and the image spans [(start, end)]."""
    cls = 0 if D["drops_cls"] else 1
    n_img = lay["grid"][0] * lay["grid"][1] + cls
    rows, spans, seen_image = [], [], False
    for seg in lay["segments"]:
        if seg[0] == "text":
            rows += [("text", "text" if seen_image else "system")] * seg[1]
        else:
            spans.append((len(rows), len(rows) + n_img))
            rows += [("visual", "visual")] * n_img
            seen_image = True
    if not seen_image:
        rows = [("text", "text") for _ in rows]
    return rows, spans, n_img


def full(D, lay, pl=None, mode="dense"):
    """Returns (Counts of the whole run, [Counts of each decode step])."""
    d, H, Hkv, hd, I, V = D["d"], D["H"], D["Hkv"], D["hd"], D["I"], D["V"]
    L = D["L"]
    rows, spans, n = rows_of(D, lay)
    T = len(rows)
    c = Counts()
    grid_rows, grid_cols = lay["grid"]
    cells = grid_rows * grid_cols

    # Vision tower and projector, per image.
    for _ in spans:
        N = cells + 1
        c.add("vision", None, "visual", "patch_embedding", 2 * cells * (3 * D["p"] ** 2) * D["dv"])
        for _layer in range(D["Lv"]):
            c.add("vision", None, "visual", "projections", 2 * N * D["dv"] * D["dv"] * 4)
            c.add("vision", None, "visual", "attention", 2 * N * N * D["dv"] * 2)
            c.add("vision", None, "visual", "ffn", 2 * N * D["dv"] * D["Iv"] * 2)
        c.add("projector", None, "visual", "projector", 2 * n * D["dv"] * d + 2 * n * d * d)

    def proj_row(q_heads, kv_heads):
        return 2 * d * hd * q_heads + 2 * d * hd * kv_heads * 2 + 2 * hd * q_heads * d

    skip = pl is not None and mode == "skip" and spans
    if skip and len(spans) > 1:
        raise ValueError("skip mode covers one image")

    # Prefill, layer by layer.
    window_keys = None
    for l in range(L):
        last_layer = l == L - 1
        if not skip:
            for r, (kind, group) in enumerate(rows):
                if last_layer and r != T - 1:
                    # Nothing reads this row's output: its k and v only.
                    c.add("prefill", l, group, "projections", proj_row(0, Hkv))
                    continue
                c.add("prefill", l, group, "projections", proj_row(H, Hkv))
                c.add("prefill", l, group, "ffn", 2 * d * I * 3)
            for h in range(H):
                if last_layer:
                    # Only the logits row (the last) attends, to every key.
                    c.add("prefill", l, rows[T - 1][1], "attention", 2 * T * hd * 2)
                    continue
                for r0 in range(0, T, B):
                    b = min(B, T - r0)
                    E = r0 + b
                    for (a, e) in spans:
                        if r0 < e and r0 + b > a:
                            E = max(E, e)
                    for r in range(r0, r0 + b):
                        c.add("prefill", l, rows[r][1], "attention", 2 * E * hd * 2)
            continue
        (img0, img1), = spans
        s = img0  # text positions before the image (single image)
        alive = l < pl["K"]
        kept = [h for h in range(H) if alive and pl["mask"][l][h]]
        g = len({h // (H // Hkv) for h in kept})
        text_rows = [r for r in range(T) if rows[r][0] == "text"]
        if pl["window"] is not None and window_keys is None:
            # k_i: the cells within Chebyshev radius rho of query i, enumerated (clipped at the border).
            rho = (pl["window"] - 1) // 2
            window_keys = []
            for i in range(n):
                ri, ci = divmod(i, grid_cols)
                window_keys.append(sum(1 for rj in range(ri - rho, ri + rho + 1) for cj in range(ci - rho, ci + rho + 1)
                                       if 0 <= rj < grid_rows and 0 <= cj < grid_cols))
        # Visual rows' last layer (the next one drops them): only their k and v are read later.
        visual_ends = not (l + 1 < pl["K"] and l + 1 < L)
        last_text = text_rows[-1] if text_rows else None
        for r in range(T):
            kind, group = rows[r]
            if kind == "text":
                if last_layer and r != last_text:
                    c.add("prefill", l, group, "projections", proj_row(0, Hkv))
                    continue
                c.add("prefill", l, group, "projections", proj_row(H, Hkv))
                c.add("prefill", l, group, "ffn", 2 * d * I * 3)
            elif alive and visual_ends:
                c.add("prefill", l, group, "projections", proj_row(0, g))
            elif alive:
                c.add("prefill", l, group, "projections", proj_row(len(kept), g))
                c.add("prefill", l, group, "ffn", 2 * d * pl["F"] * 3)
        for h in range(H):
            head_kept = h in kept
            if last_layer:
                # Only the last text row (the logits row) attends: every text key, plus the image if kept.
                if last_text is not None:
                    keys = len(text_rows) + (n if last_text >= img1 and head_kept else 0)
                    c.add("prefill", l, rows[last_text][1], "attention", 2 * keys * hd * 2)
                continue
            # Visual queries.
            if head_kept and not visual_ends:
                if pl["window"] is not None:
                    for i in range(n):
                        c.add("prefill", l, "visual", "attention", 2 * (s + window_keys[i]) * hd * 2)
                else:
                    for r0 in range(0, n, B):
                        b = min(B, n - r0)
                        for _i in range(r0, r0 + b):
                            c.add("prefill", l, "visual", "attention", 2 * (s + r0 + b) * hd * 2)
            # Text queries.
            for k0 in range(0, len(text_rows), B):
                block = text_rows[k0:k0 + B]
                last = block[-1]
                keys = sum(1 for r in text_rows if r <= last)
                if last >= img1 and head_kept:
                    keys += n
                for r in block:
                    c.add("prefill", l, rows[r][1], "attention", 2 * keys * hd * 2)

    c.add("prefill", None, rows[-1][1], "lm_head", 2 * d * V)

    # Decode steps.
    steps = []
    for j in range(lay["decode"]):
        st = Counts()
        P = T + j
        for l in range(L):
            st.add("decode", l, "text", "projections", proj_row(H, Hkv))
            st.add("decode", l, "text", "ffn", 2 * d * I * 3)
            alive = skip and l < pl["K"]
            for h in range(H):
                if skip:
                    keys = (P - n) + 1 + (n if alive and pl["mask"][l][h] else 0)
                else:
                    keys = P + 1
                st.add("decode", l, "text", "attention", 2 * keys * hd * 2)
        st.add("decode", None, "text", "lm_head", 2 * d * V)
        steps.append(st)
        for k, v in st.cells.items():
            c.cells[k] += v
    return c, steps


# ------------------------------------------------------------------------------- the yopo convention


def yopo_convention(D, lay, pl=None):
    """METHOD.md §5: Σ_l (h_l/H)·(8·n·d² + 4·n·k·d) + 6·n·d·F over kept layers (dense: every layer,
    all heads, k = n, F = I). Real-valued, as the tool computes it."""
    d, H, L = D["d"], D["H"], D["L"]
    R, C = lay["grid"]
    n = R * C
    if pl is None:
        return L * (8 * n * d * d + 4 * n * n * d + 6 * n * d * D["I"])
    if pl["window"] is None:
        pairs = n * n
    else:
        rho = (pl["window"] - 1) // 2
        reach = lambda side: sum(min(side - 1, i + rho) - max(0, i - rho) + 1 for i in range(side))
        pairs = reach(R) * reach(C)
    k = pairs / n
    total = 0.0
    for l in range(pl["K"]):
        h = sum(pl["mask"][l])
        total += (h / H) * (8 * n * d * d + 4 * n * k * d) + 6 * n * d * pl["F"]
    return total


def scaling_table(D, system=35, text=83):
    g = D["image"] // D["p"]
    grids = [(g, g), (g, 2 * g), (2 * g, 2 * g), (2 * g, 4 * g), (4 * g, 4 * g)]
    presets = [preset(D, "yopo-25"), preset(D, "yopo-12")]
    t = lambda x: "%.2f T" % (x / 1e12)
    pct = lambda x, dense: "%s (%.1f%%)" % (t(x), 100 * x / dense)
    lines = [
        "| visual tokens | grid | yopo: dense | yopo: yopo-25 | yopo: yopo-12 | full: dense | full: yopo-25 | full: yopo-12 | full prefill stage: dense | yopo-25 | yopo-12 |",
        "|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for grid in grids:
        lay = llava_layout(system, grid, text)
        dense = yopo_convention(D, lay)
        fd, _ = full(D, lay)
        fulls = [full(D, lay, p, "skip")[0] for p in presets]
        cells = [str(grid[0] * grid[1]), "%dx%d" % grid, t(dense)]
        cells += [pct(yopo_convention(D, lay, p), dense) for p in presets]
        cells.append(t(fd.total()))
        cells += [pct(f.total(), fd.total()) for f in fulls]
        pd = fd.total(stage="prefill")
        cells.append(t(pd))
        cells += [pct(f.total(stage="prefill"), pd) for f in fulls]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ the literals of the tests

TINY_MASK = [[True, True, True, True], [True, False, True, False], [False, False, False, True]]


def fmt_keys(counts):
    def order(k):
        stages = ["vision", "projector", "prefill", "decode"]
        groups = ["system", "visual", "text"]
        return (stages.index(k[0]), -1 if k[1] is None else k[1], groups.index(k[2]))
    return "\n".join("    %-9s %-4s %-6s %d" % (k[0], "nil" if k[1] is None else k[1], k[2], v)
                     for k, v in sorted(counts.keys().items(), key=lambda kv: order(kv[0])))


def test_literals():
    D = TINY
    out = []
    p = lambda *a: out.append(" ".join(str(x) for x in a))

    p("== FullFLOPsTests.testDenseSmallPrompt (3 + 4x4 + 5, 2 decode steps)")
    lay = llava_layout(3, (4, 4), 5, decode=2)
    r, steps = full(D, lay)
    p(fmt_keys(r))
    p("  total", r.total(), " prefill stage+vision+projector", r.total() - r.total(stage="decode"))
    p("  decode steps", [s.total() for s in steps])
    p("  prefill attention", r.total(stage="prefill", component="attention"),
      " projections", r.total(stage="prefill", component="projections"),
      " ffn", r.total(stage="prefill", component="ffn"), " lm_head", r.total(component="lm_head"))
    p("  prefill attention per layer and group",
      {g: r.total(stage="prefill", layer=0, group=g, component="attention") for g in ["system", "visual", "text"]})
    p("  simulate = dense (by rule)")

    p("== FullFLOPsTests.testSkipSmallPrompt (mask, K 2, w 3, r 3)")
    r, steps = full(D, lay, plan(D, K=2, window=3, mask=TINY_MASK, ffn=3), "skip")
    p(fmt_keys(r))
    p("  total", r.total())
    for comp in ["projections", "ffn", "attention"]:
        p("  visual", comp, [r.total(stage="prefill", layer=l, group="visual", component=comp) for l in range(3)])
    p("  decode steps", [s.total() for s in steps])

    p("== FullFLOPsTests.testQueryBlocksWithoutImage (130 text, 1 decode)")
    lay = layout([("text", 130)], (24, 24), decode=1)
    r, _ = full(D, lay)
    p("  attention per layer", [r.total(stage="prefill", layer=l, component="attention") for l in range(3)])
    p("  prefill 0 text", r.key("prefill", 0, "text"), " decode 0 text", r.key("decode", 0, "text"))
    r2, _ = full(D, lay, plan(D, K=1, window=3, mask=TINY_MASK), "skip")
    p("  skip == dense", r2.cells == r.cells)

    p("== FullFLOPsTests.testSkipBlocksSpanSystemAndText (70 + 2x2 + 60, K 1, all heads, no window)")
    lay = llava_layout(70, (2, 2), 60)
    r, _ = full(D, lay, plan(D, K=1), "skip")
    p("  system attention per layer",
      [r.total(stage="prefill", layer=l, group="system", component="attention") for l in range(3)],
      "sum", r.total(stage="prefill", group="system", component="attention"))
    p("  text attention per layer", [r.total(stage="prefill", layer=l, group="text", component="attention") for l in range(3)])
    p("  visual layer 0", r.key("prefill", 0, "visual"),
      {c_: r.total(stage="prefill", layer=0, group="visual", component=c_) for c_ in ["projections", "ffn", "attention"]},
      " layer 1", r.key("prefill", 1, "visual"))
    p("  whole:\n" + fmt_keys(r))

    p("== FullFLOPsTests.testDenseTwoImages (1 + 2x2 + 2 + 2x2 + 3)")
    lay = layout([("text", 1), ("image",), ("text", 2), ("image",), ("text", 3)], (2, 2))
    r, _ = full(D, lay)
    p(fmt_keys(r))

    p("== FullFLOPsTests.testFixturePromptDenseAndSkip (5 + 24x24 + 70, 3 decode) / FLOPsCommandTests")
    lay = llava_layout(5, (24, 24), 70, decode=3)
    r, steps = full(D, lay)
    p("  dense total", r.total())
    p(fmt_keys(r))
    p("  dense decode steps", [s.total() for s in steps])
    r, steps = full(D, lay, plan(D, K=2, window=5, mask=TINY_MASK, ffn=2), "skip")
    p("  skip (mask, K 2, w 5, r 2) total", r.total())
    p(fmt_keys(r))
    p("  decode 0 per step", [s.key("decode", 0, "text") for s in steps], " step totals", [s.total() for s in steps])
    r, steps = full(D, lay, plan(D, K=2, window=5, ffn=2), "skip")
    p("  skip (all heads, K 2, w 5, r 2; FLOPsCommandTests) total", r.total())
    p(fmt_keys(r))

    p("== testFixtureDefaultPromptTotal / FLOPsCommandTests.testFullFromCheckpoint (35 + 24x24 + 83)")
    r, _ = full(D, llava_layout(35, (24, 24), 83))
    p("  total", r.total(), " vision", r.total(stage="vision"), " projector", r.total(stage="projector"))

    p("== FullFLOPsTests.testCLSKeptAndErrors (CLS kept, 3 + 4x4 + 5)")
    Dc = dict(D, drops_cls=False)
    r, _ = full(Dc, llava_layout(3, (4, 4), 5))
    p(fmt_keys(r))

    p("== FullFLOPsTests.testSevenBillionPresetAgainstYOPOConvention (7B, 35 + 24x24 + 83, yopo-25)")
    D7 = LLAVA_7B
    lay = llava_layout(35, (24, 24), 83)
    pl = preset(D7, "yopo-25")
    r, _ = full(D7, lay, pl, "skip")
    kept = sum(sum(pl["mask"][l]) for l in range(pl["K"]))
    p("  kept heads", kept)
    vis = {c_: r.total(stage="prefill", group="visual", component=c_) for c_ in ["projections", "ffn", "attention"]}
    p("  visual", vis)
    n, d = 576, 4096
    conv_pf = sum(sum(pl["mask"][l]) / 32 * 8 * n * d * d + 6 * n * d * pl["F"] for l in range(pl["K"]))
    conv_at = sum(sum(pl["mask"][l]) / 32 * 4 * n * (12996 / 576) * d for l in range(pl["K"]))
    p("  convention proj+ffn", conv_pf, " attention + kept·4·128·576·35", conv_at + kept * 4 * 128 * 576 * 35)
    return "\n".join(out)


# ---------------------------------------------------------------------- comparison with `yopo flops`


def compare_json(path, D, lay, pl=None, mode="dense"):
    """Compares the cells of a `yopo flops --convention full --json` report with the evaluator."""
    import json
    rep = json.load(open(path))
    got = defaultdict(int)
    for cell in rep["cells"]:
        got[(cell["stage"], cell["layer"], cell["group"], cell["component"])] += cell["flops"]
    mine, _ = full(D, lay, pl, mode)
    keys = sorted(set(got) | set(mine.cells), key=str)
    bad = [(k, mine.cells.get(k, 0), got.get(k, 0)) for k in keys if mine.cells.get(k, 0) != got.get(k, 0)]
    for k, a, b in bad:
        print("  differs", k, "evaluator", a, "tool", b)
    print("%s: %d cells, %d differ; totals evaluator %d, tool %d" % (path, len(keys), len(bad), mine.total(), rep["total"]))
    return not bad


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--scaling":
        sys.stdout.write(scaling_table({"7b": LLAVA_7B, "13b": LLAVA_13B}[sys.argv[2]]))
    else:
        print(test_literals())
