"""The optimizer base: bookkeeping only; each optimizer's math is a pure function.

State lives on the parameter handle (``Parameter.state``), so trimming a parameter's rows
trims its optimizer state with it. ``step()`` updates every parameter from its ``grad``
(gradients are averaged over the mini-batch by the loss, not here).

Sparse-aware mode (``sparse=True``): only the rows that received gradient since the last
``zero_grad()`` are updated, and only their state changes. For Adam this means the moments
of untouched rows are not decayed and their weights do not move (as in PyTorch's
``SparseAdam``); the step counter still counts every step, so bias correction is global.
Dense mode (default) is the textbook update: every element decays, even with a zero gradient.

Embedding tables (``Parameter.row_sparse``) are always updated in the sparse way: a
sentence touches a few dozen of their thousands of rows (DyNet does the same for lookup
parameters).

Clipping (``clip``, every optimizer): each gradient element is clipped to [-clip, clip]
before the update, as the authors' C# optimizers do (their ``ClipBound``, 5 by default in
the meProp MNIST configuration). Off by default, as in PyTorch.
"""


import time

import numpy as np


class Optimizer:
    last_step_seconds = 0.0

    def __init__(self, params, sparse=False, clip=None):
        self.params = [p for p in params]
        if not self.params:
            raise ValueError(f"{type(self).__name__}: no parameters to optimize")
        if clip is not None and not clip > 0:
            raise ValueError(f"{type(self).__name__}: clip must be positive, got {clip}")
        self.sparse, self.clip = sparse, clip

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def updated_fraction(self):
        """The share of the weights that received a gradient since the last ``zero_grad()``
        (every row of a parameter whose gradient is dense; the touched rows of one that
        records them: meProp's weights, embedding tables)."""
        total = touched = 0
        for p in self.params:
            total += p.size
            rows = p.touched_rows()
            touched += p.size if rows is None else rows.size * (p.size // max(p.shape[0], 1))
        return touched / total if total else 0.0

    def reset_state(self, keep_step=False):
        """Forget the optimizer state (meSimp re-initialises it at every cycle).

        keep_step=False empties each parameter's state, as in a new optimizer. With
        keep_step=True the state arrays (moments, accumulators, momentum) are zeroed in
        place but Adam's step counter ``step`` goes on, as in the authors' C# code, whose
        ``Prepare`` clears the moment arrays and never resets its counter."""
        for p in self.params:
            if not keep_step:
                p.state.clear()
                continue
            for value in p.state.values():
                if isinstance(value, np.ndarray):
                    value[...] = 0

    def step(self):
        start = time.perf_counter()
        self._step()
        self.last_step_seconds = time.perf_counter() - start

    def _step(self):
        for p in self.params:
            if not p.requires_grad:
                continue
            rows = p.touched_rows() if self.sparse or p.row_sparse else None
            if rows is None:
                self.update(p.value, p.grad, self._state(p), self._count(p))
            elif rows.size:
                state = {k: v[rows] for k, v in self._state(p).items()}
                w = p.value[rows]
                self.update(w, p.grad[rows], state, self._count(p))
                p.value[rows] = w
                for k, v in state.items():
                    p.state[k][rows] = v
            else:
                self._count(p)

    def _count(self, p):
        """Advance and return the parameter's step counter (1 at the first step)."""
        t = p.state.get("step", 0) + 1
        p.state["step"] = t
        return t

    def _state(self, p):
        """The parameter's state arrays (created on first use by ``init_state``)."""
        arrays = {k: v for k, v in p.state.items() if k != "step"}
        if not arrays:
            arrays = self.init_state(p.value)
            p.state.update(arrays)
        return arrays

    def init_state(self, w):
        return {}

    def update(self, w, g, state, t):
        """Update ``w`` (and the arrays in ``state``) in place from gradient ``g`` at step ``t``."""
        raise NotImplementedError
