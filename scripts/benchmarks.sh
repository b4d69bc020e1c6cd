#!/bin/sh
# Runs every benchmark of BENCHMARKS.md on this machine and rewrites BENCHMARKS.md, docs/scaling.md
# and docs/scaling.svg. Needs a quiet machine (about 65 minutes on 2 cores), 24 GB of RAM (7B bf16
# with distinct layers) and PyTorch for the side-by-side rows (Tools/reference/requirements.txt).
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the machine sets them.
# RUNS (default 5) timed runs per measurement; OUT (default bench-out/) keeps the raw JSON.
set -e
cd "$(dirname "$0")/.."
swift build -c release --product yopo >&2
BIN=.build/release/yopo
RUNS=${RUNS:-5}
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
log() { echo "$(date -u +%H:%M:%S) $*" >&2; }
FASTV="fastv:k=2,r=0.93"   # executes 1.61 T prefill FLOPs at 576 visual tokens; yopo-12 executes 1.62 T

log "GEMM paths per shape"
$BIN bench-gemm --runs "$RUNS" --json > "$OUT/gemm.json"

log "7B, 32 distinct bf16 layers: vision, prefill, decode, RSS"
$BIN bench --arch llava-1.5-7b --random-weights bf16 --prune none --prune yopo-25 --prune yopo-12 \
    --runs "$RUNS" --decode-tokens 16 --json > "$OUT/bench_7b.json"

log "PyTorch side by side: 2-layer slice, bf16 and fp32"
python3 Tools/bench/side_by_side.py --arch llava-1.5-7b --layers 2 --runs "$RUNS" --yopo "$BIN" \
    --json "$OUT/side_by_side_2.json" --markdown "$OUT/side_by_side_2.md" > /dev/null

log "PyTorch side by side: all 32 layers, bf16 (engine numbers from the 7B run above)"
python3 Tools/bench/side_by_side.py --arch llava-1.5-7b --layers 32 --runs "$RUNS" --dtypes bf16 --skip clip,gemm \
    --yopo-json "$OUT/bench_7b.json" --json "$OUT/side_by_side_32.json" --markdown "$OUT/side_by_side_32.md" > /dev/null

for n in 576 1152 2304 2880; do
    log "scaling: $n visual tokens"
    $BIN bench --arch llava-1.5-7b --shared-layers --no-vision --decode-tokens 0 --visual-tokens "$n" \
        --prune none --prune "$FASTV" --runs 1 --warmup 0 --json > "$OUT/scaling_dense_$n.json"
    $BIN bench --arch llava-1.5-7b --shared-layers --no-vision --decode-tokens 0 --visual-tokens "$n" \
        --prune yopo-12 --runs "$RUNS" --warmup 1 --json > "$OUT/scaling_yopo_$n.json"
    python3 - "$OUT/scaling_dense_$n.json" "$OUT/scaling_yopo_$n.json" "$OUT/scaling_$n.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
a["results"] += b["results"]
json.dump(a, open(sys.argv[3], "w"), indent=1)
PY
done
python3 Tools/bench/scaling_chart.py "$OUT"/scaling_576.json "$OUT"/scaling_1152.json "$OUT"/scaling_2304.json \
    "$OUT"/scaling_2880.json --label none=Dense --label yopo-12=YOPO-12 --label "$FASTV=FastV (equal FLOPs)" \
    --title "LLaVA-1.5-7B prefill (32 layers, bf16, 2 threads) vs visual tokens" \
    --markdown docs/scaling.md --svg docs/scaling.svg

log "writing BENCHMARKS.md"
python3 Tools/bench/targets.py --out "$OUT" --runs "$RUNS" --fastv "$FASTV" > BENCHMARKS.md
log "bundled default at 1 and 2 threads (appended to BENCHMARKS.md)"
python3 Tools/bench/bundled_default.py --runs 9
log "Qwen2-VL-7B and Qwen2.5-VL-7B (appended to BENCHMARKS.md; about 25 minutes)"
python3 Tools/bench/qwen_bench.py --runs 1 --json-dir "$OUT"
log "yopo serve under load (appended to BENCHMARKS.md; about a minute)"
python3 Tools/bench/serve_load.py
log "yopo serve's prefix cache at LLaVA-1.5-7B dimensions (appended; about 5 minutes after a 14 GB checkpoint is written)"
python3 Tools/bench/serve_prefix_7b.py
log "done"
