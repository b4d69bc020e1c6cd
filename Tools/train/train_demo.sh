#!/bin/sh
# Trains the demo models of issue 14 from nothing, on the CPU, and writes the goldens:
#   python3 -m venv /tmp/tv && /tmp/tv/bin/pip install -r Tools/reference/requirements.txt
#   PYTHON=/tmp/tv/bin/python sh Tools/train/train_demo.sh
# Steps (README.md, "Recipe"): the task; the dense model in three runs (stage 0-2, then two
# continuations); its bf16 export into Tests/Fixtures/models/llava-demo; calibration and goldens;
# the two mask-fine-tuned models. Stage budgets are in steps (the counts the committed run reached
# under its wall-clock budgets), so a rerun follows the same schedule.
set -e
PY=${PYTHON:-python3}
TASK=${TASK:-/tmp/task}
WORK=${WORK:-/tmp/demo-train}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MODELS=$REPO/Tests/Fixtures/models
cd "$HERE"

$PY make_task.py --out "$TASK"
# Run 1: vision probes (stage 0), captions (stage 1), questions (stage 2).
$PY train.py --task "$TASK" --out "$WORK/run1" --work "$WORK/w1" --lr 2e-3 --eval-every 100 \
    --stage0-min 1.5 --stage1-steps 300 --stage2-steps 1180
# Run 2: + the image-token / word-embedding alignment loss, fewer captions.
$PY train.py --task "$TASK" --init "$WORK/run1" --out "$WORK/run2" --work "$WORK/w2" --data-offset 1 \
    --stage0-min 0 --stage1-steps 0 --stage2-steps 1000 --eval-every 100 --lr 1.5e-3 --caption-frac 0.15 --align-weight 1.0
# Run 3: five questions per training conversation.
$PY train.py --task "$TASK" --init "$WORK/run2" --out "$WORK/run3" --work "$WORK/w3" --data-offset 2 \
    --stage0-min 0 --stage1-steps 0 --stage2-steps "${RUN3_STEPS:-900}" --eval-every 50 --lr 2e-3 --caption-frac 0.1 --turns 5
$PY export_bf16.py "$WORK/run3" "$MODELS/llava-demo"
$PY make_demo_goldens.py --model "$MODELS/llava-demo" --task "$TASK"
# The paper's recipe: fine-tune with the YOPO plan active (simulate semantics), from the dense model.
MASK=$(cd "$REPO/Tests/Fixtures/calibration" && ls demo_mask_llava_*.npy)
$PY train.py --task "$TASK" --init "$MODELS/llava-demo" --out "$WORK/yopo25" --work "$WORK/w25" --data-offset 3 \
    --stage0-min 0 --stage1-steps 0 --stage2-steps 400 --eval-every 50 --lr 1e-3 --caption-frac 0.1 --turns 5 \
    --yopo "window=3,layers=3,heads=$REPO/Tests/Fixtures/calibration/$MASK,ffn=2"
$PY export_bf16.py "$WORK/yopo25" "$MODELS/llava-demo-yopo25"
$PY train.py --task "$TASK" --init "$MODELS/llava-demo" --out "$WORK/yopo12" --work "$WORK/w12" --data-offset 4 \
    --stage0-min 0 --stage1-steps 0 --stage2-steps 400 --eval-every 50 --lr 1e-3 --caption-frac 0.1 --turns 5 \
    --yopo "window=3,layers=2,heads=$REPO/Tests/Fixtures/calibration/$MASK,ffn=4"
$PY export_bf16.py "$WORK/yopo12" "$MODELS/llava-demo-yopo12"
