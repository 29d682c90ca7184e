"""``mesimp-engine reproduce TABLE --scale smoke`` on the real data: every row of the
paper's table runs, the published numbers and ours sit side by side, a repeated call reads
the finished runs instead of training again, and tables run into the same folder share the
runs they have in common."""

import json
import os
import subprocess
import sys

import pytest

from mesimp_engine.reproduce.tables import TABLES


def _folder(out, row, table="table1", scale="smoke"):
    return out / row.run_name(TABLES[table]["scales"][scale][row.task])


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
    document = json.loads((out / "table1.json").read_text())
    spec = TABLES["table1"]["rows"]
    assert document["scale"] == "smoke" and len(document["rows"]) == len(spec) == 12
    table = (out / "table1.md").read_text()
    assert table in proc.stdout
    lines = [line for line in table.splitlines() if line.startswith("| ") and "paper:" not in line]
    assert len(lines) == 12
    for row, line, want in zip(document["rows"], lines, spec):
        assert row["published"] == want.published and (row["task"], row["method"]) == (want.task, want.method)
        run = json.loads((_folder(out, want) / "results.json").read_text())
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
    before = _mtimes(out)
    first = json.loads((out / "table1.json").read_text())
    proc = _reproduce(data_dir, out, "--scale", "smoke")
    assert proc.returncode == 0, proc.stderr
    assert _mtimes(out) == before  # nothing trained again
    assert proc.stdout.count("finished run read from") == 12 and "resumed from" not in proc.stdout
    assert [r["ours"] for r in json.loads((out / "table1.json").read_text())["rows"]] == [r["ours"] for r in first["rows"]]


