"""End-to-end training on the real MNIST files (small slices): smoke runs, results.json,
kill-and-resume equality, divergence handling."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

SMALL = ["--hidden", "64", "--limit-train", "600", "--limit-eval", "500", "--no-progress"]


def _train(data_dir, out, *flags, check=True):
    cmd = [sys.executable, "-m", "mesimp_engine", "train", "--task", "mnist", "--data-dir", str(data_dir),
           "--out", str(out), *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _scores(results):
    return [(e["epoch"], e["train_loss"], e["dev"], e["test"], e["updated_fraction"]) for e in results["epochs"]]


def test_smoke_dense_writes_results(prepared_data, tmp_path):
    proc = _train(prepared_data, tmp_path, "--method", "dense", "--epochs", "2", *SMALL)
    assert "best dev epoch" in proc.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    for key in ("task", "method", "k", "settings", "epochs", "best_epoch", "dev", "test",
                "updated_fraction", "parameters", "hidden_sizes", "environment"):
        assert key in results
    assert results["parameters"] == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert results["hidden_sizes"] == [64, 64]
    assert len(results["epochs"]) == 2 and results["updated_fraction"] == 1.0
    epoch = results["epochs"][0]
    assert set(epoch["time"]) == {"build", "forward", "backward", "update", "linear_backward"}
    assert all(v > 0 for v in epoch["time"].values())
    assert results["dev"] > 60  # 120 Adam steps on 600 images already learn most digits
    best = max(results["epochs"], key=lambda e: e["dev"])
    assert results["test"] == best["test"]
    for e in results["epochs"]:  # the hidden layers' outputs on the probe, one summary per layer
        assert [set(a) for a in e["hidden_activity"]] == [{"mean_abs", "max_abs", "silent"}] * 2
        assert all(0 < a["mean_abs"] <= a["max_abs"] and 0 <= a["silent"] < 1 for a in e["hidden_activity"])
    assert "max |h| " in proc.stdout


def test_evaluations_within_epochs_select_the_best_point(prepared_data, tmp_path):
    proc = _train(prepared_data, tmp_path, "--epochs", "2", "--evals-per-epoch", "3", "--clip", "5", "--adam-eps", "authors",
                  *SMALL)
    results = json.loads((tmp_path / "results.json").read_text())
    points = [(e["epoch"], p["step"], p["dev"], p["test"]) for e in results["epochs"] for p in e["evaluations"]]
    assert [(epoch, step) for epoch, step, _, _ in points] == [(1, 20), (1, 40), (1, 60), (2, 20), (2, 40), (2, 60)]
    for e in results["epochs"]:  # the last point of an epoch is its end-of-epoch evaluation
        assert e["evaluations"][-1]["dev"] == e["dev"] and e["evaluations"][-1]["test"] == e["test"]
    best = max(points, key=lambda p: (p[2], -p[0], -p[1]))
    assert (results["best_epoch"], results["best_step"], results["dev"], results["test"]) == best
    assert f"best dev epoch {best[0]} (step {best[1]})" in proc.stdout
    assert results["settings"]["clip"] == 5.0 and results["settings"]["adam_eps"] == "authors"


def test_float64_runs_in_float64(prepared_data, tmp_path):
    flags = ["--method", "meprop", "--epochs", "1", *SMALL]
    _train(prepared_data, tmp_path / "f32", *flags)
    _train(prepared_data, tmp_path / "f64", *flags, "--dtype", "float64")
    f32, f64 = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("f32", "f64"))
    assert f64["settings"]["dtype"] == "float64" and f32["settings"]["dtype"] == "float32"
    with np.load(tmp_path / "f64" / "checkpoint.npz") as saved:
        weights = [saved[name] for name in saved.files if name.endswith("weight")]
    assert weights and all(w.dtype == np.float64 for w in weights)
    # the same training in another precision: close, not bit-equal
    loss32, loss64 = f32["epochs"][0]["train_loss"], f64["epochs"][0]["train_loss"]
    assert loss32 != loss64 and abs(loss32 - loss64) < 1e-3 * loss64


def test_adagrad_eps_forms_train_differently_and_are_recorded(prepared_data, tmp_path):
    for form in ("pytorch", "authors"):
        _train(prepared_data, tmp_path / form, "--epochs", "1", "--optimizer", "adagrad", "--adagrad-eps", form, *SMALL)
    runs = [json.loads((tmp_path / form / "results.json").read_text()) for form in ("pytorch", "authors")]
    assert [r["settings"]["adagrad_eps"] for r in runs] == ["pytorch", "authors"]
    assert runs[0]["epochs"][0]["train_loss"] != runs[1]["epochs"][0]["train_loss"]


def test_evaluations_survive_a_stop_and_resume(prepared_data, tmp_path):
    flags = ["--epochs", "1", "--evals-per-epoch", "3", *SMALL]
    _train(prepared_data, tmp_path / "full", *flags)
    stopped = _train(prepared_data, tmp_path / "split", *flags, "--stop-after", "30")
    assert "--resume continues" in stopped.stdout
    _train(prepared_data, tmp_path / "split", *flags, "--resume")
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    split = json.loads((tmp_path / "split" / "results.json").read_text())
    assert full["epochs"][0]["evaluations"] == split["epochs"][0]["evaluations"]
    assert (full["best_step"], full["test"]) == (split["best_step"], split["test"])


def test_evaluation_steps_spread_evenly():
    from mesimp_engine.train.loop import evaluation_steps

    assert evaluation_steps(5500, 1) == set()
    assert evaluation_steps(5500, 11) == {500 * j for j in range(1, 11)}
    assert evaluation_steps(3, 5) == {1, 2}  # never step 0 or the epoch's end (evaluated anyway)


def test_same_seed_same_numbers(prepared_data, tmp_path):
    _train(prepared_data, tmp_path / "a", "--epochs", "1", "--dropout", "0.2", *SMALL)
    _train(prepared_data, tmp_path / "b", "--epochs", "1", "--dropout", "0.2", *SMALL)
    ra = json.loads((tmp_path / "a" / "results.json").read_text())
    rb = json.loads((tmp_path / "b" / "results.json").read_text())
    assert _scores(ra) == _scores(rb)


def test_killed_run_resumes_to_identical_results(prepared_data, tmp_path):
    flags = ["--epochs", "2", "--hidden", "200", "--limit-train", "3000", "--limit-eval", "500",
             "--dropout", "0.1", "--checkpoint-every", "40", "--no-progress"]
    _train(prepared_data, tmp_path / "full", *flags)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "mesimp_engine", "train", "--task", "mnist", "--data-dir", str(prepared_data),
           "--out", str(out), *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / "checkpoint.npz"
    deadline = time.time() + 300
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # let it get past the checkpoint, into the middle of the next stretch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "results.json").exists() or len(json.loads((out / "results.json").read_text())["epochs"]) < 2
    resumed = _train(prepared_data, out, *flags, "--resume")
    assert "resumed from" in resumed.stdout
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    again = json.loads((out / "results.json").read_text())
    assert _scores(full) == _scores(again)
    assert not [f for f in os.listdir(out) if f.startswith(".tmp-")]


def test_divergence_names_epoch_step_and_layer(prepared_data, tmp_path):
    proc = _train(prepared_data, tmp_path, "--epochs", "1", "--lr", "1e30", "--checkpoint-every", "1", *SMALL,
                  check=False)
    assert proc.returncode == 2
    message = proc.stderr.strip().splitlines()[-1]
    assert "training stopped: loss is" in message and "epoch 1, step" in message and "layer" in message
    assert "Traceback" not in proc.stderr
    from mesimp_engine.models.mlp import MLP
    from mesimp_engine.train.checkpoint import load_checkpoint

    model = MLP(784, 64, 2, 10, rng=0)
    progress, _ = load_checkpoint(tmp_path / "checkpoint.npz", model, {"train": np.random.default_rng(0)})
    assert progress["epoch"] == 1 and progress["step"] >= 1
    assert all(np.isfinite(p.value).all() for p in model.parameters())


def test_resume_refuses_other_settings(prepared_data, tmp_path):
    _train(prepared_data, tmp_path, "--epochs", "1", *SMALL)
    proc = _train(prepared_data, tmp_path, "--epochs", "2", "--seed", "5", *SMALL, "--resume", check=False)
    assert proc.returncode == 2 and "settings differ (--seed 1 there, 5 now)" in proc.stderr
    # another model: the settings are compared before any weight is loaded
    proc = _train(prepared_data, tmp_path, "--epochs", "2", "--layers", "3", *SMALL, "--resume", check=False)
    assert proc.returncode == 2 and "settings differ (--layers 2 there, 3 now)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_folder_that_holds_a_run_needs_resume_or_overwrite(prepared_data, tmp_path):
    _train(prepared_data, tmp_path, "--epochs", "1", *SMALL)
    before = (tmp_path / "results.json").read_text()
    proc = _train(prepared_data, tmp_path, "--epochs", "1", "--seed", "2", *SMALL, check=False)
    assert proc.returncode == 2 and "holds a run" in proc.stderr and "epoch" not in proc.stdout
    assert (tmp_path / "results.json").read_text() == before
    _train(prepared_data, tmp_path, "--epochs", "1", "--seed", "2", *SMALL, "--overwrite")
    assert json.loads((tmp_path / "results.json").read_text())["settings"]["seed"] == 2


def test_the_default_out_is_replaced_by_each_run(prepared_data, tmp_path):
    cmd = [sys.executable, "-m", "mesimp_engine", "train", "--task", "mnist", "--data-dir", str(prepared_data),
           "--epochs", "1", *SMALL]
    for seed in ("1", "2"):
        proc = subprocess.run([*cmd, "--seed", seed], capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert proc.returncode == 0, proc.stderr
        assert json.loads((tmp_path / "runs" / "last" / "results.json").read_text())["settings"]["seed"] == int(seed)


@pytest.mark.parametrize("out", ["a file", "under a file"])
def test_an_out_that_cannot_be_a_folder_fails_before_training(prepared_data, tmp_path, out):
    (tmp_path / "f").write_text("")
    path = tmp_path / "f" if out == "a file" else tmp_path / "f" / "run"
    proc = _train(prepared_data, path, "--epochs", "1", *SMALL, check=False)
    assert proc.returncode == 2 and f"--out {path}" in proc.stderr and "Traceback" not in proc.stderr
    assert "epoch" not in proc.stdout


@pytest.mark.parametrize("damage", ["cut short", "not a checkpoint", "no training state", "bytes changed inside"])
def test_resume_from_a_damaged_checkpoint_names_the_file(prepared_data, tmp_path, damage):
    _train(prepared_data, tmp_path, "--epochs", "1", *SMALL)
    path = tmp_path / "checkpoint.npz"
    if damage == "cut short":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "not a checkpoint":
        path.write_text("notes about the run\n")
    elif damage == "no training state":
        np.savez(path, weights=np.zeros(3))
    else:  # a disk error in the middle of the largest array: its CRC no longer matches
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 100] = bytes(b ^ 0xFF for b in data[middle : middle + 100])
        path.write_bytes(bytes(data))
    proc = _train(prepared_data, tmp_path, "--epochs", "2", *SMALL, "--resume", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    said = "is damaged" if damage == "bytes changed inside" else "is not a"
    assert f"{path} {said}" in proc.stderr and "remove it to train the run from the start" in proc.stderr


def test_ctrl_c_says_where_the_checkpoint_is(prepared_data, tmp_path):
    cmd = [sys.executable, "-m", "mesimp_engine", "train", "--task", "mnist", "--data-dir", str(prepared_data),
           "--out", str(tmp_path), "--epochs", "20", "--checkpoint-every", "20", *SMALL]
    # SIGINT at its default, as in a terminal (see tests/reproduce's Ctrl-C test)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while not (tmp_path / "checkpoint.npz").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert f"checkpoint {tmp_path / 'checkpoint.npz'}: the same command with --resume continues at epoch" in stderr
    assert "Traceback" not in stderr


def test_missing_data_is_one_line(tmp_path):
    """A copy of the package outside any checkout finds no data beside it: one line naming the script."""
    import shutil

    import mesimp_engine

    shutil.copytree(os.path.dirname(mesimp_engine.__file__), tmp_path / "pkg" / "mesimp_engine")
    env = dict(os.environ, MESIMP_DATA=str(tmp_path / "nowhere"), PYTHONPATH=str(tmp_path / "pkg"))
    cmd = [sys.executable, "-m", "mesimp_engine", "train", "--task", "mnist", "--data-dir", str(tmp_path / "d"),
           "--out", str(tmp_path / "o"), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "prepare_mnist.py" in proc.stderr.strip().splitlines()[-1]


MESIMP = ["--method", "mesimp", "--k", "16", "--hidden", "64", "--batch-size", "20", "--cycle", "1",
          "--prune-points", "4", "--limit-train", "800", "--limit-eval", "300", "--no-progress"]


def test_mesimp_shrinks_layers_and_logs_widths(prepared_data, tmp_path):
    _train(prepared_data, tmp_path, "--epochs", "2", *MESIMP)
    r = json.loads((tmp_path / "results.json").read_text())
    history = r["width_history"]
    assert len(history) == 4  # 4 prune points in epoch 1 (cycle 0); epoch 2 (cycle 1) trains normally
    assert all(h["epoch"] == 1 for h in history)
    assert r["hidden_sizes"] == history[-1]["widths"]
    assert all(w < 64 for w in r["hidden_sizes"])
    assert r["parameters"] < 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert r["epochs"][1]["hidden_sizes"] == r["hidden_sizes"]


def test_mesimp_resumed_run_prunes_identically(prepared_data, tmp_path):
    flags = ["--epochs", "2", "--checkpoint-every", "13", *MESIMP]
    _train(prepared_data, tmp_path / "full", *flags)
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    out = tmp_path / "cut"
    # The same run stopped after epoch 1 (a checkpoint at a cycle boundary), then resumed to epoch 2.
    _train(prepared_data, out, *[f if f != "2" else "1" for f in flags])
    _train(prepared_data, out, *flags, "--resume")
    resumed = json.loads((out / "results.json").read_text())
    assert _scores(full) == _scores(resumed)
    assert full["width_history"] == resumed["width_history"]


def test_meact_reports_active_share_and_resumes_identically(prepared_data, tmp_path):
    flags = ["--method", "meact", "--epochs", "2", "--meact-start", "2", *SMALL]
    _train(prepared_data, tmp_path / "full", *flags)
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    assert full["meact"]["epochs"][0] == {"epoch": 1, "active_share": 1.0, "applied": False}
    assert 0 < full["meact"]["active_share"] < 1
    out = tmp_path / "cut"
    _train(prepared_data, out, *[f if f != "2" else "1" for f in flags[:4]], *flags[4:])
    _train(prepared_data, out, *flags, "--resume")
    resumed = json.loads((out / "results.json").read_text())
    assert _scores(full) == _scores(resumed)
    assert full["meact"] == resumed["meact"]


def test_meact_stopped_mid_epoch_resumes_identically(prepared_data, tmp_path):
    """Stopped in the middle of an epoch that uses the active paths (epoch 2, step 25 of 60),
    then resumed: the same numbers as an uninterrupted run."""
    flags = ["--method", "meact", "--epochs", "2", "--meact-start", "2", *SMALL]
    _train(prepared_data, tmp_path / "full", *flags)
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    out = tmp_path / "cut"
    stopped = _train(prepared_data, out, *flags, "--stop-after", "85")
    assert "stopped after 85 steps" in stopped.stdout
    _train(prepared_data, out, *flags, "--resume")
    resumed = json.loads((out / "results.json").read_text())
    assert _scores(full) == _scores(resumed)
    assert full["meact"] == resumed["meact"]


def test_record_update_changes_no_score_and_resumes_identically(prepared_data, tmp_path):
    """--record-update adds each epoch's mean |w_t - w_(t-1)| without changing a number, and
    a run stopped mid-epoch and resumed records the same values."""
    flags = ["--method", "meact", "--epochs", "2", "--meact-start", "2", *SMALL]
    plain = _train(prepared_data, tmp_path / "plain", *flags)
    recorded = _train(prepared_data, tmp_path / "full", *flags, "--record-update")
    assert "mean |dw| " in recorded.stdout and "mean |dw| " not in plain.stdout
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    assert _scores(full) == _scores(json.loads((tmp_path / "plain" / "results.json").read_text()))
    sizes = [e["mean_abs_update"] for e in full["epochs"]]
    assert all(0 < size < 1e-2 for size in sizes)  # Adam's steps are about lr = 1e-3 or less
    out = tmp_path / "cut"
    _train(prepared_data, out, *flags, "--record-update", "--stop-after", "85")
    _train(prepared_data, out, *flags, "--record-update", "--resume")
    resumed = json.loads((out / "results.json").read_text())
    assert [e["mean_abs_update"] for e in resumed["epochs"]] == sizes


def test_resume_removes_the_temporary_file_a_killed_writer_left(prepared_data, tmp_path):
    """SIGKILL during an atomic write leaves its ``.tmp-`` file beside the checkpoint; the
    resumed run removes it and says so (the kill test above cannot always hit that moment)."""
    out = tmp_path / "run"
    flags = ["--epochs", "1", *SMALL]
    _train(prepared_data, out, *flags, "--stop-after", "20")
    (out / ".tmp-abc123").write_bytes(b"half a checkpoint")
    resumed = _train(prepared_data, out, *flags, "--resume")
    assert "removed 1 temporary file(s) the interrupted run left: .tmp-abc123" in resumed.stdout
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "results.json"]


def test_cosine_schedule_anneals_to_zero_and_resumes_identically(prepared_data, tmp_path):
    from mesimp_engine.train.settings import TrainSettings

    s = TrainSettings(lr=0.2, lr_schedule="cosine", epochs=2).resolve()
    assert [s.lr_at(t, 4) for t in (0, 4)] == [0.2, pytest.approx(0.1)] and 0 < s.lr_at(7, 4) < 0.01
    assert TrainSettings(lr=0.2).resolve().lr_at(7, 4) == 0.2
    flags = ["--optimizer", "sgd", "--lr", "0.5", "--lr-schedule", "cosine", "--epochs", "2", *SMALL]
    _train(prepared_data, tmp_path / "full", *flags)
    constant = _train(prepared_data, tmp_path / "constant", *flags[:4], *flags[6:])
    assert "best dev epoch" in constant.stdout
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    assert _scores(full) != _scores(json.loads((tmp_path / "constant" / "results.json").read_text()))
    out = tmp_path / "cut"
    _train(prepared_data, out, *flags, "--stop-after", "70")
    refused = _train(prepared_data, out, *[f if f != "2" else "3" for f in flags], "--resume", check=False)
    assert refused.returncode != 0 and "settings differ (--epochs 2 there, 3 now)" in refused.stderr
    _train(prepared_data, out, *flags, "--resume")
    assert _scores(json.loads((out / "results.json").read_text())) == _scores(full)


def test_step_schedule_with_warmup_is_the_gsm_authors_and_a_resumed_run_may_add_epochs(prepared_data, tmp_path):
    """``--lr-schedule step --lr-steps 2,3 --warmup-epochs 1``, rate by rate: a linear
    warm-up from 0 over the first epoch, then 10x less after epochs 2 and 3 (the GSM authors'
    ``WarmupMultiStepLR`` with warm-up factor 0, milestones in epochs). Unlike cosine, the
    schedule does not depend on --epochs, so a finished run may be resumed with more."""
    from mesimp_engine.train.settings import TrainSettings

    s = TrainSettings(lr=0.5, lr_schedule="step", lr_steps=[2, 3], lr_decay=0.1, warmup_epochs=1, epochs=4).resolve()
    per_epoch = 4
    expected = [0.5 * t / 4 for t in range(4)] + [0.5] * 4 + [0.05] * 4 + [0.005] * 4
    assert [s.lr_at(t, per_epoch) for t in range(16)] == pytest.approx(expected, rel=1e-12)
    for bad, message in (({"lr_steps": [2]}, "goes with --lr-schedule step"),
                         ({"lr_schedule": "step"}, "step needs it"),
                         ({"lr_schedule": "step", "lr_steps": [3, 2]}, "increasing"),
                         ({"lr_schedule": "step", "lr_steps": [2], "lr_decay": 0}, "--lr-decay")):
        with pytest.raises(ValueError, match=message):
            TrainSettings(**bad).resolve()
    flags = ["--optimizer", "sgd", "--lr", "0.5", "--lr-schedule", "step", "--lr-steps", "1", "--warmup-epochs",
             "0.5", *SMALL]
    three = _train(prepared_data, tmp_path / "three", *flags, "--epochs", "3")
    out = tmp_path / "two_then_three"
    _train(prepared_data, out, *flags, "--epochs", "2")
    _train(prepared_data, out, *flags, "--epochs", "3", "--resume")
    assert "best dev epoch" in three.stdout
    assert _scores(json.loads((out / "results.json").read_text())) == _scores(
        json.loads((tmp_path / "three" / "results.json").read_text()))


def test_a_run_without_a_bar_logs_its_progress_and_evaluations_within_the_epoch(prepared_data, tmp_path):
    """``reproduce --jobs`` trains without progress bars: a line every ``heartbeat_s``
    seconds (here every step) and the mid-epoch evaluations go to the run's log."""
    from mesimp_engine.reproduce.run import train_row
    from mesimp_engine.train.settings import TrainSettings

    settings = TrainSettings(task="mnist", method="meprop", k=20, epochs=1, hidden=32, limit_train=200,
                             limit_eval=100, evals_per_epoch=2, data_dir=str(prepared_data), out=str(tmp_path),
                             progress=False).resolve()
    lines = []
    doc = train_row(settings, lines.append, heartbeat_s=1e-9)
    beats = [line for line in lines if "steps/s" in line]
    assert [line.split()[3] for line in beats] == [f"{i}/20" for i in range(1, 21)]
    assert f"loss {doc['epochs'][0]['train_loss']:.4f}" in beats[-1] and beats[-1].endswith("end in 0.0 min")
    evaluation = doc["epochs"][0]["evaluations"][0]
    assert f"  epoch 1 step 10/20: dev {evaluation['dev']:.2f} test {evaluation['test']:.2f}" in lines
