"""Element-wise arithmetic with NumPy broadcasting: ``add``, ``sub``, ``mul``.

Where an input was broadcast, its gradient is summed back to its own shape.
"""

import numpy as np

from mesimp_engine.graph import apply
from mesimp_engine.ops.base import Op


def unbroadcast(g, shape):
    """Sum ``g`` over the axes along which an array of ``shape`` was broadcast."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


class _Binary(Op):
    def forward(self, a, b):
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise self.shape_error("shapes do not broadcast", a.shape, b.shape) from None
        self.shapes = (a.shape, b.shape, shape)
        return self.compute(a, b)


class Add(_Binary):
    """y = a + b.  da = dy, db = dy (summed over broadcast axes)."""

    def compute(self, a, b):
        return a + b

    def backward(self, dy, needs):
        sa, sb, _ = self.shapes
        return (unbroadcast(dy, sa) if needs[0] else None, unbroadcast(dy, sb) if needs[1] else None)


def add(a, b):
    return apply(Add(), a, b)


class Sub(_Binary):
    """y = a - b.  da = dy, db = -dy (summed over broadcast axes)."""

    def compute(self, a, b):
        return a - b

    def backward(self, dy, needs):
        sa, sb, _ = self.shapes
        return (unbroadcast(dy, sa) if needs[0] else None, unbroadcast(-dy, sb) if needs[1] else None)


def sub(a, b):
    return apply(Sub(), a, b)


class Mul(_Binary):
    """y = a * b.  da = dy * b, db = dy * a (summed over broadcast axes)."""

    def compute(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, dy, needs):
        sa, sb, _ = self.shapes
        da = unbroadcast(dy * self.b, sa) if needs[0] else None
        db = unbroadcast(dy * self.a, sb) if needs[1] else None
        return da, db


def mul(a, b):
    return apply(Mul(), a, b)
