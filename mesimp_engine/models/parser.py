"""The Chen & Manning (2014) transition classifier, as in the papers' parsing experiments."""

import numpy as np

from mesimp_engine import nn, ops
from mesimp_engine.nn.init import as_rng

WORDS, TAGS, LABELS = slice(0, 18), slice(18, 36), slice(36, 48)


class ParserMLP(nn.Module):
    """48 features (18 words, 18 POS tags, 12 arc labels) -> 48 x ``embed`` concatenated
    embeddings (2,400 for 50) -> ``layers`` hidden layers of ``hidden`` with the cube
    activation -> one score per transition.  features: int (B, 48) -> logits (B, n_transitions).

    Embeddings start N(0, 0.1^2) (small, so the cube starts in its gentle range); the
    papers do not give their initialisation.
    """

    def __init__(self, n_words, n_tags, n_labels_ids, n_transitions, embed=50, hidden=500, layers=2,
                 dropout=0.0, rng=None, dropout_rng=None, linear_options=None, output_options=None,
                 dtype=np.float32):
        super().__init__()
        rng = as_rng(rng)
        linear_options = linear_options or {}
        output_options = linear_options if output_options is None else output_options
        self.word_embedding = nn.Embedding(n_words, embed, rng=rng, scale=0.1, dtype=dtype)
        self.tag_embedding = nn.Embedding(n_tags, embed, rng=rng, scale=0.1, dtype=dtype)
        self.label_embedding = nn.Embedding(n_labels_ids, embed, rng=rng, scale=0.1, dtype=dtype)
        widths = [48 * embed] + [hidden] * layers
        self.hidden_layers = nn.Sequential(
            *[nn.Linear(a, b, rng=rng, dtype=dtype, **linear_options) for a, b in zip(widths, widths[1:])]
        )
        self.output = nn.Linear(widths[-1], n_transitions, rng=rng, dtype=dtype, **output_options)
        self.dropout = nn.Dropout(dropout, rng=dropout_rng if dropout_rng is not None else rng)

    def forward(self, features):
        x = ops.concat(
            [self.word_embedding(features[:, WORDS]), self.tag_embedding(features[:, TAGS]),
             self.label_embedding(features[:, LABELS])],
            axis=1,
        )
        h = x
        for layer in self.hidden_layers:
            h = self.dropout(ops.cube(layer(h)))
        return self.output(h)

    def loss(self, features, transitions):
        return ops.softmax_cross_entropy(self(features), transitions)

    def hidden_sizes(self):
        return [layer.out_features for layer in self.hidden_layers]
