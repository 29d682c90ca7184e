"""Embedding lookup: rows of a table, with a gradient that touches only those rows."""

import numpy as np

from mesimp_engine.graph import RowGrad, apply
from mesimp_engine.kernels.row_ops import sum_rows_by_id
from mesimp_engine.kernels.memory import empty
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
        self.d, self.V = E.shape[1], E.shape[0]
        # ids are checked above: mode "clip" spares NumPy's copy guarding against a bad id
        y = np.take(E, self.ids, axis=0, out=empty(self.ids.shape + (E.shape[1],), E.dtype), mode="clip")
        return y.reshape(self.ids.shape[0], -1) if self.ids.ndim == 2 else y

    def backward(self, dy, needs):
        ids = self.ids.reshape(self.ids.shape[0], -1)
        rows = np.empty(min(ids.size, self.V), dtype=np.int64)
        values = np.empty((rows.size, self.d), dtype=dy.dtype)
        rank = np.empty(self.V, dtype=np.int64)
        # dy as it comes (often a column slice of a concatenation's gradient: no copy)
        u = sum_rows_by_id(ids, dy.reshape(ids.shape[0], -1), rank, rows, values)
        return (RowGrad(rows[:u], values[:u]),)


def lookup(E, ids):
    return apply(Lookup(ids), E)
