"""Frozen vocabularies, unknown words, singleton replacement."""

import numpy as np
import pytest

from mesimp_engine.data.vocab import (NULL, PARSER_SPECIALS, ROOT, UNKNOWN, Vocab,
                                      replace_singletons, word_key)


def test_build_orders_by_count_then_alphabet_after_specials():
    vocab = Vocab.build(["b", "a", "c", "a", "b", "a", "d"], specials=PARSER_SPECIALS)
    assert vocab.tokens == ["<null>", "<root>", "<unk>", "a", "b", "c", "d"]
    assert (NULL, ROOT, UNKNOWN) == (0, 1, 2)
    assert vocab.counts.tolist() == [0, 0, 0, 3, 2, 1, 1]
    assert vocab.index("zzz") == UNKNOWN
    assert vocab.indices(["a", "d", "?"]).tolist() == [3, 6, 2]
    assert vocab.singleton_mask().tolist() == [False] * 5 + [True, True]


def test_min_count_and_no_unknown():
    vocab = Vocab.build(["x", "x", "y"], specials=(), min_count=2)
    assert vocab.tokens == ["x"]
    with pytest.raises(KeyError):
        vocab.index("y")


def test_round_trip_through_arrays():
    vocab = Vocab.build(["é", "b", "b"], specials=PARSER_SPECIALS)
    back = Vocab.from_arrays(vocab.to_arrays("w"), "w")
    assert back.tokens == vocab.tokens and back.specials == PARSER_SPECIALS
    assert back.counts.tolist() == vocab.counts.tolist() and back.unk_id == UNKNOWN


def test_replace_singletons_only_touches_singletons():
    singleton = np.array([False, False, False, True, False])
    ids = np.array([[3, 4, 3, 1]] * 2000)
    out = replace_singletons(ids, singleton, 0.25, np.random.default_rng(0))
    assert (out[:, [1, 3]] == ids[:, [1, 3]]).all()
    replaced = (out[:, [0, 2]] == UNKNOWN).mean()
    assert 0.22 < replaced < 0.28
    assert set(np.unique(out[:, [0, 2]])) == {UNKNOWN, 3}


def test_word_key_lowercases():
    assert word_key("The") == "the" and word_key("U.S.") == "u.s."
