"""The Chen & Manning (2014) transition classifier, as in the papers' parsing experiments."""

import numpy as np

from mesimp_engine import nn, ops
from mesimp_engine.models.mlp import MLP
from mesimp_engine.nn.init import as_rng

WORDS, TAGS, LABELS = slice(0, 18), slice(18, 36), slice(36, 48)


class ParserMLP(MLP):
    """48 features (18 words, 18 POS tags, 12 arc labels) -> 48 x ``embed`` concatenated
    embeddings (2,400 for 50) -> ``layers`` hidden layers of ``hidden`` with the cube
    activation -> one score per transition.  features: int (B, 48) -> logits (B, n_transitions).

    Embeddings start N(0, 0.1^2) (small, so the cube starts in its gentle range); the
    papers do not give their initialisation.
    """

    def __init__(self, n_words, n_tags, n_labels_ids, n_transitions, embed=50, hidden=500, layers=2,
                 dropout=0.0, rng=None, dropout_rng=None, linear_options=None, output_options=None,
                 dtype=np.float32, init="pytorch"):
        rng = as_rng(rng)
        super().__init__(48 * embed, hidden, layers, n_transitions, dropout, rng, dropout_rng,
                         linear_options, output_options, dtype, activation=ops.cube, init=init)
        self.word_embedding = nn.Embedding(n_words, embed, rng=rng, scale=0.1, dtype=dtype)
        self.tag_embedding = nn.Embedding(n_tags, embed, rng=rng, scale=0.1, dtype=dtype)
        self.label_embedding = nn.Embedding(n_labels_ids, embed, rng=rng, scale=0.1, dtype=dtype)

    def embed(self, features):
        return ops.concat(
            [self.word_embedding(features[:, WORDS]), self.tag_embedding(features[:, TAGS]),
             self.label_embedding(features[:, LABELS])],
            axis=1,
        )
