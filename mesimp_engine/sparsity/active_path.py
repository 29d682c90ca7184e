"""The op behind meAct: keep a layer's active units, replace the others by cached values."""

import numpy as np

from mesimp_engine.graph import apply
from mesimp_engine.ops.base import Op


class ActivePath(Op):
    """y = where(active, h, cached).  h, cached: (B, n); active: (B, n) bool.
    dh = dy where active, else 0 (an inactive unit receives no gradient).

    ``on_grad(dh)`` receives, in backward, the gradient each unit receives (B, n): dy where
    active, 0 where not. meAct accumulates its absolute values per example, so an inactive
    unit accumulates nothing.
    """

    def __init__(self, active, cached, on_grad=None):
        self.active, self.cached, self.on_grad = active, cached, on_grad

    def forward(self, h):
        if h.shape != self.active.shape or h.shape != self.cached.shape:
            raise self.shape_error("h, active and cached must have one shape", h.shape, self.active.shape,
                                   self.cached.shape)
        return np.where(self.active, h, self.cached)

    def backward(self, dy, needs):
        dh = dy * self.active
        if self.on_grad is not None:
            self.on_grad(dh)
        return (dh,)


def active_path(h, active, cached, on_grad=None):
    return apply(ActivePath(active, cached, on_grad), h)
