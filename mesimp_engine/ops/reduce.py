"""Reductions: ``sum`` and ``mean`` over all elements or one axis."""

import numpy as np

from mesimp_engine.graph import apply
from mesimp_engine.ops.base import Op


class Sum(Op):
    """y = sum of x (over ``axis``, or all).  dx = dy broadcast back to x's shape."""

    def __init__(self, axis=None):
        self.axis = axis

    def forward(self, x):
        self.in_shape = x.shape
        return np.asarray(x.sum(axis=self.axis))

    def backward(self, dy, needs):
        if self.axis is not None:
            dy = np.expand_dims(dy, self.axis)
        return (np.broadcast_to(dy, self.in_shape).copy(),)


def sum(x, axis=None):  # noqa: A001 - the op's name, as in NumPy
    return apply(Sum(axis), x)


class Mean(Op):
    """y = mean of x (over ``axis``, or all).  dx = dy / n broadcast back (n = count averaged)."""

    def __init__(self, axis=None):
        self.axis = axis

    def forward(self, x):
        self.in_shape = x.shape
        self.n = x.size if self.axis is None else x.shape[self.axis]
        return np.asarray(x.mean(axis=self.axis))

    def backward(self, dy, needs):
        if self.axis is not None:
            dy = np.expand_dims(dy, self.axis)
        return (np.broadcast_to(dy / self.n, self.in_shape).copy(),)


def mean(x, axis=None):
    return apply(Mean(axis), x)
