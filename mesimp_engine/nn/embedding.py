"""``Embedding``: a table of vectors looked up by id."""

import numpy as np

from mesimp_engine import ops
from mesimp_engine.nn.init import as_rng
from mesimp_engine.nn.module import Module
from mesimp_engine.parameter import Parameter


class Embedding(Module):
    """weight: (num_embeddings, embedding_dim), initialised N(0, scale^2) (scale 1 as
    PyTorch). ids (n,) -> (n, dim); ids (n, F) -> (n, F * dim), the F vectors concatenated.
    The gradient touches only the rows looked up, and so does the optimizer's update
    (``row_sparse``)."""

    def __init__(self, num_embeddings, embedding_dim, rng=None, scale=1.0, dtype=np.float32):
        super().__init__()
        rng = as_rng(rng)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        table = (scale * rng.standard_normal((num_embeddings, embedding_dim))).astype(dtype)
        self.weight = Parameter(table, "weight", row_sparse=True)

    def forward(self, ids):
        return ops.lookup(self.weight, ids)
