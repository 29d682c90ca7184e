"""Chen & Manning features against a hand-written expectation, and batch == per-state."""

import numpy as np
import pytest

from mesimp_engine.data.arcstandard import oracle_states
from mesimp_engine.data.parser_features import (FEATURE_TOKENS, N_FEATURES, feature_positions,
                                                oracle_features, state_features, with_root)

# The(1) very(2) big(3) dog(4) barked(5) .(6)
HEADS = np.array([4, 3, 4, 5, 0, 5])
# label indices: advmod 0, amod 1, det 2, nsubj 3, punct 4, root 5 (feature id = index + 3)
LABELS = np.array([2, 0, 1, 3, 5, 4])
N_LABELS = 6
WORDS = np.arange(11, 17)   # word id of token t is 10 + t
POS = np.arange(21, 27)     # POS id of token t is 20 + t
# oracle: SH SH SH LA(advmod) SH LA(amod) LA(det) SH LA(nsubj) SH RA(punct) RA(root)

# state before the final RIGHT-ARC(root): stack [ROOT, barked], buffer empty,
# barked has left child dog (whose children are big, The) and right child '.'
LAST_STATE_TOKENS = [5, 0, -1, -1, -1, -1,       # s1 s2 s3 b1 b2 b3
                     4, 6, -1, -1,               # lc1(s1) rc1(s1) lc2(s1) rc2(s1)
                     -1, -1, -1, -1,             # children of ROOT: none yet
                     1, -1, -1, -1]              # lc1(lc1(s1)) = The, the rest none
LAST_STATE_FEATURES = (
    [15, 1, 0, 0, 0, 0, 14, 16, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0]      # words (ROOT 1, NULL 0)
    + [25, 1, 0, 0, 0, 0, 24, 26, 0, 0, 0, 0, 0, 0, 21, 0, 0, 0]    # POS tags
    + [6, 7, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0])                         # labels nsubj punct . det

# state before SHIFT barked: stack [ROOT, dog], buffer [barked, .]; dog's left children
# The (leftmost) and big (second leftmost), big has left child very
DOG_STATE_TOKENS = [4, 0, -1, 5, 6, -1,
                    1, -1, 3, -1,
                    -1, -1, -1, -1,
                    -1, -1, -1, -1]
DOG_STATE_FEATURES = (
    [14, 1, 0, 15, 16, 0, 11, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    + [24, 1, 0, 25, 26, 0, 21, 0, 23, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    + [5, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0])


def test_layout_constants():
    assert len(FEATURE_TOKENS) == 18 and N_FEATURES == 48


def test_hand_built_sentence_positions_and_features():
    X, y = oracle_features([HEADS], [LABELS], [WORDS], [POS], N_LABELS)
    assert X.shape == (12, 48) and X.dtype == np.int64
    assert y.tolist() == [0, 0, 0, 1, 0, 2, 3, 0, 4, 0, 7 + 4, 7 + 5]
    assert X[11].tolist() == LAST_STATE_FEATURES
    assert X[7].tolist() == DOG_STATE_FEATURES
    # the first state: stack [ROOT], buffer The very big
    assert X[0].tolist() == ([1, 0, 0, 11, 12, 13] + [0] * 12 + [1, 0, 0, 21, 22, 23] + [0] * 12
                             + [0] * 12)


def test_positions_of_hand_built_states():
    positions = {}
    for step, (_, config) in enumerate(oracle_states(HEADS, LABELS, N_LABELS)):
        positions[step] = feature_positions(config)
    assert positions[11] == LAST_STATE_TOKENS
    assert positions[7] == DOG_STATE_TOKENS


def test_state_features_match_the_batch_path():
    X, _ = oracle_features([HEADS], [LABELS], [WORDS], [POS], N_LABELS)
    words_ext, pos_ext = with_root(WORDS), with_root(POS)
    for step, (_, config) in enumerate(oracle_states(HEADS, LABELS, N_LABELS)):
        np.testing.assert_array_equal(state_features(config, words_ext, pos_ext), X[step])


def test_batch_over_real_sentences_matches_per_state(ewt_train):
    from mesimp_engine.data.arcstandard import is_projective
    from mesimp_engine.data.vocab import Vocab
    rng = np.random.default_rng(0)
    picked = [ewt_train[i] for i in rng.choice(len(ewt_train), 60, replace=False)]
    picked = [s for s in picked if is_projective(s.heads)]
    labels = Vocab.build(d for s in ewt_train for d in s.deprels)
    n_labels = len(labels)
    heads = [s.heads for s in picked]
    label_ids = [labels.indices(s.deprels) - 1 for s in picked]  # drop the <unk> special
    words = [rng.integers(3, 1000, len(s)) for s in picked]
    pos = [rng.integers(3, 50, len(s)) for s in picked]
    X, y = oracle_features(heads, label_ids, words, pos, n_labels)
    row = 0
    for h, lab, w, p in zip(heads, label_ids, words, pos):
        for transition, config in oracle_states(h, lab, n_labels):
            np.testing.assert_array_equal(state_features(config, with_root(w), with_root(p)),
                                          X[row])
            assert y[row] == transition
            row += 1
    assert row == len(X)


def test_non_projective_sentence_rejected():
    from mesimp_engine.data.arcstandard import NonProjective
    with pytest.raises(NonProjective):
        oracle_features([np.array([0, 4, 1, 1])], [np.zeros(4, dtype=int)],
                        [np.arange(4)], [np.arange(4)], 1)
