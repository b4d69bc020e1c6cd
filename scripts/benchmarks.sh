#!/bin/sh
# Runs the benchmarks and writes BENCHMARKS.md with each command and its output.
# Needs a quiet machine (nothing else running): prefill of LLaVA-1.5-7B dimensions on random weights.
# OPENBLAS_CORETYPE is left as the machine sets it.
set -e
cd "$(dirname "$0")/.."
swift build -c release --product yopo >&2
BIN=.build/release/yopo
RUNS=${RUNS:-3}
OUT=BENCHMARKS.md
run() {
    echo "\$ $*" >&2
    printf '```\n$ %s\n' "$*"
    "$@" 2>/dev/null
    printf '```\n\n'
}
{
    echo "# Benchmarks"
    echo
    echo "Written by \`scripts/benchmarks.sh\` on $(date -u +%Y-%m-%d): $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"
    echo "$(nproc) cores, OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?') (fp32 SGEMM),"
    echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}. Random weights with the real dimensions (every decoder layer shares one"
    echo "weight set, which times like distinct weights). Medians of $RUNS runs after one warm-up."
    echo
    echo "## Issue 3: YOPO prefill in skip mode vs dense (LLaVA-1.5-7B dimensions, 32 layers)"
    echo
    echo "Prompt: 35 system + 576 visual (24×24) + 30 text tokens. \"Predicted\" is the dense executed FLOPs"
    echo "divided by the plan's (docs/FLOPS.md, \`full\` rules, LLM prefill only); the target is measured ≥ 80% of predicted."
    echo
    run $BIN bench --arch llava-1.5-7b --prune none --prune yopo-25 --prune yopo-12 --runs "$RUNS"
} > "$OUT"
echo "wrote $OUT" >&2
