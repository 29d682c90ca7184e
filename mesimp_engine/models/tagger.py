"""The papers' POS tagger: embeddings of the word and 7 discrete features, a bidirectional
LSTM, and a linear layer to the tags; one sentence per graph."""

import numpy as np

from mesimp_engine import nn, ops
from mesimp_engine.nn.init import as_rng


class BiLSTMTagger(nn.Module):
    """word ids (n,) and feature ids (n, 7) -> tag scores (n, n_tags).

    Input per token: a ``word_dim`` word embedding and one ``feature_dim`` embedding per
    discrete feature (50 + 7 x 20 = 190 as in the papers); then a BiLSTM with ``hidden``
    cells per direction and a linear layer from the 2 x hidden states to the tags.
    ``lstm_options`` (meProp's ``k``, ``mode``) apply to the LSTM's gates; the output layer
    stays dense, as in the papers' tagger.
    """

    def __init__(self, n_words, n_feature_values, n_tags, word_dim=50, feature_dim=20, hidden=500,
                 dropout=0.0, rng=None, dropout_rng=None, dtype=np.float32, lstm_options=None):
        super().__init__()
        rng = as_rng(rng)
        self.word_embedding = nn.Embedding(n_words, word_dim, rng=rng, scale=0.1, dtype=dtype)
        self.feature_embeddings = nn.Sequential(
            *[nn.Embedding(n, feature_dim, rng=rng, scale=0.1, dtype=dtype) for n in n_feature_values]
        )
        n_in = word_dim + feature_dim * len(n_feature_values)
        self.bilstm = nn.BiLSTM(n_in, hidden, rng=rng, dtype=dtype, **(lstm_options or {}))
        self.output = nn.Linear(2 * hidden, n_tags, rng=rng, dtype=dtype)
        self.dropout = nn.Dropout(dropout, rng=dropout_rng if dropout_rng is not None else rng)

    def forward(self, words, features):
        parts = [self.word_embedding(words)]
        parts += [emb(features[:, j]) for j, emb in enumerate(self.feature_embeddings)]
        states = self.dropout(self.bilstm(ops.concat(parts, axis=1)))
        return self.output(states)

    def loss(self, words, features, tags):
        """Mean cross-entropy over the sentence's tokens."""
        return ops.softmax_cross_entropy(self(words, features), tags)

    def hidden_sizes(self):
        """[forward cells, backward cells] (they differ once meSimp trims them)."""
        return [self.bilstm.forward_lstm.cell.hidden_size, self.bilstm.backward_lstm.cell.hidden_size]
