"""Element-wise activations. Where the derivative is a function of the output
(tanh, sigmoid), the output is what forward saves; otherwise what the derivative needs
from the input (ReLU's mask x > 0, the cube's x^2)."""

import numpy as np

from mesimp_engine.graph import apply
from mesimp_engine.ops.base import Op


class Tanh(Op):
    """y = tanh(x).  dx = dy * (1 - y^2).  Any shape."""

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy, needs):
        return (dy * (1 - self.y * self.y),)


def tanh(x):
    return apply(Tanh(), x)


def stable_sigmoid(x):
    """1 / (1 + exp(-x)) as (1 + tanh(x / 2)) / 2: no overflow for large |x|. A new array."""
    y = np.tanh(x * 0.5)
    y += 1
    y *= 0.5
    return y


class Sigmoid(Op):
    """y = 1 / (1 + exp(-x)) (``stable_sigmoid``).  dx = dy * y * (1 - y).  Any shape."""

    def forward(self, x):
        self.y = stable_sigmoid(x)
        return self.y

    def backward(self, dy, needs):
        return (dy * self.y * (1 - self.y),)


def sigmoid(x):
    return apply(Sigmoid(), x)


class ReLU(Op):
    """y = max(x, 0).  dx = dy where x > 0, else 0 (0 at x = 0).  Any shape."""

    def forward(self, x):
        self.positive = x > 0
        return np.maximum(x, 0)

    def backward(self, dy, needs):
        return (dy * self.positive,)


def relu(x):
    return apply(ReLU(), x)


class Cube(Op):
    """y = x^3 (Chen & Manning's parser activation).  dx = 3 x^2 dy.  Any shape."""

    def forward(self, x):
        self.x2 = x * x
        return self.x2 * x

    def backward(self, dy, needs):
        dx = self.x2 * dy
        dx *= 3
        return (dx,)


def cube(x):
    return apply(Cube(), x)


class HardTanh(Op):
    """y = clip(x, -1, 1).  dx = dy where -1 < x < 1, else 0 (as PyTorch).  Any shape."""

    def forward(self, x):
        self.inside = (x > -1) & (x < 1)
        return np.clip(x, -1, 1)

    def backward(self, dy, needs):
        return (dy * self.inside,)


def hardtanh(x):
    return apply(HardTanh(), x)


class HardSigmoid(Op):
    """y = clip(x / 6 + 1/2, 0, 1) (PyTorch's definition; Theano/DyNet use 0.2 x + 0.5:
    we follow PyTorch so the op can be cross-checked).  dx = dy / 6 where -3 < x < 3."""

    def forward(self, x):
        self.inside = (x > -3) & (x < 3)
        return np.clip(x / 6 + 0.5, 0, 1)

    def backward(self, dy, needs):
        return (dy * self.inside / 6,)


def hardsigmoid(x):
    return apply(HardSigmoid(), x)
