"""Punctuation flags and UAS / LAS."""

import numpy as np
import pytest

from mesimp_engine.data.attachment import attachment_scores, is_punct


def gold_sentence():
    return {"heads": np.array([2, 0, 2, 2]), "labels": np.array([0, 1, 2, 3]),
            "punct": is_punct(["PRON", "VERB", "NOUN", "PUNCT"])}


def test_is_punct():
    assert is_punct(["PUNCT", "SYM", "NOUN"]).tolist() == [True, False, False]


def test_scores_exclude_punctuation():
    gold = [gold_sentence()]
    # head of word 3 wrong, label of word 1 wrong, punctuation (word 4) wrong but not scored
    pred_heads = [np.array([2, 0, 1, 1])]
    pred_labels = [np.array([3, 1, 2, 0])]
    scores = attachment_scores(pred_heads, pred_labels, gold)
    assert scores["n_scored"] == 3
    assert scores["uas"] == pytest.approx(200 / 3) and scores["las"] == pytest.approx(100 / 3)
    with_punct = attachment_scores(pred_heads, pred_labels, gold, exclude_punct=False)
    assert with_punct["uas"] == pytest.approx(50.0) and with_punct["las"] == pytest.approx(25.0)


def test_unseen_gold_label_never_matches():
    gold = [dict(gold_sentence(), labels=np.array([-1, 1, 2, 3]))]
    scores = attachment_scores([gold[0]["heads"]], [np.array([-1, 1, 2, 3])], gold)
    assert scores["uas"] == 100.0 and scores["las"] == pytest.approx(200 / 3)


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match="prediction shapes"):
        attachment_scores([np.zeros(3, dtype=int)], [np.zeros(3, dtype=int)], [gold_sentence()])
    with pytest.raises(ValueError, match="for 1 gold sentences"):
        attachment_scores([], [], [gold_sentence()])
