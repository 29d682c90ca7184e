"""bench decode: trimmed and full models decode the same inputs; the JSON has both rows."""

import json
import subprocess
import sys

import numpy as np

from mesimp_engine.bench.decode import multiply_adds
from mesimp_engine.models.mlp import MLP
from mesimp_engine.simplify.prune import trim_mlp_


def test_multiply_adds_of_trimmed_mlp():
    m = MLP(784, 500, 2, 10, rng=0)
    assert multiply_adds(m) == 784 * 500 + 500 * 500 + 500 * 10
    trim_mlp_(m, [np.arange(150), np.arange(160)])
    assert multiply_adds(m) == 784 * 150 + 150 * 160 + 160 * 10


def test_bench_decode_quick_writes_json(tmp_path):
    out = tmp_path / "decode.json"
    proc = subprocess.run([sys.executable, "-m", "mesimp_engine", "bench", "decode", "--quick", "--repeats", "1",
                           "--widths", "100,50", "--data-dir", str(tmp_path / "none"), "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["bench"] == "decode" and len(doc["results"]) == 2
    full, trimmed = doc["results"]
    assert full["case"] == trimmed["case"] and trimmed["impl"].startswith("trimmed [100, 50]")
    assert doc["multiply_add_ratio"] == full["multiply_adds"] / trimmed["multiply_adds"] > 4
    assert "random images" in proc.stdout


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mesimp_engine", *args], capture_output=True, text=True, timeout=600)


def test_bench_decode_of_a_mesimp_run_times_its_model_against_its_full_size(prepared_data, tmp_path):
    run = tmp_path / "run"
    proc = _cli("train", "--task", "mnist", "--method", "mesimp", "--k", "16", "--hidden", "64", "--batch-size", "20",
                "--cycle", "1", "--prune-points", "4", "--limit-train", "800", "--limit-eval", "300", "--epochs", "2",
                "--no-progress", "--data-dir", str(prepared_data), "--out", str(run))
    assert proc.returncode == 0, proc.stderr
    widths = json.loads((run / "results.json").read_text())["hidden_sizes"]
    assert widths != [64, 64]  # meSimp trimmed the layers
    out = tmp_path / "decode.json"
    proc = _cli("bench", "decode", "--quick", "--repeats", "1", "--run", str(run), "--data-dir", str(prepared_data),
                "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    full, trimmed = json.loads(out.read_text())["results"]
    assert full["impl"] == "full [64, 64]" and trimmed["impl"] == f"trimmed {widths}"
    assert "accuracy" not in full and trimmed["accuracy"] > 50  # the run's trained weights, untrained: about 10


def test_bench_settings_it_cannot_run_are_one_line(tmp_path):
    (tmp_path / "f").write_text("")
    for args, said in ((["topk", "--repeats", "0"], "--repeats: must be at least 1"),
                       (["decode", "--widths", "600,600"], "two widths of 1 to 500"),
                       (["decode", "--run", str(tmp_path)], "no readable results.json"),
                       (["topk", "--json", str(tmp_path / "f" / "x.json")], "is a file, not a folder")):
        proc = _cli("bench", *args, "--quick")
        assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
