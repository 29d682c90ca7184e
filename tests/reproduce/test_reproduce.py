"""``mesimp-engine reproduce table1 --scale smoke`` on the real data: every row of the
paper's table runs, the published numbers and ours sit side by side, and a repeated call
reads the finished runs instead of training again."""

import json
import os
import subprocess
import sys

import pytest

from mesimp_engine.reproduce.tables import TABLES


@pytest.fixture(scope="module")
def data_dir(prepared_data, prepared_ewt, tmp_path_factory):
    """One prepared-data folder with MNIST and UD EWT (links to the session's two)."""
    folder = tmp_path_factory.mktemp("both")
    for source in (prepared_data, prepared_ewt):
        for name in os.listdir(source):
            os.symlink(source / name, folder / name)
    return folder


def _reproduce(data_dir, out, *flags):
    table = [] if flags and flags[0] in TABLES else ["table1"]
    cmd = [sys.executable, "-m", "mesimp_engine", "reproduce", *table, *flags, "--data-dir", str(data_dir),
           "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def smoke(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("table1")
    proc = _reproduce(data_dir, out, "--scale", "smoke")
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_every_row_runs_and_sits_beside_the_papers(smoke):
    out, proc = smoke
    document = json.loads((out / "table.json").read_text())
    spec = TABLES["table1"]["rows"]
    assert document["scale"] == "smoke" and len(document["rows"]) == len(spec) == 12
    table = (out / "table.md").read_text()
    assert table in proc.stdout
    lines = [line for line in table.splitlines() if line.startswith("| ") and "paper:" not in line]
    assert len(lines) == 12
    for row, line, want in zip(document["rows"], lines, spec):
        assert row["published"] == want.published and (row["task"], row["method"]) == (want.task, want.method)
        run = json.loads((out / want.name / "results.json").read_text())
        assert (row["ours"]["dev"], row["ours"]["test"], row["ours"]["best_epoch"]) == (run["dev"], run["test"],
                                                                                      run["best_epoch"])
        assert f"| {want.published['dev']:.2f} | {want.published['test']:.2f} |" in line
        assert f"| {run['dev']:.2f} | {run['test']:.2f} |" in line
    dense, meprop = document["rows"][-2:]  # MNIST (Adam)
    assert meprop["ours"]["speedup"] == pytest.approx(dense["ours"]["linear_backward_s"]
                                                      / meprop["ours"]["linear_backward_s"])
    assert "7.9 (21.4x)" in lines[-1] and "MLP (h=64)" in lines[-2]


def test_a_repeated_call_reads_the_finished_runs(smoke, data_dir):
    out, _ = smoke
    before = {p.name: (p / "results.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}
    first = json.loads((out / "table.json").read_text())
    proc = _reproduce(data_dir, out, "--scale", "smoke")
    assert proc.returncode == 0, proc.stderr
    after = {p.name: (p / "results.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}
    assert before == after  # nothing trained again
    assert [r["ours"] for r in json.loads((out / "table.json").read_text())["rows"]] == [r["ours"] for r in first["rows"]]


def test_another_scale_into_the_same_folder_is_refused(smoke, data_dir):
    out, _ = smoke
    proc = _reproduce(data_dir, out, "--scale", "quick")
    assert proc.returncode == 2 and "settings differ" in proc.stderr and "Traceback" not in proc.stderr


def test_figure4_runs_every_point_and_draws_it_when_matplotlib_is_there(data_dir, tmp_path):
    proc = _reproduce(data_dir, tmp_path, "figure4", "--scale", "smoke", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    document = json.loads((tmp_path / "table.json").read_text())
    spec = TABLES["figure4"]["rows"]
    assert [(r["series"], r["percent"], r["published"]) for r in document["rows"]] == [
        (row.series, row.percent, row.published) for row in spec]
    small = [r for r in document["rows"] if r["series"] == "dense MLP of h = k"]
    assert [r["hidden"] for r in small] == [5, 10, 20, 40, 50]  # each small MLP at its own size
    for r, row in zip(document["rows"], spec):
        run = json.loads((tmp_path / row.name / "results.json").read_text())
        assert r["ours"]["test"] == run["test"] and run["hidden_sizes"][0] == r["hidden"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "figure.png not drawn: matplotlib is not installed" in proc.stdout
    else:
        assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
