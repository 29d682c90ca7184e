"""Prepared data files: writing them (atomically), loading them, preparing on first use.

``<data_dir>/mnist.npz`` and ``<data_dir>/ud_ewt.npz`` (plain ``.npz``, no pickles; strings
as unicode arrays; a JSON ``meta`` entry with the format version and the summary).
``load_mnist``, ``load_pos`` and ``load_parse`` return the prepared file's content; when the
file is missing (or of an older format) they prepare it from the raw files found by
``locate.find_raw`` (``$MESIMP_DATA``, ``<repo>/../shared/data``), and when those are missing
too they raise DataNotFound whose one-line message names the script to run.
"""

import json
import os
import pathlib
import sys
import tempfile
import zipfile

import numpy as np

from mesimp_engine.data.arcstandard import n_transitions
from mesimp_engine.data.errors import DataError, DataNotFound
from mesimp_engine.data.locate import DATASETS, find_raw
from mesimp_engine.data.mnist import read_mnist_raw, to_float
from mesimp_engine.data.parser_features import LABEL_OFFSET
from mesimp_engine.data.pos_features import FEATURE_NAMES
from mesimp_engine.data.ud_ewt import (SPLITS, build_vocabs, encode_split, read_treebank,
                                       split_sentences, training_oracle_features)
from mesimp_engine.data.vocab import NULL, ROOT, UNKNOWN, Vocab

FORMAT_VERSION = 1
FILES = {"mnist": "mnist.npz", "ud_ewt": "ud_ewt.npz"}
DEFAULT_DATA_DIR = "data"
VOCAB_NAMES = ("words", "xpos", "labels", "tags") + tuple(f"feat{j}" for j in range(7))


