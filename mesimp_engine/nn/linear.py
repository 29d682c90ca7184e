"""``Linear``: y = x W^T + b with W of shape (out_features, in_features)."""

import numpy as np

from mesimp_engine import ops
from mesimp_engine.nn.init import as_rng, uniform
from mesimp_engine.nn.module import Module
from mesimp_engine.parameter import Parameter


class Linear(Module):
    """A fully connected layer.  x: (B, in) -> y: (B, out).

    Initialisation as PyTorch's: W and b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        rng = as_rng(rng)
        bound = 1.0 / np.sqrt(in_features)
        self.weight = Parameter(uniform(rng, (out_features, in_features), bound, dtype), "weight")
        self.bias = Parameter(uniform(rng, (out_features,), bound, dtype), "bias") if bias else None

    @property
    def in_features(self):
        return self.weight.shape[1]

    @property
    def out_features(self):
        return self.weight.shape[0]

    def forward(self, x):
        return ops.affine(x, self.weight, self.bias, name=self.weight.name.rpartition(".")[0] or "linear")

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"
