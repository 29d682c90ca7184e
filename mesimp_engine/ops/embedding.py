"""Embedding lookup: rows of a table, with a gradient that touches only those rows."""

import numpy as np

from mesimp_engine.graph import RowGrad, apply
from mesimp_engine.memory import empty
from mesimp_engine.ops.base import Op


class Lookup(Op):
    """y = E[ids].  E: (V, d); ids: (n,) -> y: (n, d), or ids: (n, F) -> y: (n, F * d)
    (the F embeddings of a row concatenated, as the parser's feature vector).

    dE = RowGrad(rows = unique ids, values = sum of dy over the positions of each id).
    """

    def __init__(self, ids):
        self.ids = np.asarray(ids)
        if not np.issubdtype(self.ids.dtype, np.integer):
            raise TypeError(f"Lookup: ids must be integers, got {self.ids.dtype}")
        if self.ids.ndim not in (1, 2):
            raise ValueError(f"Lookup: ids must be (n,) or (n, F), got shape {self.ids.shape}")

    def forward(self, E):
        if E.ndim != 2:
            raise self.shape_error("the table must be (V, d)", E.shape, self.ids.shape)
        if self.ids.size and (self.ids.min() < 0 or self.ids.max() >= E.shape[0]):
            raise IndexError(
                f"Lookup: id out of range [0, {E.shape[0]}) (min {self.ids.min()}, max {self.ids.max()})"
            )
        self.d = E.shape[1]
        y = np.take(E, self.ids, axis=0, out=empty(self.ids.shape + (E.shape[1],), E.dtype))
        return y.reshape(self.ids.shape[0], -1) if self.ids.ndim == 2 else y

    def backward(self, dy, needs):
        flat_ids = self.ids.reshape(-1)
        rows, inverse = np.unique(flat_ids, return_inverse=True)
        values = np.zeros((rows.size, self.d), dtype=dy.dtype)
        np.add.at(values, inverse, dy.reshape(-1, self.d))
        return (RowGrad(rows, values),)


def lookup(E, ids):
    return apply(Lookup(ids), E)
