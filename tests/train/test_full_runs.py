"""The papers' MNIST setting in full (784-500-500-10, Adam, mini-batch 10, 20 epochs, the
whole 55,000 training images): issue 6's accuracy target, at least 97.8% test accuracy at
the best dev point. Marked slow (2-3 minutes a run on one thread): ``pytest -m slow``.

With the authors' protocol and dropout 0.1 both methods reach it in each of six seeds
(dense 97.92-98.13, meProp k=20 97.91-98.29); so does dense without dropout. meProp
without dropout, the papers' Table 1 setting, does not on average (97.70 +- 0.18 with the
authors' protocol), so it has no test here: see docs/mnist-meprop.md."""

import json
import subprocess
import sys

import pytest

AUTHORS_PROTOCOL = ["--init", "authors", "--clip", "5", "--evals-per-epoch", "11", "--adam-eps", "authors"]


def _train_full(data_dir, out, *flags):
    cmd = [sys.executable, "-m", "mesimp_engine", "train", "--task", "mnist", "--data-dir", str(data_dir),
           "--out", str(out), "--epochs", "20", "--no-progress", *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dense", "meprop"])
def test_mnist_reaches_97_8_with_the_authors_protocol_and_dropout(method, prepared_data, tmp_path):
    results = _train_full(prepared_data, tmp_path, "--method", method, "--k", "20", "--dropout", "0.1",
                          *AUTHORS_PROTOCOL)
    assert results["test"] >= 97.8, (method, results["best_epoch"], results["dev"], results["test"])


@pytest.mark.slow
def test_mnist_dense_reaches_97_8_with_the_defaults(prepared_data, tmp_path):
    results = _train_full(prepared_data, tmp_path, "--method", "dense")
    assert results["test"] >= 97.8, (results["best_epoch"], results["dev"], results["test"])
