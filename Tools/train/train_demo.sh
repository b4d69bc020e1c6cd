#!/bin/sh
# Trains the demo models of issue 14 from nothing, on the CPU, and writes their goldens
# (README.md, "Commands"; ~35 min on 2 cores):
#   python3 -m venv /tmp/tv && /tmp/tv/bin/pip install -r Tools/reference/requirements.txt
#   PYTHON=/tmp/tv/bin/python sh Tools/train/train_demo.sh
# The dense run's stages 1-2 are given the step counts the committed run reached under its
# wall-clock budgets, so a rerun follows the same schedule (stage 0 stays on its 1.5 minutes).
set -e
PY=${PYTHON:-python3}
TASK=${TASK:-/tmp/task}
WORK=${WORK:-/tmp/demo-train}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MODELS=$REPO/Tests/Fixtures/models
cd "$HERE"

$PY make_task.py --out "$TASK"
$PY train.py --task "$TASK" --out "$WORK/dense" --work "$WORK/w-dense" --lr 2e-3 --eval-every 100 \
    --stage0-min 1.5 --stage1-steps 294 --stage2-steps 1179
$PY export_bf16.py "$WORK/dense" "$MODELS/llava-demo"
$PY make_demo_goldens.py --model "$MODELS/llava-demo" --task "$TASK"
# The paper's recipe: fine-tune with the YOPO ~25 % plan active (simulate semantics).
MASK=$(cd "$REPO/Tests/Fixtures/calibration" && ls demo_mask_llava_*.npy)
$PY train.py --task "$TASK" --init "$MODELS/llava-demo" --out "$WORK/yopo25" --work "$WORK/w25" --data-offset 5 \
    --stage0-min 0 --stage1-steps 0 --stage2-steps 250 --eval-every 50 --lr 8e-4 --caption-frac 0.1 --turns 5 \
    --yopo "window=3,layers=3,heads=$REPO/Tests/Fixtures/calibration/$MASK,ffn=2"
$PY export_bf16.py "$WORK/yopo25" "$MODELS/llava-demo-yopo25"
