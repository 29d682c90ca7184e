"""DropBack and GSM through ``mesimp-engine train`` on real MNIST slices: the budget holds,
GSM scores the cut model and starts from a dense run, stopped runs resume identically, and
bad settings get one-line errors."""

import json

import numpy as np
import pytest

from mesimp_engine.optim.dropback import initial_values
from mesimp_engine.train.report import load_run, report
from mesimp_engine.train.settings import TrainSettings
from tests.train.test_training import _scores, _train

LENET = ["--widths", "30,10", "--limit-train", "600", "--limit-eval", "500", "--no-progress"]
WEIGHTS = 784 * 30 + 30 * 10 + 10 * 10
PARAMETERS = WEIGHTS + 30 + 10 + 10


def _results(out):
    return json.loads((out / "results.json").read_text())


def _checkpoint_values(out):
    with np.load(out / "checkpoint.npz") as data:
        return {k[len("value/"):]: data[k] for k in data.files if k.startswith("value/")}


def test_dropback_keeps_its_budget_and_resumes_identically(prepared_data, tmp_path):
    flags = ["--method", "dropback", "--compression", "20", "--lr", "0.3", "--batch-size", "20", "--epochs", "2",
             *LENET]
    proc = _train(prepared_data, tmp_path / "full", *flags)
    k = round(PARAMETERS / 20)
    assert f"keeping {k:,} of {PARAMETERS:,} weights (20.0x)" in proc.stdout
    full = _results(tmp_path / "full")
    assert full["weight_budget"] == k and full["compression"] == pytest.approx(20, rel=1e-3)
    assert all(0 < e["kept_weights"] <= k for e in full["epochs"])
    assert full["updated_fraction"] == pytest.approx(k / PARAMETERS)
    (row,) = report([load_run(tmp_path / "full")])
    assert row["k"] == "20x"  # report's k column gives the compression of a weight budget
    # it learns with 20x fewer weights: 60 SGD steps on 600 images (dense: about 68%; chance: 10%)
    assert full["epochs"][1]["train_loss"] < full["epochs"][0]["train_loss"] and full["test"] > 30
    # every entry outside the budget is at its regenerated initial value
    offset, moved = 0, 0
    for name, value in _checkpoint_values(tmp_path / "full").items():
        moved += int(np.count_nonzero(value != initial_values(1, offset, value.shape, value.dtype)))
        offset += value.size
    assert offset == PARAMETERS and moved == full["epochs"][-1]["kept_weights"]
    out = tmp_path / "cut"
    _train(prepared_data, out, *flags, "--stop-after", "37")
    _train(prepared_data, out, *flags, "--resume")
    assert _scores(_results(out)) == _scores(full)


def test_gsm_starts_from_a_dense_run_and_scores_the_cut_model(prepared_data, tmp_path):
    dense = tmp_path / "dense"
    _train(prepared_data, dense, "--optimizer", "sgd", "--lr", "0.03", "--momentum", "0.9", "--batch-size", "20",
           "--epochs", "2", *LENET)
    flags = ["--method", "gsm", "--from", str(dense), "--compression", "10", "--batch-size", "20", "--epochs", "2",
             *LENET]
    proc = _train(prepared_data, tmp_path / "gsm", *flags)
    q = round(WEIGHTS / 10)
    assert f"keeping {q:,} of {WEIGHTS:,} weights (10.0x)" in proc.stdout
    gsm = _results(tmp_path / "gsm")
    assert gsm["settings"]["lr"] == 0.01 and gsm["settings"]["momentum"] == 0.99 and gsm["settings"]["nesterov"]
    # the first epoch starts from the dense model (64% here after 60 steps), not from scratch
    # (35% after 30): its model cut to a tenth of the weights scores about as well
    assert gsm["epochs"][0]["test"] > _results(dense)["test"] - 5
    shares = [e["cut_removes_l1_share"] for e in gsm["epochs"]]
    assert 0 < shares[-1] < shares[0] < 1  # the unselected weights decay: the cut removes less
    out = tmp_path / "cut"
    _train(prepared_data, out, *flags, "--stop-after", "40")
    _train(prepared_data, out, *flags, "--resume")
    assert _scores(_results(out)) == _scores(gsm)


@pytest.mark.parametrize("flags, message", [
    (["--method", "gsm"], "--method gsm starts from a trained dense model: give --from DIR"),
    (["--method", "dropback", "--optimizer", "adam"], "--method dropback is an SGD method"),
    (["--method", "dropback", "--k", "10", "--compression", "5"], "give --k (weights kept) or --compression, not both"),
    (["--method", "dropback", "--momentum", "0.9"], "--method dropback tracks plain SGD steps"),
    (["--momentum", "0.9"], "--momentum is for --optimizer sgd, not adam"),
    (["--method", "meprop", "--from", "x"], "--from is for --method gsm"),
    (["--task", "pos", "--method", "dropback"], "--method dropback is built for the MNIST MLP"),
    (["--method", "dropback", "--init", "authors"], "regenerates its initial weights from the seed"),
    (["--method", "gsm", "--from", "x", "--init", "lecun"], "the initial weights come from --from"),
    (["--method", "gsm", "--sparse-update", "1"], "--sparse-update does not apply"),
])
def test_bad_settings_are_refused(flags, message):
    settings = {"task": "mnist", "method": "dense"}
    i = 0
    while i < len(flags):
        key = flags[i][2:].replace("-", "_")
        key = "from_run" if key == "from" else key
        value = flags[i + 1]
        settings[key] = (float(value) if key in ("momentum", "compression") else int(value) if key == "k"
                         else True if key == "sparse_update" else value)
        i += 2
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainSettings(**settings).resolve()


def test_gsm_from_a_run_of_another_model_is_refused(prepared_data, tmp_path):
    _train(prepared_data, tmp_path / "dense", "--epochs", "1", "--optimizer", "sgd", *LENET)
    proc = _train(prepared_data, tmp_path / "gsm", "--method", "gsm", "--from", str(tmp_path / "dense"),
                  "--widths", "20,10", "--epochs", "1", *LENET[2:], check=False)
    assert proc.returncode != 0 and "(same --widths?)" in proc.stderr and "Traceback" not in proc.stderr
    proc = _train(prepared_data, tmp_path / "gsm2", "--method", "gsm", "--from", str(tmp_path / "nothing"),
                  "--epochs", "1", *LENET, check=False)
    assert proc.returncode != 0 and "no checkpoint.npz" in proc.stderr
    # trained on [0, 1] pixels: a GSM run on standardised pixels would start from a model fit
    # to other inputs
    proc = _train(prepared_data, tmp_path / "gsm3", "--method", "gsm", "--from", str(tmp_path / "dense"),
                  "--standardize", "--epochs", "1", *LENET, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "was trained with --standardize False, this run has True: they must agree" in proc.stderr


def test_a_checkpoint_from_before_the_sgd_flags_resumes(prepared_data, tmp_path):
    """Checkpoints written before --momentum, --nesterov, --weight-decay, --compression and
    --from existed lack them; resuming reads them as the values those runs had."""
    flags = ["--epochs", "1", "--hidden", "16", *LENET[2:]]
    _train(prepared_data, tmp_path, *flags, "--stop-after", "10")
    path = tmp_path / "checkpoint.npz"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    for name in ("momentum", "nesterov", "weight_decay", "compression", "from_run"):
        del meta["progress"]["settings"][name]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    proc = _train(prepared_data, tmp_path, *flags, "--resume")
    assert "resumed from" in proc.stdout and (tmp_path / "results.json").exists()
