#!/usr/bin/env python3
"""Prefill time vs visual-token count, from several `yopo bench --json` outputs: a Markdown table and
an SVG line chart (written by hand: standard library only, no matplotlib).

Each input file is one `yopo bench --json` object for one --visual-tokens value, with results for
several --prune specs (e.g. `none`, `yopo-12`, `fastv:k=2,r=0.9`); spec strings are treated as opaque
names, `--label SPEC=LABEL` renames them. Inputs may come in any order; rows are sorted by visual
tokens, and time(N)/time(N0) is relative to the smallest count given (normally 576).

    for n in 576 1152 2304 2880; do
        .build/release/yopo bench --arch llava-1.5-7b --visual-tokens $n --runs 3 \\
            --prune none --prune yopo-12 --prune fastv:k=2,r=0.9 --json > bench_$n.json
    done
    python3 Tools/bench/scaling_chart.py bench_576.json bench_1152.json bench_2304.json bench_2880.json \\
        --label none=Dense --label yopo-12=YOPO-12 --label "fastv:k=2,r=0.9=FastV (equal FLOPs)" \\
        --markdown scaling.md --svg scaling.svg

A label argument splits at its last `=` (spec strings contain `=` themselves).
"""
import argparse
import json
import math
import sys
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
MARKERS = ["circle", "square", "triangle", "diamond"]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("inputs", nargs="+", metavar="BENCH.json", help="`yopo bench --json` outputs")
    ap.add_argument("--label", action="append", default=[], metavar="SPEC=LABEL", help="display name of a spec")
    ap.add_argument("--markdown", metavar="OUT.md")
    ap.add_argument("--svg", metavar="OUT.svg")
    ap.add_argument("--title", help="chart title (default: from the inputs' arch and layers)")
    a = ap.parse_args()
    a.labels = {}
    for item in a.label:
        spec, sep, label = item.rpartition("=")
        if not sep or not spec or not label:
            ap.error(f"--label {item!r}: expected SPEC=LABEL")
        a.labels[spec] = label
    return a


