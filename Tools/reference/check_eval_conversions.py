#!/usr/bin/env python3
"""Run LLaVA's own submission converters on the answer files our Swift code wrote.

Usage: python3 Tools/reference/check_eval_conversions.py LLAVA_CHECKOUT [--fixtures DIR]

LLAVA_CHECKOUT is a checkout (or `git archive` of `scripts/` and `llava/eval/`) of haotian-liu/LLaVA,
e.g. commit 32cebc3809441cc40d8ac7b2855d148308741f2a. For each of GQA, VQAv2 and MMBench this runs
the real script (`scripts/convert_gqa_for_eval.py`, `convert_vqav2_for_submission.py`,
`convert_mmbench_for_submission.py`) as a subprocess on Tests/Fixtures/eval/formats/<name>/answers.jsonl,
fails if it exits non-zero, and stores what it wrote under <name>/reference/, where SubmissionTests
compares `Submission.write` with it:

- gqa/reference/testdev_balanced_predictions.json: the script's output, unchanged (compared as bytes);
- vqav2/reference/answers.json: unchanged (bytes); the script needs `llava.eval.m4c_evaluator`, which
  is imported from a throwaway package holding only that file (LLaVA's `llava/__init__.py` imports
  torch), and its fixed directory layout, built in a temporary directory;
- mmbench/reference/answers.tsv: the script writes xlsx; the xlsx is read back with pandas
  `read_excel` and written with `to_csv(sep='\\t', index=False)` (compared as bytes with our tsv); the
  xlsx itself is not kept (openpyxl stamps it with the time).

Installs pandas, openpyxl and tqdm with pip when they are missing. Writes reference/RUN.txt with the
versions used.
"""
import argparse
import importlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile


def ensure_packages():
    missing = []
    for module in ["pandas", "openpyxl", "tqdm"]:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", *missing], check=True)


def run(command, cwd=None, env=None):
    print("$", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        sys.exit(f"FAILED (exit {result.returncode}): {' '.join(command)}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_fixtures = os.path.normpath(os.path.join(here, "..", "..", "Tests", "Fixtures", "eval", "formats"))
    parser = argparse.ArgumentParser()
    parser.add_argument("llava", help="path of a LLaVA checkout")
    parser.add_argument("--fixtures", default=default_fixtures)
    parser.add_argument("--commit", default="", help="the LLaVA commit, when the checkout is no git work tree")
    args = parser.parse_args()
    llava = os.path.abspath(args.llava)
    fixtures = os.path.abspath(args.fixtures)
    scripts = os.path.join(llava, "scripts")
    ensure_packages()
    import pandas as pd

    work = tempfile.mkdtemp(prefix="yopo-conversions-")
    try:
        # GQA
        out = os.path.join(fixtures, "gqa", "reference")
        os.makedirs(out, exist_ok=True)
        run([sys.executable, os.path.join(scripts, "convert_gqa_for_eval.py"),
             "--src", os.path.join(fixtures, "gqa", "answers.jsonl"),
             "--dst", os.path.join(out, "testdev_balanced_predictions.json")])

        # VQAv2: its layout is <dir>/answers/<split>/<ckpt>/merge.jsonl and <dir>/llava_vqav2_mscoco_test2015.jsonl.
        package = os.path.join(work, "pkg")
        os.makedirs(os.path.join(package, "llava", "eval"))
        for init in [os.path.join(package, "llava", "__init__.py"), os.path.join(package, "llava", "eval", "__init__.py")]:
            open(init, "w").close()
        shutil.copy(os.path.join(llava, "llava", "eval", "m4c_evaluator.py"), os.path.join(package, "llava", "eval"))
        vqa = os.path.join(work, "vqav2")
        os.makedirs(os.path.join(vqa, "answers", "test-dev", "answers"))
        shutil.copy(os.path.join(fixtures, "vqav2", "answers.jsonl"), os.path.join(vqa, "answers", "test-dev", "answers", "merge.jsonl"))
        shutil.copy(os.path.join(fixtures, "vqav2", "test2015.jsonl"), os.path.join(vqa, "llava_vqav2_mscoco_test2015.jsonl"))
        env = dict(os.environ, PYTHONPATH=package)
        run([sys.executable, os.path.join(scripts, "convert_vqav2_for_submission.py"),
             "--dir", vqa, "--ckpt", "answers", "--split", "test-dev"], cwd=work, env=env)
        out = os.path.join(fixtures, "vqav2", "reference")
        os.makedirs(out, exist_ok=True)
        shutil.copy(os.path.join(vqa, "answers_upload", "test-dev", "answers.json"), os.path.join(out, "answers.json"))

        # MMBench: <result-dir>/<experiment>.jsonl → <upload-dir>/<experiment>.xlsx
        results = os.path.join(work, "mmbench")
        os.makedirs(results)
        shutil.copy(os.path.join(fixtures, "mmbench", "answers.jsonl"), os.path.join(results, "answers.jsonl"))
        run([sys.executable, os.path.join(scripts, "convert_mmbench_for_submission.py"),
             "--annotation-file", os.path.join(fixtures, "mmbench", "questions.tsv"),
             "--result-dir", results, "--upload-dir", results, "--experiment", "answers"])
        out = os.path.join(fixtures, "mmbench", "reference")
        os.makedirs(out, exist_ok=True)
        table = pd.read_excel(os.path.join(results, "answers.xlsx"), engine="openpyxl")
        table.to_csv(os.path.join(out, "answers.tsv"), sep="\t", index=False)

        import openpyxl
        commit = subprocess.run(["git", "-C", llava, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or args.commit
        for name in ["gqa", "vqav2", "mmbench"]:
            with open(os.path.join(fixtures, name, "reference", "RUN.txt"), "w") as f:
                f.write(f"Written by Tools/reference/check_eval_conversions.py from {name}/answers.jsonl\n")
                f.write(f"LLaVA checkout: {commit or '(not a git checkout; see the script for the commit used)'}\n")
                f.write(f"python {platform.python_version()}, pandas {pd.__version__}, openpyxl {openpyxl.__version__}\n")
        print("all three conversion scripts ran without error; outputs stored under */reference/")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
