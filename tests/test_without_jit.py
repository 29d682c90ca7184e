"""Runs again with ``NUMBA_DISABLE_JIT=1`` (real subprocesses): every kernel then runs as
plain Python, its twin paths included, and must give the same answers.

- The kernels' tests: the top-k contract, its kernels and the vector passes (issue 3 asks
  for it), and the engine's small products and row products.
- Training (SPEC section 7: "running with NUMBA_DISABLE_JIT=1 gives the same numbers as
  the compiled kernels, to float tolerance"): smoke runs of the three tasks, MNIST with
  per-example and unified meProp, trained compiled and not; every epoch's loss must agree
  to 1e-5 (relative) and the scores to half a point. Without the JIT the forward products
  of small mini-batches go to BLAS instead of the engine's loops, so sums are taken in
  another order and the runs differ by rounding (about 1e-8 of the loss here).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
FILES = ["sparsity/test_topk.py", "kernels/test_topk_kernels.py", "kernels/test_compress_keys.py",
         "kernels/test_small_products.py", "kernels/test_row_products.py"]


def test_kernel_tests_pass_without_the_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *[str(TESTS / f) for f in FILES]],
                          capture_output=True, text=True, env=env, timeout=900, cwd=TESTS.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


RUNS = {
    "mnist_meprop": ("mnist", "--method meprop --k 5 --hidden 32 --epochs 2 --limit-train 300 --limit-eval 200"),
    "mnist_unified": ("mnist", "--method unified --k 5 --hidden 32 --batch-size 50 --epochs 2 --limit-train 300 "
                               "--limit-eval 200"),
    "pos_meprop": ("pos", "--method meprop --k 3 --hidden 16 --epochs 1 --limit-train 30 --limit-eval 30"),
    "parse_meprop": ("parse", "--method meprop --k 5 --hidden 32 --batch-size 200 --epochs 1 --limit-train 1000 "
                              "--limit-eval 20"),
}


def test_training_gives_the_same_numbers_without_the_jit(prepared_data, prepared_ewt, tmp_path):
    data = {"mnist": prepared_data, "pos": prepared_ewt, "parse": prepared_ewt}
    procs = {}
    for name, (task, flags) in RUNS.items():  # all at once: the runs without the JIT take a minute
        for jit in ("compiled", "python"):
            env = dict(os.environ, NUMBA_DISABLE_JIT="1" if jit == "python" else "0")
            cmd = [sys.executable, "-m", "mesimp_engine", "train", "--task", task, *flags.split(), "--seed", "3",
                   "--data-dir", str(data[task]), "--out", str(tmp_path / name / jit), "--no-progress"]
            procs[name, jit] = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{key}: {err[-2000:]}"
        results[key] = json.loads((tmp_path / key[0] / key[1] / "results.json").read_text())
    for name in RUNS:
        compiled, python = results[name, "compiled"], results[name, "python"]
        assert len(compiled["epochs"]) == len(python["epochs"])
        for a, b in zip(compiled["epochs"], python["epochs"]):
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5), name
        for score in ("dev", "test"):
            assert abs(compiled[score] - python[score]) <= 0.5, (name, score, compiled[score], python[score])
