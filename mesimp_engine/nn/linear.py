"""``Linear``: y = x W^T + b with W of shape (out_features, in_features), and meProp."""

import numpy as np

from mesimp_engine.nn.init import as_rng, authors_normal, lecun_normal, uniform
from mesimp_engine.nn.module import Module
from mesimp_engine.parameter import Parameter
from mesimp_engine.sparsity.linear import check_options, meprop_affine, notify

NORMAL_INITS = {"authors": authors_normal, "lecun": lecun_normal}
"""The normal initialisations of W (their biases start at 0), by name."""
INITS = ("pytorch", *NORMAL_INITS)


class Linear(Module):
    """A fully connected layer.  x: (B, in) -> y: (B, out).

    Initialisation (``init``): "pytorch" (the default), W and b ~ U(-1/sqrt(in), 1/sqrt(in)),
    as PyTorch's ``nn.Linear``; or "authors", W ~ N(0, 6 / (in + out)) and b = 0, as the meProp
    authors' C# code (its ``GlorotNormalInit`` and bias tensors created empty); or "lecun", W ~
    N(0, 1 / in) and b = 0, Chainer's default (the DropBack authors' framework). The papers do
    not state their initialisation.

    meProp: with ``k`` set, the backward keeps only k of the output gradient's units per
    example (``mode`` "per_example", "unified" or "random"; "random" draws from
    ``select_rng``). After each backward, ``selected`` holds the kept units ((B, k), or (k,)
    for unified), ``updated_fraction`` the share of W's rows that received gradient, and
    every callable in ``selection_hooks`` is called as ``hook(selected, carried)``, carried
    being bool (B, k): which selections had a non-zero gradient (meSimp counts them there).
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32,
                 k=None, mode="per_example", select_rng=None, init="pytorch"):
        super().__init__()
        check_options("Linear", k, mode, select_rng)
        if init not in INITS:
            raise ValueError(f"Linear: init must be one of {INITS}, got {init!r}")
        rng = as_rng(rng)
        if init in NORMAL_INITS:
            weight = NORMAL_INITS[init](rng, (out_features, in_features), dtype)
            b = np.zeros(out_features, dtype) if bias else None
        else:
            bound = 1.0 / np.sqrt(in_features)
            weight = uniform(rng, (out_features, in_features), bound, dtype)
            b = uniform(rng, (out_features,), bound, dtype) if bias else None
        self.weight = Parameter(weight, "weight")
        self.bias = Parameter(b, "bias") if bias else None
        self.k, self.mode, self.select_rng = k, mode, select_rng
        self.selected, self.updated_fraction = None, 1.0
        self.selection_hooks = []

    @property
    def in_features(self):
        return self.weight.shape[1]

    @property
    def out_features(self):
        return self.weight.shape[0]

    def forward(self, x):
        name = self.weight.name.rpartition(".")[0] or "linear"
        k = self.k if self.training else None
        return meprop_affine(x, self.weight, self.bias, k, self.mode, self.select_rng,
                             on_select=self._record, name=name)

    def _record(self, selected, rows, dy):
        self.selected = selected
        self.updated_fraction = rows.size / self.out_features
        notify(self.selection_hooks, selected, dy)

    def __repr__(self):
        k = f", k={self.k}, mode={self.mode}" if self.k is not None else ""
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None}{k})"
