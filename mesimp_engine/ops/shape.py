"""Ops that move values without arithmetic: ``concat`` and slicing (``narrow``)."""

import numpy as np

from mesimp_engine.graph import RowGrad, apply
from mesimp_engine.kernels.memory import empty
from mesimp_engine.ops.base import Op


class Concat(Op):
    """y = [x_1, ..., x_n] joined along ``axis``.  dx_i = the matching slice of dy."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        if not xs:
            raise ValueError("Concat: nothing to concatenate")
        ref = xs[0].shape
        for x in xs[1:]:
            if x.ndim != len(ref) or any(a != b for i, (a, b) in enumerate(zip(x.shape, ref)) if i != self.axis % len(ref)):
                raise self.shape_error(f"inputs must agree on every axis but {self.axis}", *[x.shape for x in xs])
        self.bounds = np.cumsum([x.shape[self.axis] for x in xs])[:-1]
        shape = list(ref)
        shape[self.axis] = sum(x.shape[self.axis] for x in xs)
        return np.concatenate(xs, axis=self.axis, out=empty(tuple(shape), np.result_type(*xs)))

    def backward(self, dy, needs):
        parts = np.split(dy, self.bounds, axis=self.axis)
        return tuple(p if need else None for p, need in zip(parts, needs))


def concat(xs, axis=-1):
    return apply(Concat(axis), *xs)


class Narrow(Op):
    """y = x[start:stop] along ``axis`` (rows: axis 0, columns: axis 1).
    dx = zeros with dy placed at [start:stop]; along axis 0 returned as the rows alone
    (``RowGrad``), which the graph adds in place: an LSTM takes each time step's row of its
    projected inputs (T, 4h), and T dense (T, 4h) gradients would cost O(T^2)."""

    def __init__(self, axis, start, stop):
        self.axis, self.start, self.stop = axis, start, stop

    def forward(self, x):
        n = x.shape[self.axis] if -x.ndim <= self.axis < x.ndim else -1
        if not 0 <= self.start < self.stop <= n:
            raise self.shape_error(f"slice [{self.start}:{self.stop}] on axis {self.axis} out of range", x.shape)
        self.in_shape = x.shape
        self.key = (slice(None),) * (self.axis % x.ndim) + (slice(self.start, self.stop),)
        return x[self.key]

    def backward(self, dy, needs):
        if self.axis % len(self.in_shape) == 0:
            return (RowGrad(np.arange(self.start, self.stop), dy),)
        dx = np.zeros(self.in_shape, dtype=dy.dtype)
        dx[self.key] = dy
        return (dx,)


def narrow(x, axis, start, stop):
    return apply(Narrow(axis, start, stop), x)


def slice_rows(x, start, stop):
    """Rows start..stop-1 of a 2-D node."""
    return narrow(x, 0, start, stop)


def slice_cols(x, start, stop):
    """Columns start..stop-1 of a 2-D node."""
    return narrow(x, 1, start, stop)
