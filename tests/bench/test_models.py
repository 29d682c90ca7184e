"""``bench models`` and the PyTorch replicas it times: a replica computes the engine's
model's loss and takes its Adam step (checked, and a wrong replica is caught); the smoke run
times the three tasks on the real data and writes its document."""

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mesimp_engine import optim  # noqa: E402
from mesimp_engine.bench.models import _check_agreement  # noqa: E402
from mesimp_engine.bench.torch_models import adam, replica  # noqa: E402
from mesimp_engine.models.mlp import MLP  # noqa: E402
from mesimp_engine.models.parser import ParserMLP  # noqa: E402
from mesimp_engine.models.tagger import BiLSTMTagger  # noqa: E402


def _models():
    rng = np.random.default_rng(0)
    mnist = (MLP(20, 16, 2, 5, rng=1), (rng.random((6, 20), dtype=np.float32), rng.integers(0, 5, 6)))
    parser = (ParserMLP(30, 8, 6, 7, embed=4, hidden=12, rng=2),
              (np.concatenate([rng.integers(0, 30, (6, 18)), rng.integers(0, 8, (6, 18)), rng.integers(0, 6, (6, 12))],
                              axis=1), rng.integers(0, 7, 6)))
    tagger = (BiLSTMTagger(40, [5] * 7, 9, word_dim=6, feature_dim=3, hidden=8, rng=3),
              (rng.integers(0, 40, 5), rng.integers(0, 5, (5, 7)), rng.integers(0, 9, 5)))
    return {"mnist": mnist, "parse": parser, "pos": tagger}


@pytest.mark.parametrize("name", ["mnist", "parse", "pos"])
def test_replica_agrees_and_a_wrong_one_is_caught(name):
    model, batch = _models()[name]
    theirs = replica(model)
    note = _check_agreement(name, model, optim.Adam(model.parameters()), theirs, adam(theirs, 0.001), batch)
    assert "agree" in note
    # a replica one weight off no longer agrees
    model, batch = _models()[name]
    theirs = replica(model)
    with torch.no_grad():
        theirs.output.weight[0, 0] += 0.5
    with pytest.raises(AssertionError, match="differ"):
        _check_agreement(name, model, optim.Adam(model.parameters()), theirs, adam(theirs, 0.001), batch)


def test_replica_refuses_dropout():
    with pytest.raises(ValueError, match="dropout"):
        replica(MLP(20, 16, 2, 5, dropout=0.5, rng=1))


@pytest.fixture
def both_datasets(prepared_data, prepared_ewt, tmp_path):
    """One folder holding both prepared files (links)."""
    for folder, name in ((prepared_data, "mnist.npz"), (prepared_ewt, "ud_ewt.npz")):
        (tmp_path / name).symlink_to(folder / name)
    return tmp_path


def test_bench_models_quick_writes_document(both_datasets, tmp_path):
    out = tmp_path / "models.json"
    proc = subprocess.run([sys.executable, "-m", "mesimp_engine", "bench", "models", "--quick", "--repeats", "1",
                           "--json", str(out), "--data-dir", str(both_datasets)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    rows = doc["results"]
    impls = {"mesimp_engine dense", "torch dense, Adam", "torch dense, fused Adam"}
    for task, k in (("mnist", 20), ("pos", 5), ("parse", 20)):
        task_rows = [r for r in rows if r["case"].startswith(f"{task} training step")]
        assert {r["impl"] for r in task_rows} == impls | {f"mesimp_engine meProp k={k}"}
        assert all(r["median_s"] > 0 and r["unit"] == "per step" for r in task_rows)
        assert [r["impl"] for r in task_rows if r["baseline"]] == ["torch dense, fused Adam"]
        assert f"{task}: the engine's dense step and PyTorch's agree" in proc.stdout
    assert doc["settings"]["tasks"] == ["mnist", "pos", "parse"]


def test_bench_models_rejects_unknown_task():
    proc = subprocess.run([sys.executable, "-m", "mesimp_engine", "bench", "models", "--tasks", "mnist,ner"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "expected comma-separated names" in proc.stderr
