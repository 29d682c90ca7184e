"""Arc-standard system: legality, the static oracle rebuilding gold trees, projectivity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesimp_engine.data.arcstandard import (SHIFT, Configuration, NonProjective, is_projective,
                                            left_arc, n_transitions, oracle, parse_with,
                                            right_arc, transition_kind)
from mesimp_engine.data.conllu import check_tree
from mesimp_engine.data.vocab import Vocab

N_LABELS = 4


def test_transition_ids():
    assert n_transitions(3) == 7
    assert [transition_kind(t, 3) for t in range(7)] == [
        (0, -1), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    assert left_arc(2, 3) == 3 and right_arc(2, 3) == 6
    with pytest.raises(ValueError):
        transition_kind(7, 3)


def test_legal_mask_and_errors():
    config = Configuration(2, N_LABELS)
    mask = config.legal_mask()
    assert mask.shape == (9,) and mask.tolist() == [True] + [False] * 8
    with pytest.raises(ValueError, match="LEFT-ARC"):
        config.apply(left_arc(0, N_LABELS))
    config.apply(SHIFT)
    # ROOT may take its dependent only when the buffer is empty: one root per tree
    assert config.legal_mask().tolist() == [True] + [False] * 8
    config.apply(SHIFT)
    assert config.legal_mask().tolist() == [False] + [True] * 8
    with pytest.raises(ValueError, match="SHIFT"):
        config.apply(SHIFT)
    config.apply(right_arc(1, N_LABELS))
    assert config.legal_mask().tolist() == [False] * 5 + [True] * 4
    config.apply(right_arc(2, N_LABELS))
    assert config.is_terminal()
    np.testing.assert_array_equal(config.heads_array(), [0, 1])
    np.testing.assert_array_equal(config.labels_array(), [2, 1])


def test_oracle_on_hand_tree():
    # The(1) very(2) big(3) dog(4) barked(5) .(6); labels: advmod 0, amod 1, det 2, nsubj 3...
    heads = np.array([4, 3, 4, 5, 0, 5])
    labels = np.array([2, 0, 1, 3, 3, 2])
    L = N_LABELS
    expected = [SHIFT, SHIFT, SHIFT, left_arc(0, L), SHIFT, left_arc(1, L), left_arc(2, L),
                SHIFT, left_arc(3, L), SHIFT, right_arc(2, L), right_arc(3, L)]
    assert oracle(heads, labels, L).tolist() == expected


def test_non_projective_tree():
    # arc 1 -> 3 crosses arc 2 -> 4
    heads = np.array([0, 4, 1, 1])
    assert not is_projective(heads)
    with pytest.raises(NonProjective):
        oracle(heads, np.zeros(4, dtype=int), N_LABELS)
    assert is_projective(np.array([0, 1, 2, 3]))
    # an arc over the root's own arc crosses it
    assert not is_projective(np.array([3, 0, 2]))


def random_parse(n, seed):
    """Heads and labels of a parse from uniformly random legal transitions."""
    rng = np.random.default_rng(seed)
    config = Configuration(n, N_LABELS)
    while not config.is_terminal():
        config.apply(int(rng.choice(np.flatnonzero(config.legal_mask()))))
    return config.heads_array(), config.labels_array()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 25), st.integers(0, 2**32 - 1))
def test_random_parses_are_projective_trees_the_oracle_rebuilds(n, seed):
    heads, labels = random_parse(n, seed)
    check_tree(heads)
    assert is_projective(heads)
    transitions = oracle(heads, labels, N_LABELS)
    assert len(transitions) == 2 * n
    rebuilt_heads, rebuilt_labels = parse_with(transitions, n, N_LABELS)
    np.testing.assert_array_equal(rebuilt_heads, heads)
    np.testing.assert_array_equal(rebuilt_labels, labels)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_projectivity_check_agrees_with_oracle_on_random_trees(n, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(n) + 1
    heads = np.zeros(n, dtype=np.int64)
    for k in range(1, n):  # attach each word to an earlier one in a random order: a tree
        heads[order[k] - 1] = order[rng.integers(0, k)]
    check_tree(heads)
    try:
        oracle(heads, np.zeros(n, dtype=int), N_LABELS)
        oracle_ok = True
    except NonProjective:
        oracle_ok = False
    assert oracle_ok == is_projective(heads)


def check_oracle_on(sentences):
    labels = Vocab.build(d for s in sentences for d in s.deprels)
    n_labels = len(labels)
    left_out = 0
    for sentence in sentences:
        label_ids = labels.indices(sentence.deprels)
        if not is_projective(sentence.heads):
            left_out += 1
            with pytest.raises(NonProjective):
                oracle(sentence.heads, label_ids, n_labels)
            continue
        heads, rebuilt = parse_with(oracle(sentence.heads, label_ids, n_labels), len(sentence),
                                    n_labels)
        np.testing.assert_array_equal(heads, sentence.heads)
        np.testing.assert_array_equal(rebuilt, label_ids)
    return left_out


def test_oracle_rebuilds_every_projective_ewt_train_sentence(ewt_train):
    # the whole training set (a few seconds): 288 of 12,544 trees are not projective
    assert check_oracle_on(ewt_train) == 288
