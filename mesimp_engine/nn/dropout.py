"""``Dropout`` as a module: inverted dropout in training, the identity in evaluation."""

from mesimp_engine import ops
from mesimp_engine.nn.init import as_rng
from mesimp_engine.nn.module import Module


class Dropout(Module):
    """Drops each element with probability ``p`` (and scales the rest by 1 / (1 - p)) while
    ``training``; masks come from ``rng`` so runs are reproducible."""

    def __init__(self, p, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = as_rng(rng)

    def forward(self, x):
        return ops.dropout(x, self.p, self.rng, self.training)