def test_report_reads_every_run_of_a_reproduce_folder(smoke):
    out, _ = smoke
    runs = sorted(p.name for p in out.iterdir() if (p / "results.json").is_file())
    proc = subprocess.run([sys.executable, "-m", "mesimp_engine", "report", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[-1] for line in proc.stdout.splitlines() if line.rstrip().endswith("results.json")]
    assert sorted(os.path.basename(os.path.dirname(path)) for path in listed) == runs and len(runs) >= 12


@pytest.mark.parametrize("flags", [("--scale", "quick"), ("--scale", "smoke", "--seed", "2"),
                                   ("--scale", "smoke", "--protocol", "authors")])
def test_another_scale_or_seed_into_the_same_folder_is_refused(smoke, data_dir, flags):
    out, _ = smoke
    before = sorted(p.name for p in out.iterdir())
    proc = _reproduce(data_dir, out, "figure4", *flags)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{out} holds the runs of scale smoke, seed 1, protocol defaults: give another --out" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == before  # nothing started


def test_figure4_runs_every_point_and_draws_it_when_matplotlib_is_there(data_dir, tmp_path):
    proc = _reproduce(data_dir, tmp_path, "figure4", "--scale", "smoke", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    document = json.loads((tmp_path / "figure4.json").read_text())
    spec = TABLES["figure4"]["rows"]
    assert [(r["series"], r["percent"], r["published"]) for r in document["rows"]] == [
        (row.series, row.percent, row.published) for row in spec]
    small = [r for r in document["rows"] if r["series"] == "dense MLP of h = k"]
    assert [r["hidden"] for r in small] == [5, 10, 20, 40, 50]  # each small MLP at its own size
    for r, row in zip(document["rows"], spec):
        run = json.loads((_folder(tmp_path, row, "figure4") / "results.json").read_text())
        assert r["ours"]["test"] == run["test"] and run["hidden_sizes"][0] == r["hidden"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "figure4.png not drawn: matplotlib is not installed" in proc.stdout
    else:
        assert (tmp_path / "figure4.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_meact_figure_pairs_a_dense_and_a_meact_run_of_one_seed(data_dir, tmp_path):
    proc = _reproduce(data_dir, tmp_path, "meact", "--scale", "smoke", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    document = json.loads((tmp_path / "meact.json").read_text())
    dense, meact = document["rows"]
    assert (dense["method"], meact["method"]) == ("dense", "meact")
    start = meact["ours"]["meact_start"]
    assert start == TABLES["meact"]["scales"]["smoke"]["mnist"]["meact_start"]
    for row, spec in zip(document["rows"], TABLES["meact"]["rows"]):
        run = json.loads((_folder(tmp_path, spec, "meact") / "results.json").read_text())
        assert run["settings"]["record_update"] is True
        assert [(e["dev"], e["mean_abs_update"]) for e in row["ours"]["epochs"]] == [
            (e["dev"], e["mean_abs_update"]) for e in run["epochs"]]
    before = [e for e in meact["ours"]["epochs"] if e["epoch"] < start]
    assert before and before == [{**e, "active_share": 1.0} for e in dense["ours"]["epochs"][:len(before)]]
    assert all(e["active_share"] < 1 for e in meact["ours"]["epochs"] if e["epoch"] >= start)
    table = (tmp_path / "meact.md").read_text()
    first = meact["ours"]["epochs"][-1]
    assert f"| {first['epoch']} | " in table and f"{first['mean_abs_update']:.3g}" in table
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "meact.png not drawn: matplotlib is not installed" in proc.stdout
    else:
        assert (tmp_path / "meact.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _mtimes(out):
    return {p.name: (p / "results.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}


def test_table2_times_table1s_runs_without_training_them_again(smoke, data_dir):
    out, _ = smoke
    before = _mtimes(out)
    proc = _reproduce(data_dir, out, "table2", "--scale", "smoke", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert _mtimes(out) == before  # Table 2's rows are Table 1's Adam rows: nothing new trained
    document = json.loads((out / "table2.json").read_text())
    for r, row in zip(document["rows"], TABLES["table2"]["rows"]):
        epochs = json.loads((_folder(out, row, "table2") / "results.json").read_text())["epochs"]
        mean = {key: sum(e["time"][key] for e in epochs) / len(epochs) for key in epochs[0]["time"]}
        assert r["ours"]["backward_s"] == pytest.approx(mean["backward"])
        assert r["ours"]["forward_s"] == pytest.approx(mean["build"] + mean["forward"])
        assert r["ours"]["total_s"] == pytest.approx(mean["build"] + mean["forward"] + mean["backward"] + mean["update"])
    dense, meprop = document["rows"][:2]  # POS
    assert meprop["ours"]["backward_speedup"] == pytest.approx(dense["ours"]["backward_s"] / meprop["ours"]["backward_s"])
    assert "| 7,362 | 540 (30.6x) | 7,903 |" in (out / "table2.md").read_text()  # the paper's 16,522 / 540


@pytest.mark.parametrize("table", ["table3", "table4", "table5", "table6", "mesimp"])
def test_each_rows_settings_and_scores_come_from_its_run(smoke, data_dir, table):
    out, _ = smoke
    proc = _reproduce(data_dir, out, table, "--scale", "smoke", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    document = json.loads((out / f"{table}.json").read_text())
    text = (out / f"{table}.md").read_text()
    scale = TABLES[table]["scales"]["smoke"]
    for r, row in zip(document["rows"], TABLES[table]["rows"], strict=True):
        run = json.loads((_folder(out, row, table) / "results.json").read_text())
        settings = run["settings"]
        assert (settings["method"], settings["k"]) == (row.method, row.k)
        for key, value in {**scale[row.task], **row.overrides()}.items():
            assert settings[key] == value, (row.name, key)
        assert (r["ours"]["test"], r["ours"]["best_epoch"], r["ours"]["hidden_sizes"]) == (
            run["test"], run["best_epoch"], run["hidden_sizes"])
        assert f"| {row.published['test']:.2f} | {run['best_epoch']} | {run['dev']:.2f} | {run['test']:.2f} |" in text
        if row.method == "mesimp":  # the simplified model is narrower than it started
            assert max(run["hidden_sizes"]) < settings["hidden"]
            assert f"| {sum(run['hidden_sizes']) / len(run['hidden_sizes']):.0f} (" in text


def test_table7_times_the_kernels_at_every_k_of_the_paper(data_dir, tmp_path):
    proc = _reproduce(data_dir, tmp_path, "table7", "--scale", "smoke")
    assert proc.returncode == 0, proc.stderr
    document = json.loads((tmp_path / "table7.json").read_text())
    assert [(r["k"], r["published"]) for r in document["rows"]] == [(k, p) for k, p in TABLES["table7"]["rows"]]
    table = (tmp_path / "table7.md").read_text()
    for r in document["rows"]:
        o = r["ours"]
        assert r["shape"] == list(TABLES["table7"]["scales"]["smoke"]["shape"])
        assert o["speedup"] == pytest.approx(o["dense_s"] / o["unified_s"])
        assert o["per_example_speedup"] == pytest.approx(o["dense_s"] / o["per_example_s"])
        assert f"| {r['k']} | {r['published']['ms']:.2f} | {r['published']['speedup']:.1f}x | {1e3 * o['dense_s']:.2f} |" in table
    # the sparse kernels move less memory the smaller k is: k = 8 beats k = 512 by far
    assert document["rows"][0]["ours"]["unified_s"] * 4 < document["rows"][-1]["ours"]["unified_s"]


def test_table8_times_training_steps_of_one_mlp_dense_and_unified_at_every_k(data_dir, tmp_path):
    proc = _reproduce(data_dir, tmp_path, "table8", "--scale", "smoke")
    assert proc.returncode == 0, proc.stderr
    document = json.loads((tmp_path / "table8.json").read_text())
    assert [(r["k"], r["published"]) for r in document["rows"]] == [(k, p) for k, p in TABLES["table8"]["rows"]]
    scale = TABLES["table8"]["scales"]["smoke"]
    table = (tmp_path / "table8.md").read_text()
    dense = document["rows"][0]["ours"]
    for r in document["rows"]:
        o = r["ours"]
        assert (r["hidden"], r["layers"], r["batch_size"], r["dropout"]) == (scale["hidden"], 2, 50, 0.1)
        assert o["steps"] == scale["steps"] and o["steps_per_epoch"] == scale["limit_train"] // 50
        assert 0 < o["linear_backward_s"] < o["backward_s"]
        assert o["epoch_backward_s"] == pytest.approx(o["backward_s"] * o["steps_per_epoch"])
        for prefix in ("", "per_example_") if r["k"] is not None else ():
            assert 0 < o[prefix + "linear_backward_s"] < o[prefix + "backward_s"]
            assert o[prefix + "speedup"] == pytest.approx(dense["backward_s"] / o[prefix + "backward_s"])
            assert o[prefix + "linear_speedup"] == pytest.approx(dense["linear_backward_s"] / o[prefix + "linear_backward_s"])
        row = "dense" if r["k"] is None else str(r["k"])
        assert f"| {row} | " + (f"{r['published']['ms']:,.1f}" if r["published"] else "-") in table
    # k = 8 of 512 back-propagates 1/64 of the hidden layers' gradient
    assert document["rows"][1]["ours"]["linear_speedup"] > 2
    assert document["rows"][1]["ours"]["per_example_linear_speedup"] > 1.5
    # it keeps no run: report says so and where the numbers are, instead of an empty table
    proc = subprocess.run([sys.executable, "-m", "mesimp_engine", "report", str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{tmp_path}: a reproduce folder with no finished run in it" in proc.stderr and "table8.md" in proc.stderr


def test_the_authors_protocol_changes_the_mnist_rows_only(data_dir, tmp_path):
    proc = _reproduce(data_dir, tmp_path, "table3", "--scale", "smoke", "--protocol", "authors", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    authors = {"init": "authors", "clip": 5.0, "evals_per_epoch": 11, "adam_eps": "authors", "adagrad_eps": "pytorch"}
    defaults = {"init": "pytorch", "clip": None, "evals_per_epoch": 1, "adam_eps": "pytorch", "adagrad_eps": "pytorch"}
    for row in TABLES["table3"]["rows"]:
        settings = json.loads((_folder(tmp_path, row, "table3") / "results.json").read_text())["settings"]
        want = authors if row.task == "mnist" else defaults
        assert {key: settings[key] for key in want} == want, row.name
    assert json.loads((tmp_path / "table3.json").read_text())["protocol"] == "authors"
    assert "MNIST rows with the authors' protocol" in (tmp_path / "table3.md").read_text()


def _runs(out):
    return {p.name: json.loads((p / "results.json").read_text()) for p in out.iterdir() if (p / "results.json").is_file()}


def test_jobs_train_the_runs_at_once_with_the_same_numbers_as_one_at_a_time(smoke, data_dir, tmp_path):
    out, _ = smoke
    proc = _reproduce(data_dir, tmp_path, "--scale", "smoke", "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    serial, parallel = _runs(out), _runs(tmp_path)
    assert len(parallel) == 12
    for name, run in parallel.items():
        assert (run["dev"], run["test"], run["best_epoch"]) == (serial[name]["dev"], serial[name]["test"],
                                                               serial[name]["best_epoch"]), name
        assert [e["train_loss"] for e in run["epochs"]] == [e["train_loss"] for e in serial[name]["epochs"]], name
        assert run["environment"]["numba_threads"] == max(1, len(os.sched_getaffinity(0)) // 2)
        log = (tmp_path / name / "train.log").read_text().splitlines()
        assert log[0].startswith("process ") and log[1].startswith("epoch   1  loss")
        assert f"{log[1]}" in proc.stdout  # forwarded as the worker wrote it
    document = json.loads((tmp_path / "table1.json").read_text())
    assert document["jobs"] == {"jobs": 2, "threads": max(1, len(os.sched_getaffinity(0)) // 2)}
    assert "ran 2 at a time" in (tmp_path / "table1.md").read_text()
    for i, row in enumerate(document["rows"], 1):
        assert f"[{i}/12] {row['group']} {row['model']}: dev {row['ours']['dev']:.2f}  test {row['ours']['test']:.2f}" \
            in proc.stdout


def test_a_run_that_fails_in_a_worker_stops_the_table_and_is_named(data_dir, tmp_path):
    row = TABLES["table1"]["rows"][0]
    folder = _folder(tmp_path, row)
    folder.mkdir(parents=True)
    (folder / "checkpoint.npz").write_bytes(b"not a checkpoint")
    proc = _reproduce(data_dir, tmp_path, "--scale", "smoke", "--jobs", "2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"run {folder} ({row.group} {row.model_label(32)}) failed:" in proc.stderr
    assert f"its lines: {folder / 'train.log'}" in proc.stderr
    assert not (tmp_path / "table1.md").exists()
    started = [p for p in tmp_path.iterdir() if (p / "train.log").is_file()]
    assert len(started) < 12  # the runs not started by then were cancelled
    (folder / "checkpoint.npz").unlink()  # the cause removed, the same call goes on
    proc = _reproduce(data_dir, tmp_path, "--scale", "smoke", "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert len(_runs(tmp_path)) == 12


def test_jobs_below_one_is_refused(data_dir, tmp_path):
    proc = _reproduce(data_dir, tmp_path, "--scale", "smoke", "--jobs", "0")
    assert proc.returncode == 2 and "--jobs must be at least 1, got 0" in proc.stderr


def test_ctrl_c_stops_every_run_at_once(data_dir, tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while two runs train:
    the call ends at once with the interrupted status and no run goes on in the background."""
    import signal
    import time

    cmd = [sys.executable, "-m", "mesimp_engine", "reproduce", "table3", "--scale", "quick", "--jobs", "2",
           "--data-dir", str(data_dir), "--out", str(tmp_path)]
    # SIGINT at its default in the call, as in a terminal's foreground job: a shell runs a
    # background job (a test suite started with `&` from a script) with SIGINT ignored, the
    # processes it starts inherit that, and Python then installs no KeyboardInterrupt at all
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    logs = [tmp_path / row.run_name(TABLES["table3"]["scales"]["quick"][row.task]) / "train.log"
            for row in TABLES["table3"]["rows"][:2]]
    deadline = time.monotonic() + 120
    while not all(log.is_file() and "process" in log.read_text() for log in logs):
        assert proc.poll() is None and time.monotonic() < deadline, "the two runs did not start"
        time.sleep(0.2)
    pids = [int(log.read_text().split()[1].rstrip(",")) for log in logs]
    os.killpg(proc.pid, signal.SIGINT)
    start = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr and "leaked" not in stderr
    assert time.monotonic() - start < 15
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()


def test_seeds_run_each_seeds_table_and_give_their_means(data_dir, tmp_path):
    import numpy as np

    out = tmp_path / "seeds"
    proc = _reproduce(data_dir, out, "table6", "--scale", "smoke", "--seeds", "1-2", "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    document = json.loads((out / "table6.json").read_text())
    assert document["seeds"] == [1, 2] and document["seed"] is None
    per_seed = [json.loads((out / f"seed{s}" / "table6.json").read_text()) for s in (1, 2)]
    assert [d["seed"] for d in per_seed] == [1, 2]
    text = (out / "table6.md").read_text()
    assert "seeds 1, 2: each number is the mean over the seeds" in text
    for i, (row, spec_row) in enumerate(zip(document["rows"], TABLES["table6"]["rows"], strict=True)):
        runs = [json.loads((_folder(out / f"seed{s}", spec_row, "table6") / "results.json").read_text())
                for s in (1, 2)]
        assert [run["settings"]["seed"] for run in runs] == [1, 2]
        tests = [run["test"] for run in runs]
        assert [d["rows"][i]["ours"]["test"] for d in per_seed] == tests  # each seed's table: its own runs
        ours = row["ours"]
        assert ours["test"] == pytest.approx(np.mean(tests))
        assert ours["test_sd"] == pytest.approx(np.std(tests, ddof=1))
        epochs = sorted(run["best_epoch"] for run in runs)
        assert ours["best_epoch"] == (str(epochs[0]) if epochs[0] == epochs[1] else f"{epochs[0]}-{epochs[1]}")
        assert f"| {ours['best_epoch']} | {ours['dev']:.2f} +- {ours['dev_sd']:.2f} | {ours['test']:.2f} +- " \
               f"{ours['test_sd']:.2f} |" in text
    # report reads the seed folders' runs: one row a table row, over both seeds
    report = subprocess.run([sys.executable, "-m", "mesimp_engine", "report", "--by-seed", "--json",
                             str(tmp_path / "report.json"), str(out)], capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    groups = json.loads((tmp_path / "report.json").read_text())["runs"]
    assert len(groups) == len(TABLES["table6"]["rows"]) and all(g["seeds"] == [1, 2] for g in groups)
    # one seed's folder is an ordinary single-seed reproduce folder: the same call there reads it
    again = _reproduce(data_dir, out / "seed2", "table6", "--scale", "smoke", "--seed", "2", "--no-progress")
    assert again.returncode == 0 and "epoch   1" not in again.stdout
    assert json.loads((out / "seed2" / "table6.json").read_text())["rows"] == per_seed[1]["rows"]


@pytest.mark.parametrize("flags,message", [
    (("figure4", "--seeds", "1,2"), "--seeds is for the tables of trained scores"),
    (("table6", "--seeds", "1"), "--seeds needs two or more different seeds"),
    (("table6", "--seeds", "1,x"), "seeds are a list of integers or a range"),
    (("table6", "--seeds", "1,2", "--seed", "3"), "give --seed (one seed) or --seeds (several), not both"),
])
def test_bad_seeds_are_refused(data_dir, tmp_path, flags, message):
    proc = _reproduce(data_dir, tmp_path / "out", *flags, "--scale", "smoke")
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_the_authors_protocol_gives_each_optimizer_its_own_eps_form():
    from mesimp_engine.reproduce.tables import protocol_settings

    rows = {(row.task, row.optimizer): row for row in TABLES["table1"]["rows"]}
    adagrad, adam = protocol_settings("authors", rows["mnist", "adagrad"]), protocol_settings("authors", rows["mnist", "adam"])
    assert adagrad["adagrad_eps"] == "authors" and "adam_eps" not in adagrad
    assert adam["adam_eps"] == "authors" and "adagrad_eps" not in adam
    assert protocol_settings("authors", rows["parse", "adagrad"]) == {} == protocol_settings("defaults", rows["mnist", "adagrad"])
