"""AdaGrad."""

import numpy as np

from mesimp_engine.kernels.optim_update import adagrad_step, adagrad_step_numpy, cast_scalars, flat_views
from mesimp_engine.optim.optimizer import Optimizer


def adagrad_update_(w, g, sum_sq, lr, eps, weight_decay=0.0, clip=None):
    """One AdaGrad step in place (PyTorch's equations, initial accumulator 0, no lr decay),
    after an optional element-wise clip (``clip``):

        g <- clip(g, -clip, clip)                      (if clip)
        g <- g + weight_decay * w
        s <- s + g^2
        w <- w - lr * g / (sqrt(s) + eps)        (eps outside the square root)

    The arithmetic is in w's dtype, as in PyTorch.
    """
    args = cast_scalars(w.dtype, lr, eps, weight_decay, clip or 0.0)  # the kernel's 0: none
    flat = flat_views(w, g, sum_sq)
    if flat is None:
        adagrad_step_numpy(w, g, sum_sq, *args)
    else:
        adagrad_step(*flat, *args)


class AdaGrad(Optimizer):
    """AdaGrad (see ``adagrad_update_``). The papers: lr 0.01 (parsing, POS), 0.1 (MNIST),
    eps 1e-6. State: ``sum``."""

    def __init__(self, params, lr=0.01, eps=1e-6, weight_decay=0.0, clip=None, sparse=False):
        super().__init__(params, sparse, clip)
        self.lr, self.eps, self.weight_decay = lr, eps, weight_decay

    def init_state(self, w):
        return {"sum": np.zeros_like(w)}

    def update(self, w, g, state, t):
        adagrad_update_(w, g, state["sum"], self.lr, self.eps, self.weight_decay, self.clip)
