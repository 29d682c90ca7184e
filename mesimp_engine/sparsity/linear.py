"""meProp inside the graph: the affine op whose backward keeps only the top-k of dy.

``MePropAffine`` computes the same forward as ``ops.affine`` (y = x W^T + b); its backward
selects, for each example (row of dy), k output units and back-propagates only those
(``sparsity.meprop``): dx and dW get k rows' worth of work per example, the bias gradient
stays dense, and dW arrives as a ``RowGrad`` so only the selected rows of W.grad are touched.

Modes: ``per_example`` (top-k of |dy[b]|, the papers' CPU engine), ``unified`` (one top-k of
the column sums of |dy| for the batch, the papers' GPU variant) and ``random`` (k uniformly
random units per example from an explicit generator, the papers' control).

``blocks`` splits the output units into equal consecutive blocks and selects k per block
(so k * blocks per example): an LSTM's four gates are four blocks, and the papers take the
top-k per gate. After each backward, ``on_select(selected, rows, dy)`` gets the selected
units (B, k * blocks), or (k * blocks,) for unified, the rows of W that received gradient,
and dy itself (``carried(dy, selected)`` tells which selections had a non-zero gradient):
that is how meSimp counts how often each unit is used.
"""

import numpy as np

from mesimp_engine.graph import RowGrad, apply
from mesimp_engine.ops import affine
from mesimp_engine.ops.linalg import Affine
from mesimp_engine.sparsity import meprop

MODES = ("per_example", "unified", "random")


def check_options(who, k, mode, rng):
    """Raise ValueError, naming ``who``, unless ``mode`` is one of MODES and, when meProp is
    on (``k`` not None), k >= 1 and mode "random" has its Generator ``rng``."""
    if mode not in MODES:
        raise ValueError(f"{who}: meProp mode must be one of {MODES}, got {mode!r}")
    if k is None:
        return
    if k < 1:
        raise ValueError(f"{who}: meProp needs k >= 1, got k={k}")
    if mode == "random" and rng is None:
        raise ValueError(f"{who}: meProp mode 'random' needs a numpy Generator")


def select(dy, k, mode, rng=None, blocks=1):
    """The units kept for each example: (B, k * blocks) int64, or (k * blocks,) for unified.

    dy (B, n_out) with n_out divisible by ``blocks``; k >= 1 per block (k >= block size keeps
    the whole block)."""
    B, n_out = dy.shape
    size = n_out // blocks
    if mode == "per_example":
        return meprop.select_per_example(dy, k, blocks=blocks)
    if blocks == 1:
        if mode == "unified":
            return meprop.select_unified(dy, k)
        return meprop.select_random(B, n_out, k, rng)
    if mode == "unified":
        return np.concatenate([meprop.select_unified(dy[:, o : o + size], k) + o for o in range(0, n_out, size)])
    return meprop.merge_blocks(meprop.select_random(B * blocks, size, k, rng), blocks, size)


def carried(dy, selected):
    """bool (B, k): True where the selected entry of dy is non-zero. ``selected`` is (B, k)
    per example, or (k,) shared by every row of dy (then column p is unit selected[p])."""
    if selected.ndim == 1:
        return dy[:, selected] != 0
    return np.take_along_axis(dy, selected, axis=1) != 0


def notify(hooks, selected, dy):
    """Call every ``hook(selected, carried)`` of a layer's ``selection_hooks`` (``carried``
    computed only when there is a hook)."""
    if hooks:
        nonzero = carried(dy, selected)
        for hook in hooks:
            hook(selected, nonzero)


class MePropAffine(Affine):
    """y = x W^T + b (x (B, in), W (out, in), b (out,)), with meProp's backward:
    dx[b] = sum_{j in S_b} dy[b, j] W[j];  dW[j] = sum_{b: j in S_b} dy[b, j] x[b];  db = sum_b dy.
    """

    def __init__(self, k, mode="per_example", rng=None, blocks=1, on_select=None):
        if k is None:
            raise ValueError("MePropAffine needs k >= 1, got None")
        check_options("MePropAffine", k, mode, rng)
        self.k, self.mode, self.rng, self.blocks, self.on_select = k, mode, rng, blocks, on_select

    def forward(self, x, W, b=None):
        if W.shape[0] % self.blocks:
            raise self.shape_error(f"{W.shape[0]} output units do not split into {self.blocks} blocks", W.shape)
        return super().forward(x, W, b)

    def backward(self, dy, needs):
        if self.k >= dy.shape[1] // self.blocks:
            return self._backward_keeping_all(dy, needs)
        return self._backward_sparse(dy, needs)

    def _backward_sparse(self, dy, needs):
        """The selection and the sparse products (any k >= 1: k at least the block size
        selects every unit and gives the dense gradients, more slowly than BLAS)."""
        dy = np.ascontiguousarray(dy)
        if self.mode == "per_example":
            idx, dx, rows, dW_rows, db = meprop.per_example(self.x, self.W, dy, self.k, self.blocks, needs[0])
            return self._finish(idx, dx, rows, dW_rows, db, dy, needs)
        idx = select(dy, self.k, self.mode, self.rng, self.blocks)
        if self.mode == "unified":
            dx, rows, dW_rows, db = meprop.backward_unified(self.x, self.W, dy, idx, need_dx=needs[0])
        else:
            dx, rows, dW_rows, db = meprop.backward_per_example(self.x, self.W, dy, idx, need_dx=needs[0])
        return self._finish(idx, dx, rows, dW_rows, db, dy, needs)

    def _finish(self, idx, dx, rows, dW_rows, db, dy, needs):
        if self.on_select is not None:
            self.on_select(idx, rows, dy)
        grads = (dx, RowGrad(rows, dW_rows) if needs[1] else None)
        return grads + ((db if needs[2] else None),) if len(needs) == 3 else grads

    def _backward_keeping_all(self, dy, needs):
        """k covers every unit (an output layer of 10 classes with k = 20): the dense
        backward is the exact meProp gradient, and BLAS computes it fastest."""
        grads = Affine.backward(self, dy, needs)
        if self.on_select is not None:
            every, selected = every_unit(dy.shape, self.mode == "unified")
            self.on_select(selected, every, dy)
        return grads


_every_unit = {}


def every_unit(shape, unified):
    """The selection that keeps every unit of a (B, n) gradient: (rows, selected), rows
    arange(n) and selected rows itself (unified) or broadcast to (B, n) (per example).
    Read-only arrays, made once per shape: in an MNIST training step, making them afresh
    (``np.broadcast_to`` builds an iterator in Python) took 15 us of the output layer's
    backward, with the interpreter's caches cold after the optimizer's pass over the weights."""
    key = (shape, unified)
    cached = _every_unit.get(key)
    if cached is None:
        every = np.arange(shape[1], dtype=np.int64)
        every.flags.writeable = False
        cached = _every_unit[key] = (every, every if unified else np.broadcast_to(every, shape))
    return cached


def meprop_affine(x, W, b=None, k=None, mode="per_example", rng=None, blocks=1, on_select=None, name=None):
    """``ops.affine`` with meProp's backward (the plain affine when k is None; k at least the
    block size keeps every unit, and gives the dense gradients through the same path)."""
    if k is None:
        return affine(x, W, b, name=name)
    op = MePropAffine(k, mode, rng, blocks, on_select)
    return apply(op, x, W, name=name) if b is None else apply(op, x, W, b, name=name)
