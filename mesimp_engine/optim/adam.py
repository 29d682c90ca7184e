"""Adam."""

import numpy as np

from mesimp_engine.kernels.optim_update import adam_coefficients, adam_step, adam_step_numpy, flat_views
from mesimp_engine.optim.optimizer import Optimizer


EPS_FORMS = ("pytorch", "authors")
"""Where Adam's eps goes. "pytorch": added to the bias-corrected sqrt(v / (1 - beta2^t)),
as ``torch.optim.Adam`` and the Adam paper's algorithm. "authors": added to the uncorrected
sqrt(v), the step size carrying the correction, lr sqrt(1 - beta2^t) / (1 - beta1^t), as the
meProp authors' C# ``Adam.Update`` (and the Adam paper's "efficient version"); in PyTorch's
form that is eps / sqrt(1 - beta2^t): 3.2e-7 at the first step, 1.26e-8 at the 1,000th,
1.002e-8 after an MNIST epoch of 5,500 steps. Run from the same weights and examples in
float64, the authors' program and this engine with "authors" agree to round-off (relative
loss difference at most 3.4e-13 over the first 200 steps, weights within 3.5e-15 after
100; tests/train/test_authors_crosscheck.py); with "pytorch" they part at the second step
(9.3e-6). The papers do not say."""


def adam_update_(w, g, m, v, t, lr, beta1, beta2, eps, weight_decay=0.0, clip=None, eps_form="pytorch"):
    """One Adam step in place: PyTorch's ``torch.optim.Adam`` (L2 weight decay added to the
    gradient, not AdamW; bias correction with the step count t >= 1; eps added after the
    bias-corrected square root, or before it with ``eps_form="authors"``, see EPS_FORMS),
    after an optional element-wise clip (``clip``; the authors' C# Adam clips at 5):

        g <- clip(g, -clip, clip)                      (if clip)
        g <- g + weight_decay * w
        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The arithmetic is in w's dtype (float32 for the engine's weights), as in PyTorch. One
    departure from PyTorch: a first moment too small for its step (lr / (1 - beta1^t) * m
    / divisor) to be a normal number, and a second moment below the dtype's smallest normal
    number, are stored as 0 (subnormal arithmetic made the update 2-6x slower; the flushed
    moments move no weight, see ``kernels.optim_update.adam_step``).
    """
    if eps_form == "authors":
        eps = eps / (1 - beta2**t) ** 0.5
    args = adam_coefficients(w.dtype, lr, beta1, beta2, eps, weight_decay, t, clip or 0.0)  # the kernel's 0: none
    flat = flat_views(w, g, m, v)
    if flat is None:
        adam_step_numpy(w, g, m, v, *args)
    else:
        adam_step(*flat, *args)


class Adam(Optimizer):
    """Adam (see ``adam_update_``). Defaults are the papers': lr 0.001, betas (0.9, 0.999),
    eps 1e-8, no clipping, PyTorch's eps form (``eps_form``, see EPS_FORMS). State:
    ``exp_avg``, ``exp_avg_sq``, ``step``."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, clip=None, sparse=False,
                 eps_form="pytorch"):
        if eps_form not in EPS_FORMS:
            raise ValueError(f"Adam: eps_form must be one of {EPS_FORMS}, got {eps_form!r}")
        super().__init__(params, sparse, clip)
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay
        self.eps_form = eps_form

    def init_state(self, w):
        return {"exp_avg": np.zeros_like(w), "exp_avg_sq": np.zeros_like(w)}

    def update(self, w, g, state, t):
        adam_update_(w, g, state["exp_avg"], state["exp_avg_sq"], t, self.lr, *self.betas, self.eps, self.weight_decay,
                    self.clip, self.eps_form)
