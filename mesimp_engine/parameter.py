"""Parameters: stable handles that live outside the graph.

A ``Parameter`` holds ``value`` (the array), ``grad`` (same shape, accumulated by the
graph), ``name``, and ``state`` (the optimizer's arrays for it: Adam moments, AdaGrad
sums, momentum). Model simplification replaces the arrays, never the handle, so layers
and optimizers that hold the handle stay valid.
"""

import numpy as np


class Parameter:
    """A trainable array with its gradient and optimizer state.

    value: ndarray, any shape (a weight is ``(out_features, in_features)``).
    grad: ndarray of the same shape, zero after ``zero_grad()``.
    state: dict name -> ndarray (same shape as value) or scalar, owned by the optimizer.
    The rows that received a gradient since the last ``zero_grad()`` are tracked, so that a
    sparse-aware optimizer can touch only them (``touched_rows()``). ``row_sparse`` marks a
    table (an embedding) whose optimizer update always touches only those rows, as DyNet
    updates its lookup parameters.
    """

    __slots__ = ("value", "grad", "name", "state", "requires_grad", "row_sparse", "_dense_touched", "_rows")

    def __init__(self, value, name="param", requires_grad=True, row_sparse=False):
        self.value = np.ascontiguousarray(value)
        self.grad = np.zeros_like(self.value)
        self.name = name
        self.state = {}
        self.requires_grad = requires_grad
        self.row_sparse = row_sparse
        self._dense_touched = False
        self._rows = []

    @property
    def shape(self):
        return self.value.shape

    @property
    def size(self):
        return self.value.size

    @property
    def dtype(self):
        return self.value.dtype

    def __repr__(self):
        return f"Parameter({self.name}, shape={self.value.shape}, dtype={self.value.dtype})"

    def zero_grad(self):
        """Zero the gradient; only the touched rows when only rows were touched."""
        if self._dense_touched:
            self.grad.fill(0)
        else:
            for rows in self._rows:
                self.grad[rows] = 0
        self._dense_touched = False
        self._rows = []

    def add_grad(self, g):
        """grad += g (a dense array of the same shape)."""
        self.grad += g
        self._dense_touched = True

    def add_row_grad(self, rows, values):
        """grad[rows] += values; ``rows`` are unique int indices into the first axis."""
        self.grad[rows] += values
        if not self._dense_touched:
            self._rows.append(rows)

    def touched_rows(self):
        """Sorted unique rows that received gradient since ``zero_grad()``, or None when the
        whole array did (a dense gradient)."""
        if self._dense_touched:
            return None
        if not self._rows:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate(self._rows))

    def replace(self, value, grad=None):
        """Swap in new arrays (simplification); the handle stays the same object."""
        self.value = np.ascontiguousarray(value)
        self.grad = np.zeros_like(self.value) if grad is None else np.ascontiguousarray(grad)
        self._dense_touched = grad is not None
        self._rows = []
