#!/usr/bin/env python3
"""Two `yopo` binaries side by side on the same command, alternating, one machine, one run.

Issue 12's speed check: the commit before the engine rework (4c61590) against the new one, each
running `yopo bench --arch llava-1.5-7b --layers 4 --prune none --prune yopo-12 --runs 5 --json`
(random bf16 weights of the real dimensions, distinct per layer). Binaries run in turn OLD NEW OLD
NEW …, so a load change on a shared machine hits both. Per spec: the median over rounds of each
run's median prefill and decode time, and new/old (≤ 1.03 is the issue's bar). With --markdown FILE
the table is written between `<!-- engine-side-by-side:begin -->` and `:end -->` of FILE.

    python3 Tools/bench/engine_side_by_side.py --old /tmp/yopo-old --new .build/release/yopo --rounds 2 \\
        --markdown BENCHMARKS.md
    python3 Tools/bench/engine_side_by_side.py --from-json 'old=Tools/bench/results/issue12-old-*.json' \\
        'new=Tools/bench/results/issue12-new-*.json' --markdown BENCHMARKS.md   # the recorded run
"""
import argparse, glob, json, os, platform, statistics, subprocess, sys

COMMAND = ["bench", "--arch", "llava-1.5-7b", "--layers", "4", "--prune", "none", "--prune", "yopo-12", "--runs", "5", "--json"]


def run(binary):
    out = subprocess.run([binary] + COMMAND, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def summarise(reports):
    """spec -> (prefill ms, decode ms/token, best prefill run ms, best decode ms/token): medians over the
    reports (each already a median of --runs), and the best over every timed run (the least disturbed)."""
    specs = {}
    for r in reports:
        for x in r["results"]:
            specs.setdefault(x["spec"], []).append(x)
    return {
        s: (statistics.median(x["prefill_ms"] for x in v), statistics.median(x["decode_ms_per_token"] for x in v),
            min(min(x["runs_ms"]) for x in v), min(x["decode_ms_per_token"] for x in v))
        for s, v in specs.items()
    }


def table(old, new, rounds, machine):
    lines = [
        f"Command (each binary, {rounds} alternating rounds): `yopo {' '.join(COMMAND)}`; written by",
        "`python3 Tools/bench/engine_side_by_side.py` (old = 4c61590, the commit before issue 12; new = this tree).",
        f"Machine: {machine}. median: over rounds of each run's median; best: the fastest timed run (prefill) or",
        "run median (decode) of all rounds, the one the machine's other load disturbed least.",
        "",
        "| spec | | prefill old ms | prefill new ms | new/old | decode old ms/token | decode new ms/token | new/old |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec in old:
        (po, do, bpo, bdo), (pn, dn, bpn, bdn) = old[spec], new[spec]
        lines.append(f"| {spec} | median | {po:.0f} | {pn:.0f} | {pn / po:.3f} | {do:.1f} | {dn:.1f} | {dn / do:.3f} |")
        lines.append(f"| {spec} | best | {bpo:.0f} | {bpn:.0f} | {bpn / bpo:.3f} | {bdo:.1f} | {bdn:.1f} | {bdn / bdo:.3f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old"), ap.add_argument("--new")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--from-json", nargs=2, metavar="NAME=GLOB", help="read reports instead of running")
    ap.add_argument("--markdown", help="file whose engine-side-by-side section is replaced")
    ap.add_argument("--machine", default=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    a = ap.parse_args()
    reports = {"old": [], "new": []}
    if a.from_json:
        for item in a.from_json:
            name, pattern = item.split("=", 1)
            reports[name] = [json.load(open(p)) for p in sorted(glob.glob(pattern))]
    else:
        for _ in range(a.rounds):
            for name, binary in (("old", a.old), ("new", a.new)):
                reports[name].append(run(binary))
    rounds = len(reports["old"])
    text = table(summarise(reports["old"]), summarise(reports["new"]), rounds, a.machine)
    spread = []
    for name in ("old", "new"):
        for spec in summarise(reports[name]):
            runs = [v for r in reports[name] for x in r["results"] if x["spec"] == spec for v in x["runs_ms"]]
            spread.append(f"{name} {spec} {min(runs):.0f}–{max(runs):.0f} ms")
    text += "\n\nEvery timed prefill run (the spread is the machine's load, not the engines): " + "; ".join(spread) + "."
    print(text)
    if a.markdown:
        begin, end = "<!-- engine-side-by-side:begin -->", "<!-- engine-side-by-side:end -->"
        doc = open(a.markdown).read()
        section = f"{begin}\n\n## The engine rework against the commit before it (issue 12)\n\n{text}\n\n{end}"
        if begin in doc:
            doc = doc[: doc.index(begin)] + section + doc[doc.index(end) + len(end):]
        else:
            doc = doc.rstrip() + "\n\n" + section + "\n"
        open(a.markdown, "w").write(doc)


if __name__ == "__main__":
    sys.exit(main())
