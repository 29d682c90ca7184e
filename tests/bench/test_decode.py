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
