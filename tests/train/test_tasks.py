"""Smoke runs of the POS and parsing tasks on slices of the real treebank, and the greedy
parser's output."""

import json
import subprocess
import sys

import numpy as np

from mesimp_engine.data.conllu import check_tree
from mesimp_engine.data.vocab import UNK_REPLACE


def _train(data_dir, out, *flags):
    cmd = [sys.executable, "-m", "mesimp_engine", "train", "--data-dir", str(data_dir), "--out", str(out),
           "--no-progress", *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "results.json").read_text())


def test_pos_smoke(prepared_ewt, tmp_path):
    r = _train(prepared_ewt, tmp_path, "--task", "pos", "--epochs", "1", "--hidden", "32",
               "--limit-train", "200", "--limit-eval", "100")
    assert r["metric"] == "accuracy" and r["hidden_sizes"] == [32, 32]
    assert r["dev"] > 30  # a fifth of the tags are NN or punctuation: a trained tagger finds them
    assert r["epochs"][0]["updated_fraction"] < 0.5  # embedding rows are touched sparsely
    assert "hidden_activity" not in r["epochs"][0]  # an LSTM: no summary of hidden outputs


def test_parse_smoke(prepared_ewt, tmp_path):
    r = _train(prepared_ewt, tmp_path, "--task", "parse", "--epochs", "2", "--hidden", "64",
               "--batch-size", "100", "--limit-train", "10000", "--limit-eval", "100")
    assert r["metric"] == "uas"
    assert set(r["epochs"][0]["dev_scores"]) == {"uas", "las"}
    assert r["epochs"][1]["train_loss"] < r["epochs"][0]["train_loss"]
    # an untrained parser (--lr 0) decodes these dev sentences at 1-32 UAS (seeds 1-3);
    # these 200 updates reach 61-64
    assert r["dev"] > 45
    assert len(r["epochs"][0]["hidden_activity"]) == 2
    assert all(a["max_abs"] > 0 for a in r["epochs"][0]["hidden_activity"])


def test_greedy_parse_builds_trees(prepared_ewt):
    from mesimp_engine.data.prepared import load_parse
    from mesimp_engine.models.parser import ParserMLP
    from mesimp_engine.train.parse_task import greedy_parse

    data = load_parse(prepared_ewt)
    model = ParserMLP(data["n_words"], data["n_pos"], data["n_label_ids"], data["n_transitions"],
                      hidden=16, rng=0)
    sentences = data["dev"][:40]
    parsed = greedy_parse(model, sentences, data["n_labels"])
    for (heads, labels), s in zip(parsed, sentences):
        assert heads.shape == s["heads"].shape
        assert (heads >= 0).all() and (labels >= 0).all()
        check_tree(heads)  # raises unless one root and no cycle


def test_pos_mesimp_prunes_lstm_cells(prepared_ewt, tmp_path):
    r = _train(prepared_ewt, tmp_path, "--task", "pos", "--method", "mesimp", "--k", "3", "--epochs", "1",
               "--hidden", "24", "--limit-train", "60", "--limit-eval", "30", "--prune-points", "2",
               "--prune-rate", "0.3")
    assert len(r["width_history"]) == 2
    assert r["hidden_sizes"] == r["width_history"][-1]["widths"]
    assert all(w < 24 for w in r["hidden_sizes"])


def test_parse_batches_replace_training_singletons_in_word_features(prepared_ewt):
    """The unknown word's embedding gets trained: singleton word ids in the 18 word features
    become UNKNOWN at about UNK_REPLACE; tag and label features, and other words, never."""
    from mesimp_engine.train.parse_task import ParseTask
    from mesimp_engine.train.settings import TrainSettings

    settings = TrainSettings(task="parse", data_dir=str(prepared_ewt), limit_train=20000)
    settings.resolve()
    task = ParseTask(settings)
    task.rng = np.random.default_rng(0)
    indices = np.arange(20000)
    features, transitions = task.batch(indices)
    original = task.features[indices]
    assert np.array_equal(transitions, task.transitions[indices])
    assert np.array_equal(features[:, 18:], original[:, 18:])
    changed = features != original
    unk = task.data["UNKNOWN"]
    assert np.all(features[changed] == unk)
    singleton = task.data["word_singleton"][original[:, :18]]
    assert not np.any(changed[:, :18] & ~singleton)
    rate = changed[:, :18].sum() / singleton.sum()
    assert abs(rate - UNK_REPLACE) < 0.03
    assert np.array_equal(task.features[indices], original)  # the stored features stay untouched


def test_init_setting_is_checked():
    import pytest

    from mesimp_engine.train.settings import TrainSettings

    with pytest.raises(ValueError, match="--init must be one of"):
        TrainSettings(task="mnist", init="glorot").resolve()
    with pytest.raises(ValueError, match="MLP tasks"):
        TrainSettings(task="pos", init="authors").resolve()
    assert TrainSettings(task="parse", init="authors").resolve().init == "authors"
    with pytest.raises(ValueError, match="--dtype must be one of"):
        TrainSettings(task="mnist", dtype="float16").resolve()
    with pytest.raises(ValueError, match="--dtype is for the MNIST task"):
        TrainSettings(task="parse", dtype="float64").resolve()
    with pytest.raises(ValueError, match="--adam-eps must be one of"):
        TrainSettings(task="mnist", adam_eps="csharp").resolve()
    with pytest.raises(ValueError, match="--adam-eps is for --optimizer adam"):
        TrainSettings(task="mnist", optimizer="adagrad", adam_eps="authors").resolve()
    with pytest.raises(ValueError, match="--adagrad-eps is for --optimizer adagrad"):
        TrainSettings(task="mnist", adagrad_eps="authors").resolve()


def test_numeric_flags_are_checked_before_training():
    import pytest

    from mesimp_engine.train.settings import TrainSettings

    bad = [({"seed": -1}, "--seed must be at least 0"), ({"limit_train": 0}, "--limit-train must be at least 1"),
           ({"limit_eval": 0}, "--limit-eval must be at least 1"), ({"stop_after": 0}, "--stop-after must be at least 1"),
           ({"checkpoint_every": -5}, "--checkpoint-every must be at least 0"),
           ({"method": "mesimp", "prune_points": 0}, "--prune-points must be at least 1"),
           ({"method": "mesimp", "prune_interval": 0}, "--prune-interval must be at least 1"),
           ({"method": "mesimp", "cycle": -1}, "--cycle must be at least 0"),
           ({"method": "meact", "meact_start": 0}, "--meact-start must be at least 1"),
           ({"method": "meact", "meact_threshold": -1.0}, "--meact-threshold must be a number at least 0"),
           ({"lr": -0.1}, "--lr must be a number at least 0"), ({"lr": float("nan")}, "--lr must be a number")]
    for flags, message in bad:
        with pytest.raises(ValueError, match=message):
            TrainSettings(task="mnist", **flags).resolve()
    ok = TrainSettings(task="mnist", method="mesimp", seed=0, lr=0.0, cycle=0, checkpoint_every=0).resolve()
    assert (ok.seed, ok.lr, ok.cycle) == (0, 0.0, 0)
