"""The tagger's seven discrete features."""

import numpy as np
import pytest

from mesimp_engine.data.pos_features import (FEATURE_NAMES, build_feature_vocabs,
                                             capitalisation, char_class, encode_features,
                                             token_features)


@pytest.mark.parametrize("form, expected", [
    ("dog", "lower"), ("Dog", "title"), ("USA", "upper"), ("iPhone", "mixed"),
    ("McDonald", "mixed"), ("A", "title"), ("42", "noalpha"), ("'s", "lower"),
    ("-Dog", "mixed"),
])
def test_capitalisation(form, expected):
    assert capitalisation(form) == expected


@pytest.mark.parametrize("form, expected", [
    ("1,000.5", "number"), ("3-4", "number"), ("12/31", "number"), ("4th", "digit"),
    ("well-known", "hyphen"), ("--", "hyphen"), ("?!", "punct"), ("dog", "alpha"),
])
def test_char_class(form, expected):
    assert char_class(form) == expected


def test_token_features_affixes_lowercased_and_short_words_whole():
    assert FEATURE_NAMES == ("cap", "prefix2", "prefix3", "suffix1", "suffix2", "suffix3",
                             "chars")
    assert token_features("Running") == ("title", "ru", "run", "g", "ng", "ing", "alpha")
    assert token_features("Ox") == ("title", "ox", "ox", "x", "ox", "ox", "alpha")


def test_encode_with_frozen_vocabs():
    vocabs = build_feature_vocabs(["Running", "walking", "walked"])
    assert len(vocabs) == 7 and all(v.tokens[0] == "<unk>" for v in vocabs)
    ids = encode_features(["walking", "Zebra"], vocabs)
    assert ids.shape == (2, 7) and ids.dtype == np.int64
    # "walking": all seen; "Zebra": title seen, affixes unseen -> 0, alpha seen
    assert (ids[0] > 0).all()
    assert ids[1].tolist() == [vocabs[0].index("title"), 0, 0, 0, 0, 0,
                               vocabs[6].index("alpha")]
    assert vocabs[5].tokens[1] == "ing"  # the most frequent suffix3
