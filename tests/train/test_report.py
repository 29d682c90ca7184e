"""``mesimp-engine report``: real runs (small MNIST slices) compared in one table."""

import json
import statistics
import subprocess
import sys

import pytest

from mesimp_engine.train.report import ReportError, format_group_table, format_table, load_run, report, report_by_seed

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


def test_report_reads_a_folder_of_runs_and_refuses_a_folder_as_json(two_runs, tmp_path):
    proc = _cli("report", str(two_runs))
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[-1] for line in proc.stdout.splitlines()[2:]]
    assert str(two_runs / "dense" / "results.json") in listed and str(two_runs / "meprop" / "results.json") in listed
    proc = _cli("report", str(tmp_path))  # no run in it
    assert proc.returncode == 2 and "no results.json in it or in its sub-folders" in proc.stderr
    proc = _cli("report", str(two_runs / "dense"), "--json", str(tmp_path))
    assert proc.returncode == 2 and "is a folder" in proc.stderr and "Traceback" not in proc.stderr


def test_report_without_dense_run_has_no_speedup(two_runs):
    (row,) = report([load_run(two_runs / "meprop")])
    assert row["backprop_speedup"] is None
    assert " - " in format_table([row])


def test_a_dense_run_of_another_size_is_no_speedup_partner(two_runs, prepared_data, tmp_path):
    proc = _cli("train", "--data-dir", str(prepared_data), "--out", str(tmp_path / "dense32"), *SMALL, "--hidden", "32")
    assert proc.returncode == 0, proc.stderr
    dense32, dense64, meprop = (load_run(p) for p in (tmp_path / "dense32", two_runs / "dense", two_runs / "meprop"))
    (_, alone) = report([dense32, meprop])
    assert alone["backprop_speedup"] is None  # 32 hidden units do other work than meProp's 64
    rows = report([dense32, dense64, meprop])
    assert rows[2]["backprop_speedup"] == pytest.approx(rows[1]["linear_backward_s"] / rows[2]["linear_backward_s"])


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


@pytest.fixture(scope="module")
def seeded_runs(two_runs, prepared_data):
    """two_runs (seed 1) plus: dense and meProp seed 2, meProp seed 3 with --clip 5 (another
    protocol), and meProp seed 4 stopped in its second epoch (not finished)."""
    for name, extra in (("dense_s2", ["--method", "dense", "--seed", "2"]),
                        ("meprop_s2", ["--method", "meprop", "--k", "8", "--seed", "2"]),
                        ("clip_s3", ["--method", "meprop", "--k", "8", "--seed", "3", "--clip", "5"]),
                        ("stopped_s4", ["--method", "meprop", "--k", "8", "--seed", "4", "--stop-after", "70"])):
        proc = _cli("train", "--data-dir", str(prepared_data), "--out", str(two_runs / name), *extra, *SMALL)
        assert proc.returncode == 0, proc.stderr
    return [two_runs / n for n in ("dense", "meprop", "dense_s2", "meprop_s2", "clip_s3", "stopped_s4")]


def test_report_by_seed_groups_runs_that_differ_only_in_the_seed(seeded_runs):
    docs = [load_run(p) for p in seeded_runs]
    rows, left_out = report_by_seed(docs)
    assert [(r["method"], r["runs"], r["seeds"]) for r in rows] == [("dense", 2, [1, 2]), ("meprop", 2, [1, 2]),
                                                                       ("meprop", 1, [3])]
    assert [r["run"] for r in left_out] == [docs[5]["path"]] and left_out[0]["epochs"] == 1
    single = report(docs[:4])
    for group, members in ((rows[0], single[0::2]), (rows[1], single[1::2])):
        tests = [m["test"] for m in members]
        assert group["tests"] == tests
        assert group["test"] == pytest.approx(statistics.fmean(tests))
        assert group["test_sd"] == pytest.approx(statistics.stdev(tests))
        assert (group["test_min"], group["test_max"]) == (min(tests), max(tests))
        assert group["dev"] == pytest.approx(statistics.fmean(m["dev"] for m in members))
        assert group["linear_backward_s"] == pytest.approx(statistics.fmean(m["linear_backward_s"] for m in members))
    dense = rows[0]["linear_backward_s"]
    assert rows[1]["backprop_speedup"] == pytest.approx(dense / rows[1]["linear_backward_s"])
    assert rows[2]["backprop_speedup"] == pytest.approx(dense / rows[2]["linear_backward_s"])
    assert [r["settings"] for r in rows] == ["clip=None", "clip=None", "clip=5.0"]
    table = format_group_table(rows)
    assert "clip=5.0" in table and f"{rows[1]['test']:.2f}" in table and f"{rows[1]['test_sd']:.2f}" in table
    lines = table.splitlines()
    assert len({line.index("500," if "500," in line else "64,64") for line in lines[2:]}) == 1
    assert lines[-1].split()[7] == "-"  # the one-seed group has no standard deviation


def test_report_pairs_each_run_with_the_dense_run_of_its_seed(seeded_runs):
    rows = report([load_run(p) for p in seeded_runs[:4]])
    dense_1, meprop_1, dense_2, meprop_2 = rows
    assert meprop_1["backprop_speedup"] == pytest.approx(dense_1["linear_backward_s"] / meprop_1["linear_backward_s"])
    assert meprop_2["backprop_speedup"] == pytest.approx(dense_2["linear_backward_s"] / meprop_2["linear_backward_s"])


def test_report_by_seed_cli_lists_unfinished_runs(seeded_runs, tmp_path):
    proc = _cli("report", "--by-seed", *map(str, seeded_runs), "--json", str(tmp_path / "g.json"))
    assert proc.returncode == 0, proc.stderr
    assert "left out, not finished: " in proc.stdout and "stopped_s4" in proc.stdout and "(stopped after epoch 1)" in proc.stdout
    written = json.loads((tmp_path / "g.json").read_text())
    assert [r["runs"] for r in written["runs"]] == [2, 2, 1] and len(written["left_out"]) == 1