def write_npz_atomic(path, arrays):
    """Write ``arrays`` (dict name -> array) to ``path`` through a temporary file in the same
    folder and a rename, so ``path`` is either the old file or the complete new one."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.chmod(temp, 0o644)  # mkstemp creates 0600; prepared data is not private
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _download_dir(out_dir, download):
    return pathlib.Path(out_dir) / "raw" if download else None


def prepare_mnist(out_dir=DEFAULT_DATA_DIR, source=None, verify=True, download=False):
    """Find, check and split the MNIST files; write ``<out_dir>/mnist.npz``.

    Returns the summary dict (counts per split, the raw folder used, the output path).
    """
    folder = find_raw("mnist", source, verify, _download_dir(out_dir, download))
    splits = read_mnist_raw(folder)
    summary = {"dataset": "mnist", "raw": str(folder),
               "counts": {split: int(len(y)) for split, (_, y) in splits.items()}}
    arrays = {"meta": _meta(summary)}
    for split, (images, labels) in splits.items():
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = labels
    path = pathlib.Path(out_dir) / FILES["mnist"]
    write_npz_atomic(path, arrays)
    summary["output"] = str(path)
    return summary


def prepare_ud_ewt(out_dir=DEFAULT_DATA_DIR, source=None, verify=True, download=False):
    """Find, check and encode UD English EWT, precompute the parser's oracle features on the
    projective training sentences; write ``<out_dir>/ud_ewt.npz``. Returns the summary dict."""
    folder = find_raw("ud_ewt", source, verify, _download_dir(out_dir, download))
    treebank = read_treebank(folder)
    vocabs = build_vocabs(treebank["train"])
    encoded = {split: encode_split(treebank[split], vocabs) for split in SPLITS}
    n_labels = len(vocabs["labels"]) - LABEL_OFFSET
    X, y, seconds = training_oracle_features(encoded["train"], n_labels)
    summary = {
        "dataset": "ud_ewt", "raw": str(folder),
        "counts": {split: {"sentences": len(treebank[split]),
                           "words": int(len(encoded[split]["words"]))} for split in SPLITS},
        "train_nonprojective_left_out": int((~encoded["train"]["projective"]).sum()),
        "train_oracle_states": int(len(y)),
        "feature_extraction_seconds": round(seconds, 3),
        "vocab_sizes": {name: len(vocabs[name]) for name in VOCAB_NAMES},
        "unseen_in_train": {split: {"tags": int((encoded[split]["tags"] < 0).sum()),
                                    "labels": int((encoded[split]["labels"] < 0).sum())}
                            for split in ("dev", "test")},
    }
    arrays = {"meta": _meta(summary), "parse_train_X": X.astype(np.int32),
              "parse_train_y": y.astype(np.int32)}
    for name in VOCAB_NAMES:
        arrays.update(vocabs[name].to_arrays(name))
    for split in SPLITS:
        for key, value in encoded[split].items():
            arrays[f"{split}_{key}"] = value
    path = pathlib.Path(out_dir) / FILES["ud_ewt"]
    write_npz_atomic(path, arrays)
    summary["output"] = str(path)
    return summary


PREPARERS = {"mnist": prepare_mnist, "ud_ewt": prepare_ud_ewt}


def _meta(summary):
    return np.asarray(json.dumps({"format_version": FORMAT_VERSION, **summary}), dtype=np.str_)


def _read_prepared(path):
    """The arrays of a prepared file, or None when it is missing or of another format."""
    if not path.is_file():
        return None
    try:
        # open the file here: np.load leaks its own handle when the archive is corrupt
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        meta = json.loads(str(arrays["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise DataError(f"unreadable prepared file ({error}); delete it to prepare again",
                        path) from None
    return arrays if meta.get("format_version") == FORMAT_VERSION else None


def load_prepared(dataset, data_dir=DEFAULT_DATA_DIR, prepare=True):
    """The arrays of ``<data_dir>/<dataset>.npz``, preparing it first when needed and allowed.

    Raises DataNotFound (one line naming the script) when neither the prepared file nor the
    raw files are found.
    """
    path = pathlib.Path(data_dir) / FILES[dataset]
    arrays = _read_prepared(path)
    if arrays is not None:
        return arrays
    script = DATASETS[dataset]["script"]
    hint = f"run: python {script} --out {data_dir}"
    if not prepare:
        raise DataNotFound(f"{dataset} data not prepared in {data_dir}; {hint}")
    try:
        print(f"preparing {dataset} in {data_dir} (first use)", file=sys.stderr)
        PREPARERS[dataset](data_dir)
    except DataNotFound:
        raise DataNotFound(f"{dataset} data not prepared in {data_dir} and raw files not found "
                           f"($MESIMP_DATA, ../shared/data); {hint} [--source DIR]") from None
    return _read_prepared(path)


def load_mnist(data_dir=DEFAULT_DATA_DIR, prepare=True, dtype=np.float32, standardize=False):
    """MNIST splits: dict(train=(X, y), dev=(X, y), test=(X, y)); X ``dtype`` (N, 784) in [0, 1]
    (``standardize``: ``mnist.to_float``'s), y int64 (N,); N = 55,000 / 5,000 / 10,000 (dev =
    the first 5,000 training images)."""
    arrays = load_prepared("mnist", data_dir, prepare)
    return {split: to_float(arrays[f"{split}_images"], arrays[f"{split}_labels"], dtype, standardize)
            for split in ("train", "dev", "test")}


def _vocabs(arrays):
    return {name: Vocab.from_arrays(arrays, name) for name in VOCAB_NAMES}


def _split_view(arrays, split):
    return {key[len(split) + 1:]: value for key, value in arrays.items()
            if key.startswith(split + "_")}


def load_pos(data_dir=DEFAULT_DATA_DIR, prepare=True):
    """POS-tagging data from UD EWT (XPOS tags).

    Returns dict with:
      train, dev, test: lists of sentences, each (word_ids int64 (n,), feature_ids int64 (n, 7),
        tag_ids int64 (n,)); a dev/test tag unseen in training has id -1.
      n_words: word-vocabulary size (ids 0..n_words-1; UNKNOWN = 2).
      n_feature_values: tuple of 7 vocabulary sizes, one per feature (``feature_names``).
      n_tags, tag_names: the tag classes.
      word_singleton: bool (n_words,), words seen once in training
        (for ``vocab.replace_singletons``).
      UNKNOWN: the unknown-word id.
    """
    arrays = load_prepared("ud_ewt", data_dir, prepare)
    vocabs = _vocabs(arrays)
    out = {}
    for split in SPLITS:
        view = _split_view(arrays, split)
        out[split] = list(zip(split_sentences(view, "words"), split_sentences(view, "feats"),
                              split_sentences(view, "tags")))
    out.update(n_words=len(vocabs["words"]),
               n_feature_values=tuple(len(vocabs[f"feat{j}"]) for j in range(7)),
               feature_names=FEATURE_NAMES, n_tags=len(vocabs["tags"]),
               tag_names=list(vocabs["tags"].tokens),
               word_singleton=vocabs["words"].singleton_mask(), UNKNOWN=UNKNOWN)
    return out


def load_parse(data_dir=DEFAULT_DATA_DIR, prepare=True):
    """Dependency-parsing data from UD EWT (basic trees, gold XPOS as POS features).

    Returns dict with:
      train_features: int64 (T, 48) Chen & Manning features of every oracle state of the
        projective training sentences (``parser_features`` gives the column layout);
      train_transitions: int64 (T,) gold transition ids (``arcstandard`` encoding);
      train, dev, test: lists of sentence dicts with int64 arrays (n,) ``words``, ``pos``
        (feature ids), ``heads`` (0 = ROOT), ``labels`` (label indices 0..n_labels-1, -1 when
        unseen in training), bool ``punct``, and bool ``projective``;
      n_words, n_pos, n_label_ids: feature-vocabulary sizes (label ids include the 3 specials);
      n_labels, label_names: the L arc labels; n_transitions = 2 L + 1;
      NULL, ROOT, UNKNOWN: the special ids (0, 1, 2) in every feature vocabulary;
      word_singleton: bool (n_words,); n_nonprojective: training sentences left out;
      feature_seconds: time the feature precomputation took.
    """
    arrays = load_prepared("ud_ewt", data_dir, prepare)
    vocabs = _vocabs(arrays)
    meta = json.loads(str(arrays["meta"]))
    out = {}
    for split in SPLITS:
        view = _split_view(arrays, split)
        columns = {key: split_sentences(view, key)
                   for key in ("words", "pos", "heads", "labels", "punct")}
        out[split] = [dict(zip(columns, values), projective=bool(flag))
                      for values, flag in zip(zip(*columns.values()), view["projective"])]
    n_labels = len(vocabs["labels"]) - LABEL_OFFSET
    out.update(train_features=arrays["parse_train_X"].astype(np.int64),
               train_transitions=arrays["parse_train_y"].astype(np.int64),
               n_words=len(vocabs["words"]), n_pos=len(vocabs["xpos"]),
               n_label_ids=len(vocabs["labels"]), n_labels=n_labels,
               label_names=list(vocabs["labels"].tokens[LABEL_OFFSET:]),
               n_transitions=n_transitions(n_labels), NULL=NULL, ROOT=ROOT, UNKNOWN=UNKNOWN,
               word_singleton=vocabs["words"].singleton_mask(),
               n_nonprojective=meta["train_nonprojective_left_out"],
               feature_seconds=meta["feature_extraction_seconds"])
    return out
