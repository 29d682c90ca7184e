"""The 48 features of Chen & Manning (2014) for an arc-standard state, and their fast
precomputation along the oracle's path for a whole training set.

With s1, s2, s3 the top three stack items, b1, b2, b3 the first three buffer words,
lc1(x) / lc2(x) the leftmost / second-leftmost child of x and rc1(x) / rc2(x) the
rightmost / second-rightmost, the 18 tokens are, in this order (``FEATURE_TOKENS``):

 0-5   s1 s2 s3 b1 b2 b3
 6-13  lc1(s1) rc1(s1) lc2(s1) rc2(s1) lc1(s2) rc1(s2) lc2(s2) rc2(s2)
 14-17 lc1(lc1(s1)) rc1(rc1(s1)) lc1(lc1(s2)) rc1(rc1(s2))

The feature vector (int64 (48,)) is: columns 0-17 the word ids of the 18 tokens, 18-35 their
POS-tag ids, 36-47 the arc-label ids of tokens 6-17. A missing token is NULL (id 0) in every
vocabulary; the artificial root is ROOT (id 1) as word and POS tag; an arc label l (index
0..L-1) has label-vocabulary id l + 3 (``vocab.PARSER_SPECIALS`` come first).

POS tags here are the treebank's gold XPOS tags, for training and evaluation alike; the
papers fed tags predicted by a tagger, so our parsing scores are somewhat optimistic.
"""

import numpy as np

from mesimp_engine.data.arcstandard import oracle_states
from mesimp_engine.data.vocab import NULL, PARSER_SPECIALS, ROOT

FEATURE_TOKENS = ("s1", "s2", "s3", "b1", "b2", "b3",
                  "lc1(s1)", "rc1(s1)", "lc2(s1)", "rc2(s1)",
                  "lc1(s2)", "rc1(s2)", "lc2(s2)", "rc2(s2)",
                  "lc1(lc1(s1))", "rc1(rc1(s1))", "lc1(lc1(s2))", "rc1(rc1(s2))")
N_TOKENS = 18
N_FEATURES = 48
WORD_COLUMNS = slice(0, 18)
POS_COLUMNS = slice(18, 36)
LABEL_COLUMNS = slice(36, 48)
LABEL_OFFSET = len(PARSER_SPECIALS)


def feature_positions(config):
    """The 18 token indices of ``config`` (0 = ROOT, 1..n words, -1 = none), in
    FEATURE_TOKENS order. Children lists hold dependents nearest first, so the leftmost
    left child and the rightmost right child are their last entries."""
    stack = config.stack
    depth = len(stack)
    s1 = stack[-1]
    s2 = stack[-2] if depth > 1 else -1
    s3 = stack[-3] if depth > 2 else -1
    b1 = config.next_word
    n = config.n_words
    out = [s1, s2, s3,
           b1 if b1 <= n else -1, b1 + 1 if b1 < n else -1, b1 + 2 if b1 + 1 < n else -1]
    left, right = config.left_children, config.right_children
    grand = []
    for s in (s1, s2):
        if s < 0:
            out += [-1, -1, -1, -1]
            grand += [-1, -1]
            continue
        lc, rc = left[s], right[s]
        lc1 = lc[-1] if lc else -1
        rc1 = rc[-1] if rc else -1
        out += [lc1, rc1, lc[-2] if len(lc) > 1 else -1, rc[-2] if len(rc) > 1 else -1]
        grand += [left[lc1][-1] if lc1 >= 0 and left[lc1] else -1,
                  right[rc1][-1] if rc1 >= 0 and right[rc1] else -1]
    return out + grand


def with_root(ids):
    """int64 (n + 2,): ROOT, the n ids of words 1..n, NULL. Indexing it with a position from
    feature_positions gives the token's id (position -1 hits the trailing NULL)."""
    return np.concatenate(([ROOT], np.asarray(ids, dtype=np.int64), [NULL]))


def state_features(config, words_ext, pos_ext):
    """int64 (48,): the features of one state. words_ext, pos_ext: with_root(...) of the
    sentence's word and POS-tag ids. Labels come from the arcs built so far."""
    positions = np.asarray(feature_positions(config), dtype=np.int64)
    labels = np.asarray(config.labels + [-1], dtype=np.int64)[positions[6:]]
    return np.concatenate((words_ext[positions], pos_ext[positions],
                           np.where(labels >= 0, labels + LABEL_OFFSET, NULL)))


def oracle_features(heads_list, labels_list, words_list, pos_list, n_labels):
    """Features and gold transitions of every state on the oracle path of every sentence.

    heads_list, labels_list, words_list, pos_list: per sentence, int arrays (n,) of gold heads
    (0 = ROOT), gold label indices (0..L-1), word ids and POS-tag ids; all sentences must be
    projective (NonProjective otherwise). Returns X int64 (T, 48) and y int64 (T,) with
    T = 2 * (total words). Positions are collected by a Python loop over states; the id
    lookups are one vectorised gather over all states.
    """
    n_states = 2 * sum(len(h) for h in heads_list)
    positions = np.empty((n_states, N_TOKENS), dtype=np.int64)
    transitions = np.empty(n_states, dtype=np.int64)
    base = np.empty(n_states, dtype=np.int64)   # offset of the sentence's ROOT in the flat arrays
    null_at = np.empty(n_states, dtype=np.int64)
    row = 0
    offset = 0
    for heads, labels in zip(heads_list, labels_list):
        n = len(heads)
        start = row
        for transition, config in oracle_states(heads, labels, n_labels):
            positions[row] = feature_positions(config)
            transitions[row] = transition
            row += 1
        base[start:row] = offset
        null_at[start:row] = offset + n + 1
        offset += n + 2
    flat_words = np.concatenate([with_root(w) for w in words_list])
    flat_pos = np.concatenate([with_root(p) for p in pos_list])
    # a token's arc label on the oracle path is its gold label (children are attached tokens)
    flat_labels = np.concatenate([np.concatenate(([NULL], np.asarray(lab) + LABEL_OFFSET, [NULL]))
                                  for lab in labels_list])
    index = np.where(positions >= 0, base[:, None] + positions, null_at[:, None])
    features = np.concatenate((flat_words[index], flat_pos[index], flat_labels[index[:, 6:]]),
                              axis=1)
    return features, transitions
