"""AdaGrad."""

import numpy as np

from mesimp_engine.kernels.optim_update import adagrad_step, adagrad_step_numpy, cast_scalars, flat_views
from mesimp_engine.optim.adam import EPS_FORMS
from mesimp_engine.optim.optimizer import Optimizer


def adagrad_update_(w, g, sum_sq, lr, eps, weight_decay=0.0, clip=None, eps_form="pytorch"):
    """One AdaGrad step in place (PyTorch's equations, initial accumulator 0, no lr decay),
    after an optional element-wise clip (``clip``):

        g <- clip(g, -clip, clip)                      (if clip)
        g <- g + weight_decay * w
        s <- s + g^2
        w <- w - lr * g / (sqrt(s) + eps)        (eps outside the square root: "pytorch")
        w <- w - lr * g / sqrt(s + eps)          (eps inside it: "authors")

    ``eps_form`` (EPS_FORMS): "pytorch", as ``torch.optim.Adagrad``; "authors", as the meProp
    authors' C# ``AdaGrad.Update`` (and Chen & Manning's parser). The papers do not say. The
    two differ where |g| is small: with eps 1e-6 inside, a first step moves a weight by
    lr g / sqrt(g^2 + 1e-6), under lr for |g| below 1e-3, where the PyTorch form moves it
    by about lr for any |g| above 1e-6. The arithmetic is in w's dtype, as in PyTorch.
    """
    args = cast_scalars(w.dtype, lr, eps, weight_decay, clip or 0.0)  # the kernel's 0: none
    inside = eps_form == "authors"  # checked by AdaGrad, as Adam checks its own
    flat = flat_views(w, g, sum_sq)
    if flat is None:
        adagrad_step_numpy(w, g, sum_sq, *args, inside)
    else:
        adagrad_step(*flat, *args, inside)


class AdaGrad(Optimizer):
    """AdaGrad (see ``adagrad_update_``). The papers: lr 0.01 (parsing, POS), 0.1 (MNIST),
    eps 1e-6. ``eps_form``: where eps goes (``adagrad_update_``). State: ``sum``."""

    def __init__(self, params, lr=0.01, eps=1e-6, weight_decay=0.0, clip=None, sparse=False, eps_form="pytorch"):
        super().__init__(params, sparse, clip)
        if eps_form not in EPS_FORMS:
            raise ValueError(f"AdaGrad: eps_form must be one of {EPS_FORMS}, got {eps_form!r}")
        self.lr, self.eps, self.weight_decay, self.eps_form = lr, eps, weight_decay, eps_form

    def init_state(self, w):
        return {"sum": np.zeros_like(w)}

    def update(self, w, g, state, t):
        adagrad_update_(w, g, state["sum"], self.lr, self.eps, self.weight_decay, self.clip, self.eps_form)
