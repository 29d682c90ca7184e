"""Stochastic gradient descent with momentum, Nesterov, weight decay and clipping."""

import numpy as np

from mesimp_engine.optim.optimizer import Optimizer


def sgd_update_(w, g, buf, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, clip=None, first=False):
    """One SGD step in place, PyTorch's equations plus element-wise clipping first:

        g <- clip(g, -clip, clip)                      (if clip)
        g <- g + weight_decay * w
        buf <- g (first step) | momentum * buf + (1 - dampening) * g
        d <- g + momentum * buf (Nesterov) | buf        (if momentum) | g
        w <- w - lr * d
    """
    if clip is not None:
        g = np.clip(g, -clip, clip)
    if weight_decay:
        g = g + weight_decay * w
    if momentum:
        if first:
            buf[...] = g
        else:
            buf *= momentum
            buf += (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    w -= lr * g


class SGD(Optimizer):
    """SGD (see ``sgd_update_``). State: ``momentum_buffer`` when momentum > 0."""

    def __init__(self, params, lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, clip=None, sparse=False):
        super().__init__(params, sparse, clip)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.nesterov, self.weight_decay = nesterov, weight_decay

    def init_state(self, w):
        return {"momentum_buffer": np.zeros_like(w)} if self.momentum else {}

    def update(self, w, g, state, t):
        sgd_update_(
            w, g, state.get("momentum_buffer"), self.lr, self.momentum, self.dampening,
            self.nesterov, self.weight_decay, self.clip, first=(t == 1),
        )
