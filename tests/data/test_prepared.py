"""The prepared files made by the scripts from the real data, and the loaders."""

import json

import numpy as np
import pytest

from mesimp_engine.data import locate
from mesimp_engine.data.arcstandard import oracle_states, parse_with
from mesimp_engine.data.attachment import attachment_scores
from mesimp_engine.data.errors import DataError, DataNotFound
from mesimp_engine.data.parser_features import (LABEL_COLUMNS, POS_COLUMNS, WORD_COLUMNS,
                                                state_features, with_root)
from mesimp_engine.data.prepared import (load_mnist, load_parse, load_pos, load_prepared,
                                         write_npz_atomic)


def test_script_summaries(prepared):
    _, stdout = prepared
    assert "mnist: train 55,000, dev 5,000, test 10,000 images" in stdout["mnist"]
    assert "ud_ewt train: 12,544 sentences, 204,577 words" in stdout["ud_ewt"]
    assert "ud_ewt dev: 2,001 sentences, 25,147 words" in stdout["ud_ewt"]
    assert "ud_ewt test: 2,077 sentences, 25,094 words" in stdout["ud_ewt"]
    assert "(288 non-projective left out)" in stdout["ud_ewt"]


def test_feature_extraction_under_a_minute(prepared):
    out, _ = prepared
    meta = json.loads(str(load_prepared("ud_ewt", out, prepare=False)["meta"]))
    assert meta["feature_extraction_seconds"] < 60
    assert meta["train_nonprojective_left_out"] == 288
    assert meta["train_oracle_states"] == 392214


def test_load_mnist(prepared, mnist_train_raw):
    out, _ = prepared
    data = load_mnist(out, prepare=False)
    assert {k: (v[0].shape, v[1].shape) for k, v in data.items()} == {
        "train": ((55000, 784), (55000,)), "dev": ((5000, 784), (5000,)),
        "test": ((10000, 784), (10000,))}
    X, y = data["dev"]
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    raw = mnist_train_raw[0][:5000].reshape(5000, 784)
    np.testing.assert_allclose(X, raw / 255.0, rtol=1e-6)


def test_load_pos(prepared):
    out, _ = prepared
    pos = load_pos(out, prepare=False)
    counts = {s: (len(pos[s]), sum(len(w) for w, _, _ in pos[s])) for s in ("train", "dev", "test")}
    assert counts == {"train": (12544, 204577), "dev": (2001, 25147), "test": (2077, 25094)}
    assert len(pos["n_feature_values"]) == 7 and pos["n_tags"] == 49
    for split in ("train", "dev", "test"):
        words = np.concatenate([w for w, _, _ in pos[split]])
        feats = np.concatenate([f for _, f, _ in pos[split]])
        tags = np.concatenate([t for _, _, t in pos[split]])
        assert words.dtype == feats.dtype == tags.dtype == np.int64
        assert 0 <= words.min() and words.max() < pos["n_words"]
        assert feats.shape[1] == 7 and (feats.max(axis=0) < pos["n_feature_values"]).all()
        assert 0 <= tags.min() and tags.max() < pos["n_tags"]
    assert pos["tag_names"][0] == "NN"
    assert pos["word_singleton"].shape == (pos["n_words"],)
    dev_words = np.concatenate([w for w, _, _ in pos["dev"]])
    assert 0 < (dev_words == pos["UNKNOWN"]).mean() < 0.1


def test_load_parse(prepared):
    out, _ = prepared
    parse = load_parse(out, prepare=False)
    X, y = parse["train_features"], parse["train_transitions"]
    projective = [s for s in parse["train"] if s["projective"]]
    assert len(parse["train"]) - len(projective) == parse["n_nonprojective"] == 288
    assert X.shape == (2 * sum(len(s["heads"]) for s in projective), 48)
    assert X.dtype == y.dtype == np.int64
    assert parse["n_labels"] == 51 and parse["n_transitions"] == 103
    assert (parse["NULL"], parse["ROOT"], parse["UNKNOWN"]) == (0, 1, 2)
    assert X[:, WORD_COLUMNS].max() < parse["n_words"]
    assert X[:, POS_COLUMNS].max() < parse["n_pos"]
    assert X[:, LABEL_COLUMNS].max() < parse["n_label_ids"]
    assert 0 <= y.min() and y.max() < parse["n_transitions"]
    assert (len(parse["dev"]), len(parse["test"])) == (2001, 2077)
    # the first projective sentence: its transitions rebuild the tree and its rows are the
    # decoder-facing features of the same states
    first = projective[0]
    n = len(first["heads"])
    heads, labels = parse_with(y[:2 * n], n, parse["n_labels"])
    np.testing.assert_array_equal(heads, first["heads"])
    np.testing.assert_array_equal(labels, first["labels"])
    for row, (_, config) in enumerate(oracle_states(first["heads"], first["labels"],
                                                    parse["n_labels"])):
        np.testing.assert_array_equal(
            state_features(config, with_root(first["words"]), with_root(first["pos"])), X[row])
    gold = parse["dev"]
    scores = attachment_scores([s["heads"] for s in gold], [s["labels"] for s in gold], gold)
    assert scores["uas"] == scores["las"] == 100.0
    n_punct = sum(int(s["punct"].sum()) for s in gold)
    assert scores["n_scored"] == 25147 - n_punct and n_punct > 2000


def test_prepare_on_first_use(tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("MESIMP_DATA", str(shared_data))
    data = load_mnist(tmp_path / "data")
    assert (tmp_path / "data" / "mnist.npz").is_file()
    assert len(data["train"][0]) == 55000


def test_missing_everything_gives_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MESIMP_DATA", str(tmp_path / "nothing"))
    monkeypatch.setattr(locate, "repo_root", lambda: tmp_path / "checkout")
    for loader, script in ((load_mnist, "prepare_mnist.py"), (load_parse, "prepare_ud_ewt.py")):
        with pytest.raises(DataNotFound) as caught:
            loader(tmp_path / "data")
        message = str(caught.value)
        assert f"run: python data_scripts/{script} --out {tmp_path / 'data'}" in message
        assert "\n" not in message
    with pytest.raises(DataNotFound, match="not prepared"):
        load_pos(tmp_path / "data", prepare=False)
    assert not (tmp_path / "data").exists()


def test_corrupt_prepared_file_named(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="mnist.npz: unreadable prepared file"):
        load_mnist(tmp_path, prepare=False)


class Unsaveable:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("disk full")


def test_failed_write_leaves_old_file(tmp_path):
    path = tmp_path / "x.npz"
    write_npz_atomic(path, {"a": np.arange(3)})
    with pytest.raises(RuntimeError, match="disk full"):
        write_npz_atomic(path, {"a": np.arange(5), "b": Unsaveable()})
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]
    with np.load(path) as npz:
        assert npz["a"].tolist() == [0, 1, 2]
