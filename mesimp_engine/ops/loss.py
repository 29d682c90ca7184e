"""Softmax with cross-entropy on a gold class index per row."""

import numpy as np

from mesimp_engine.graph import apply
from mesimp_engine.ops.base import Op


class SoftmaxCrossEntropy(Op):
    """loss = reduce_b -log softmax(z_b)[gold_b], reduce = mean (default) or sum.

    z: (B, C) logits; gold: (B,) int class indices; valid: optional (B, C) bool mask of the
    classes allowed per row (the parser's legal transitions): invalid classes get
    probability 0 and no gradient. The gold class must be valid.
    dz = (softmax(z) - onehot(gold)) * dy / B  (without the 1/B for reduce = sum).
    """

    def __init__(self, gold, valid=None, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"SoftmaxCrossEntropy: reduction must be 'mean' or 'sum', not {reduction!r}")
        self.gold = np.asarray(gold)
        self.valid = None if valid is None else np.asarray(valid, dtype=bool)
        self.reduction = reduction

    def forward(self, z):
        B = z.shape[0] if z.ndim == 2 else -1
        if z.ndim != 2 or self.gold.shape != (B,):
            raise self.shape_error("logits must be (B, C) and gold (B,)", z.shape, self.gold.shape)
        rows = np.arange(B)
        if self.gold.size and (self.gold.min() < 0 or self.gold.max() >= z.shape[1]):
            raise ValueError(f"SoftmaxCrossEntropy: gold class out of range [0, {z.shape[1]})")
        if self.valid is not None:
            if self.valid.shape != z.shape:
                raise self.shape_error("the valid-class mask must have the logits' shape", z.shape, self.valid.shape)
            if not self.valid[rows, self.gold].all():
                raise ValueError("SoftmaxCrossEntropy: a gold class is masked as invalid")
            z = np.where(self.valid, z, -np.inf)
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        self.p = e / total
        nll = np.log(total[:, 0]) - shifted[rows, self.gold]
        loss = nll.sum()
        if self.reduction == "mean":
            loss = loss / max(B, 1)
        return np.asarray(loss, dtype=z.dtype)

    def backward(self, dy, needs):
        dz = self.p.copy()
        dz[np.arange(dz.shape[0]), self.gold] -= 1
        scale = dy / max(dz.shape[0], 1) if self.reduction == "mean" else dy
        dz *= scale
        return (dz,)


def softmax_cross_entropy(z, gold, valid=None, reduction="mean"):
    return apply(SoftmaxCrossEntropy(gold, valid, reduction), z)
