"""Inverted dropout."""

from mesimp_engine.graph import apply
from mesimp_engine.ops.base import Op


class Dropout(Op):
    """y = x * m / (1 - p) with m ~ Bernoulli(1 - p) drawn from ``rng``.  dx = dy * m / (1 - p).

    Inverted: the scaling happens in training, so evaluation is the identity.
    """

    def __init__(self, p, rng):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.rng = p, rng

    def forward(self, x):
        keep = self.rng.random(x.shape) >= self.p
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * self.mask

    def backward(self, dy, needs):
        return (dy * self.mask,)


def dropout(x, p, rng, training=True):
    """Inverted dropout of rate ``p``; the identity (no node) when not training or p = 0."""
    if not training or p == 0:
        return x
    return apply(Dropout(p, rng), x)
