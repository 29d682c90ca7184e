"""Frozen vocabularies: built once on the training split, then only looked up.

Token ids: the special tokens first (in the order given), then the training tokens by
decreasing count, ties in alphabetical order. A token not in the vocabulary maps to the
``"<unk>"`` special when the vocabulary has one, and is an error otherwise.
"""

from collections import Counter

import numpy as np

NULL_TOKEN, ROOT_TOKEN, UNKNOWN_TOKEN = "<null>", "<root>", "<unk>"
# the parser's feature vocabularies (words, POS tags, labels) all start with these three
PARSER_SPECIALS = (NULL_TOKEN, ROOT_TOKEN, UNKNOWN_TOKEN)
NULL, ROOT, UNKNOWN = 0, 1, 2


class Vocab:
    """A frozen token <-> id map.

    tokens: list of strings, id = position. counts: int64 array (len,), the training count of
    each token (0 for specials).
    """

    def __init__(self, tokens, counts=None, specials=()):
        self.tokens = list(tokens)
        self.ids = {token: i for i, token in enumerate(self.tokens)}
        if len(self.ids) != len(self.tokens):
            raise ValueError("duplicate tokens in vocabulary")
        self.counts = (np.zeros(len(self.tokens), dtype=np.int64) if counts is None
                       else np.asarray(counts, dtype=np.int64))
        self.specials = tuple(specials)
        self.unk_id = self.ids.get(UNKNOWN_TOKEN)

    @classmethod
    def build(cls, items, specials=(UNKNOWN_TOKEN,), min_count=1):
        """Vocabulary of the items (an iterable of strings) seen at least ``min_count`` times."""
        return cls.from_counts(Counter(items), specials, min_count)

    @classmethod
    def from_counts(cls, counter, specials=(UNKNOWN_TOKEN,), min_count=1):
        """Vocabulary from a mapping token -> training count (see build)."""
        counter = Counter(counter)
        for special in specials:
            counter.pop(special, None)
        kept = sorted((t for t, c in counter.items() if c >= min_count),
                      key=lambda t: (-counter[t], t))
        counts = [0] * len(specials) + [counter[t] for t in kept]
        return cls(list(specials) + kept, counts, specials)

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, token):
        return token in self.ids

    def index(self, token):
        """Id of ``token``; the unknown id for an unseen token (KeyError without ``<unk>``)."""
        found = self.ids.get(token)
        if found is not None:
            return found
        if self.unk_id is None:
            raise KeyError(token)
        return self.unk_id

    def indices(self, tokens):
        """int64 array (len(tokens),) of ids."""
        return np.fromiter((self.index(t) for t in tokens), dtype=np.int64, count=len(tokens))

    def singleton_mask(self):
        """bool array (len,): True for tokens seen exactly once in training."""
        return self.counts == 1

    def to_arrays(self, prefix):
        """Arrays for an ``.npz`` file: ``{prefix}_tokens`` (unicode) and ``{prefix}_counts``."""
        return {f"{prefix}_tokens": np.asarray(self.tokens, dtype=np.str_),
                f"{prefix}_counts": self.counts,
                f"{prefix}_n_specials": np.int64(len(self.specials))}

    @classmethod
    def from_arrays(cls, arrays, prefix):
        """Inverse of to_arrays."""
        tokens = [str(t) for t in arrays[f"{prefix}_tokens"]]
        n_specials = int(arrays[f"{prefix}_n_specials"])
        return cls(tokens, arrays[f"{prefix}_counts"], tokens[:n_specials])


UNK_REPLACE = 0.25
"""The probability with which the tagger and the parser train a training singleton as the
unknown word (the papers do not say; see ``train.parse_task.ParseTask``)."""


def replace_singletons(ids, singleton, p, rng, unk_id=UNKNOWN):
    """A copy of ``ids`` (int array, any shape) where each id of a training singleton
    (``singleton[id]`` True) becomes ``unk_id`` with probability ``p``: the usual trick to
    train the unknown-word embedding. ``rng``: a numpy Generator."""
    ids = np.asarray(ids)
    replace = singleton[ids] & (rng.random(ids.shape) < p)
    return np.where(replace, unk_id, ids)


def word_key(form):
    """The vocabulary key of a word form: lower-cased (case is a separate tagger feature and
    the parser sees POS tags), so that sentence-initial capitals do not split a word."""
    return form.lower()
