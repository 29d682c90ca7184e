"""Parameters: stable handles that live outside the graph.

A ``Parameter`` holds ``value`` (the array), ``grad`` (same shape, accumulated by the
graph), ``name``, and ``state`` (the optimizer's arrays for it: Adam moments, AdaGrad
sums, momentum). Model simplification replaces the arrays, never the handle, so layers
and optimizers that hold the handle stay valid.
"""

import numpy as np

from mesimp_engine.kernels.row_ops import add_rows_, zero_rows_
from mesimp_engine.kernels.memory import as_aligned, zeros_like


class Parameter:
    """A trainable array with its gradient and optimizer state.

    value: ndarray, any shape (a weight is ``(out_features, in_features)``).
    grad: ndarray of the same shape, zero after ``zero_grad()``.
    state: dict name -> ndarray (same shape as value) or scalar, owned by the optimizer.
    Zeroing a dense gradient is lazy: ``zero_grad()`` marks it stale, the next dense
    gradient overwrites it (instead of a fill pass and an add pass), and reading ``grad``
    first fills a stale array with zeros.
    The rows that received a gradient since the last ``zero_grad()`` are tracked, so that a
    sparse-aware optimizer can touch only them (``touched_rows()``). ``row_sparse`` marks a
    table (an embedding) whose optimizer update always touches only those rows, as DyNet
    updates its lookup parameters.
    """

    __slots__ = ("value", "_grad", "_stale", "name", "state", "requires_grad", "row_sparse", "_dense_touched", "_rows")

    def __init__(self, value, name="param", requires_grad=True, row_sparse=False):
        self.value = as_aligned(value)
        self._grad = zeros_like(self.value)
        self._stale = False
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

    @property
    def grad(self):
        if self._stale:
            self._grad.fill(0)
            self._stale = False
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = value
        self._stale = False

    def zero_grad(self):
        """Zero the gradient: lazily when it was dense, only the touched rows when only
        rows were touched."""
        if self._dense_touched:
            self._stale = True
        elif not self._stale:
            for rows in self._rows:
                if self._grad.ndim == 2 and rows.dtype == np.int64:
                    zero_rows_(self._grad, rows)
                else:
                    self._grad[rows] = 0
        self._dense_touched = False
        self._rows = []

    def write_grad(self, write):
        """When nothing has reached the gradient since ``zero_grad`` (it is due to be
        zeroed), call ``write(grad)``, which must fill the whole buffer, and return True:
        the gradient is then dense. Otherwise return False (the caller adds instead)."""
        if not self._stale:
            return False
        write(self._grad)
        self._stale = False
        self._dense_touched = True
        return True

    def add_grad(self, g):
        """grad += g (a dense array of the same shape)."""
        if self._stale:
            np.copyto(self._grad, g)
            self._stale = False
        else:
            self._grad += g
        self._dense_touched = True

    def add_row_grad(self, rows, values):
        """grad[rows] += values; ``rows`` are unique int indices into the first axis. A 2-D
        gradient with a matching (rows, columns) array of values takes one Numba pass
        (``kernels.row_ops``); anything else (a scalar, broadcasting) NumPy's indexing."""
        grad = self.grad
        if (type(values) is np.ndarray and grad.ndim == 2 and values.ndim == 2 and rows.dtype == np.int64
                and values.dtype == grad.dtype and values.shape == (rows.shape[0], grad.shape[1])):
            add_rows_(grad, rows, values)
        else:
            grad[rows] += values
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
        self.value = as_aligned(value)
        self.grad = zeros_like(self.value) if grad is None else as_aligned(grad)
        self._dense_touched = grad is not None
        self._rows = []