def load(paths):
    """{visual_tokens: {spec: prefill_ms}}, spec order of first appearance, and the runs' metadata."""
    table, specs, meta, grids = {}, [], [], {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            sys.exit(f"error: {path}: {e}")
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            sys.exit(f"error: {path}: expected a `yopo bench --json` object with a results list")
        n = data.get("visual_tokens")
        if not isinstance(n, int):
            sys.exit(f"error: {path}: no integer visual_tokens")
        if n in table:
            sys.exit(f"error: {path}: visual_tokens {n} given twice")
        table[n] = {}
        grid = data.get("grid")
        if isinstance(grid, list) and len(grid) == 2:
            grids[n] = f"{grid[0]}×{grid[1]}"
        for r in data["results"]:
            spec, ms = r.get("spec"), r.get("prefill_ms")
            if spec is None or not isinstance(ms, (int, float)):
                continue
            table[n][spec] = float(ms)
            if spec not in specs:
                specs.append(spec)
        meta.append({k: data.get(k) for k in ("arch", "layers", "threads", "weights", "compute",
                                              "system_tokens", "text_tokens")})
    return table, specs, meta, grids


def describe(meta):
    """One line of the settings the inputs share (a field that differs is listed as 'mixed')."""
    parts = []
    for key, fmt in (("arch", "{}"), ("layers", "{} layers"), ("threads", "{} threads"), ("weights", "{} weights"),
                     ("compute", "{} compute"), ("system_tokens", "{} system tokens"), ("text_tokens", "{} text tokens")):
        values = {m[key] for m in meta}
        if values == {None}:
            continue
        parts.append(fmt.format(values.pop()) if len(values) == 1 else f"{key} mixed")
    return ", ".join(parts)


def markdown(table, specs, labels, meta, grids):
    counts = sorted(table)
    base = counts[0]
    name = lambda s: labels.get(s, s)  # noqa: E731
    head = ["visual tokens"] + (["grid"] if grids else []) + [f"{name(s)}: prefill ms" for s in specs] + [f"{name(s)}: ×{base}" for s in specs]
    settings = describe(meta)
    lines = [f"Prefill time vs visual tokens{f' ({settings})' if settings else ''}; ×{base} = time(N) / time({base}) per spec.", "",
             "| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for n in counts:
        cells = [str(n)] + ([grids.get(n, "n/a")] if grids else [])
        cells += [f"{table[n][s]:,.0f}" if s in table[n] else "n/a" for s in specs]
        for s in specs:
            b = table[base].get(s)
            cells.append(f"{table[n][s] / b:.2f}" if s in table[n] and b else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def nice_step(span, target=6):
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def fmt_tick(v):
    return f"{v:g}" if abs(v - round(v)) > 1e-9 else f"{int(round(v))}"


def marker(kind, x, y, color):
    r = 4.5
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}"/>'
    if kind == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" fill="{color}"/>'
    if kind == "triangle":
        pts = [(x, y - r * 1.2), (x - r * 1.1, y + r * 0.8), (x + r * 1.1, y + r * 0.8)]
    else:
        pts = [(x, y - r * 1.3), (x + r * 1.1, y), (x, y + r * 1.3), (x - r * 1.1, y)]
    return f'<polygon points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in pts)}" fill="{color}"/>'


def svg(table, specs, labels, title, subtitle):
    W, H = 760, 480
    left, right, top, bottom = 80, 30, 70, 60
    pw, ph = W - left - right, H - top - bottom
    counts = sorted(table)
    ymax_data = max(ms / 1000 for row in table.values() for ms in row.values())
    ystep = nice_step(ymax_data)
    ymax = ystep * math.ceil(ymax_data / ystep * 1.0001)
    xmax = counts[-1] * 1.05
    sx = lambda v: left + pw * v / xmax  # noqa: E731
    sy = lambda v: top + ph * (1 - v / ymax)  # noqa: E731
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         f'font-family="Helvetica, Arial, sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="26" text-anchor="middle" font-size="16" font-weight="bold">{escape(title)}</text>']
    if subtitle:
        o.append(f'<text x="{W / 2}" y="46" text-anchor="middle" fill="#555">{escape(subtitle)}</text>')
    # grid and y ticks
    k = 0
    while k * ystep <= ymax + 1e-9:
        v = k * ystep
        o.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#e5e5e5"/>')
        o.append(f'<text x="{left - 8}" y="{sy(v) + 4:.1f}" text-anchor="end">{fmt_tick(v)}</text>')
        k += 1
    # x ticks at the measured counts
    for n in [0] + counts:
        o.append(f'<line x1="{sx(n):.1f}" x2="{sx(n):.1f}" y1="{top + ph}" y2="{top + ph + 5}" stroke="#333"/>')
        o.append(f'<text x="{sx(n):.1f}" y="{top + ph + 20}" text-anchor="middle">{n}</text>')
    o.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#333"/>')
    o.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#333"/>')
    o.append(f'<text x="{left + pw / 2}" y="{H - 15}" text-anchor="middle" font-size="13">visual tokens</text>')
    o.append(f'<text transform="translate(22 {top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13">'
             'prefill time (s)</text>')
    # series
    for i, spec in enumerate(specs):
        color, kind = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
        pts = [(sx(n), sy(table[n][spec] / 1000)) for n in counts if spec in table[n]]
        if len(pts) > 1:
            o.append(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}" fill="none" '
                     f'stroke="{color}" stroke-width="2"/>')
        o += [marker(kind, x, y, color) for x, y in pts]
    # legend (top left of the plot area, where the curves are lowest)
    lw = 24 + 7 * max(len(labels.get(s, s)) for s in specs)
    o.append(f'<rect x="{left + 12}" y="{top + 8}" width="{lw + 16}" height="{22 * len(specs) + 8}" '
             'fill="white" stroke="#ccc"/>')
    for i, spec in enumerate(specs):
        color, kind = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
        y = top + 26 + 22 * i
        o.append(f'<line x1="{left + 20}" x2="{left + 44}" y1="{y - 4}" y2="{y - 4}" stroke="{color}" stroke-width="2"/>')
        o.append(marker(kind, left + 32, y - 4, color))
        o.append(f'<text x="{left + 52}" y="{y}">{escape(labels.get(spec, spec))}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main():
    a = parse_args()
    table, specs, meta, grids = load(a.inputs)
    if not specs:
        sys.exit("error: no result with a spec and prefill_ms in the inputs")
    unknown = sorted(set(a.labels) - set(specs))
    if unknown:
        print(f"warning: --label for specs not in the inputs: {', '.join(unknown)}", file=sys.stderr)
    md = markdown(table, specs, a.labels, meta, grids)
    print(md, end="")
    if a.markdown:
        with open(a.markdown, "w", encoding="utf-8") as f:
            f.write(md)
    if a.svg:
        arch = {m["arch"] for m in meta if m["arch"]}
        title = a.title or ("Prefill time vs visual tokens" + (f": {arch.pop()}" if len(arch) == 1 else ""))
        with open(a.svg, "w", encoding="utf-8") as f:
            f.write(svg(table, specs, a.labels, title, describe(meta)))


if __name__ == "__main__":
    main()
