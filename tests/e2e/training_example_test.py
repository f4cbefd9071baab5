#!/usr/bin/env python3
"""examples/training/train_tiny_lm.py on a synthforge output: the seed set converted to chat
`messages` by `synthforge convert`, then 40 toy fine-tuning steps on CPU with a fixed seed.

Checks the mechanics only (the model is a toy): every loss is finite, the loss falls (the mean of
the last 10 steps is well below the mean of the first 10), and the same seed gives the same losses (first 8 steps of a second run).
Exit code 77 (ctest: skipped) when PyTorch is not installed (Debian: python3-torch).
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "training" / "train_tiny_lm.py"
SEEDS = ROOT / "examples" / "data" / "seed_instructions.jsonl"


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def python_with_torch():
    """This interpreter, or Debian's (python3-torch installs into /usr/bin/python3's packages), whichever has
    PyTorch; None when neither has."""
    for exe in (sys.executable, "/usr/bin/python3"):
        if pathlib.Path(exe).exists() and subprocess.run([exe, "-c", "import torch"], capture_output=True).returncode == 0:
            return exe
    return None


PYTHON = None


def train(data, steps, seed):
    p = subprocess.run([PYTHON, str(SCRIPT), str(data), "--steps", str(steps), "--seed", str(seed), "--context", "160"],
                       capture_output=True, text=True, timeout=600)
    check(p.returncode == 0, f"training failed: {p.stderr[-2000:]}")
    losses = [float(m.group(2)) for m in re.finditer(r"^step (\d+) loss (\S+)$", p.stdout, re.M)]
    check(len(losses) == steps, f"{len(losses)} loss lines for {steps} steps:\n{p.stdout[-500:]}")
    return losses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    a = ap.parse_args()
    global PYTHON
    PYTHON = python_with_torch()
    if PYTHON is None:
        print("SKIP: PyTorch is not installed (apt-get install python3-torch)")
        sys.exit(77)
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"sf-train-{os.getpid()}-"))
    try:
        chat = work / "chat.jsonl"
        p = subprocess.run([a.synthforge, "convert", str(SEEDS), "-o", str(chat), "--to", "messages", "-q"],
                           capture_output=True, text=True)
        check(p.returncode == 0, p.stderr)
        losses = train(chat, 40, 0)
        first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
        print(f"loss: first 10 steps {first:.3f}, last 10 steps {last:.3f}")
        check(last < 0.75 * first, f"the loss did not fall enough: {first:.3f} -> {last:.3f}")
        check(train(chat, 8, 0) == losses[:8], "the same seed gave different losses")
        print("OK")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
