"""``mesimp-engine report``: real runs (small MNIST slices) compared in one table."""

import json
import subprocess
import sys

import pytest

from mesimp_engine.train.report import ReportError, format_table, load_run, report

SMALL = ["--task", "mnist", "--hidden", "64", "--limit-train", "600", "--limit-eval", "300", "--epochs", "2",
         "--no-progress"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mesimp_engine", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def two_runs(prepared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for method, extra in (("dense", []), ("meprop", ["--k", "8"])):
        proc = _cli("train", "--data-dir", str(prepared_data), "--out", str(root / method), "--method", method,
                    *extra, *SMALL)
        assert proc.returncode == 0, proc.stderr
    return root


def test_report_rows_follow_the_results(two_runs):
    rows = report([load_run(two_runs / "dense"), load_run(two_runs / "meprop" / "results.json")])
    dense, meprop = rows
    for row, name in ((dense, "dense"), (meprop, "meprop")):
        doc = json.loads((two_runs / name / "results.json").read_text())
        assert (row["dev"], row["test"], row["best_epoch"]) == (doc["dev"], doc["test"], doc["best_epoch"])
        assert row["epochs"] == 2 and row["hidden_sizes"] == [64, 64]
        mean_linear = sum(e["time"]["linear_backward"] for e in doc["epochs"]) / 2
        assert row["linear_backward_s"] == pytest.approx(mean_linear)
    assert dense["backprop_speedup"] == pytest.approx(1.0)
    assert meprop["backprop_speedup"] == pytest.approx(dense["linear_backward_s"] / meprop["linear_backward_s"])
    assert meprop["k"] == 8 and meprop["updated_fraction"] < 1.0
    table = format_table(rows)
    assert "meprop" in table and f"{meprop['test']:.2f}" in table


def test_report_cli_prints_and_writes_json(two_runs, tmp_path):
    proc = _cli("report", str(two_runs / "dense"), str(two_runs / "meprop"), "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    assert "dense" in proc.stdout and "meprop" in proc.stdout
    written = json.loads((tmp_path / "r.json").read_text())
    assert [r["method"] for r in written["runs"]] == ["dense", "meprop"]


def test_report_without_dense_run_has_no_speedup(two_runs):
    (row,) = report([load_run(two_runs / "meprop")])
    assert row["backprop_speedup"] is None
    assert " - " in format_table([row])


def test_report_errors_name_the_file(tmp_path):
    with pytest.raises(ReportError, match="no such file"):
        load_run(tmp_path / "missing")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ReportError, match="bad.json: not JSON"):
        load_run(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"task": "mnist"}))
    with pytest.raises(ReportError, match="missing method, epochs, dev, test"):
        load_run(other)
    proc = _cli("report", str(bad))
    assert proc.returncode == 2 and "bad.json: not JSON" in proc.stderr and "Traceback" not in proc.stderr
