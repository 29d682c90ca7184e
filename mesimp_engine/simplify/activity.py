"""``ActivityRecord``: how often each unit of a prunable layer was in an example's top-k.

meSimp keeps, per hidden layer, ``hits[j]`` = the number of examples for which unit j was
among the k selected gradient entries, and ``seen`` = the number of examples since the
last prune. At a prune point unit j survives iff ``hits[j] >= floor(prune_rate * seen)``;
then the layer is trimmed (``simplify.prune``), the record with it, and the record is reset.

LSTM rule. The unit of pruning is the memory cell, but top-k is taken per gate. The paper
says the gates' top-k indices are merged into the cell's record ("obtain top-k indices
gates merge top-k indices records gates record pruning memory cells"). We read "merge" as
a per-example union: cell j is hit by an example if ANY of its four gates selected j for
that example, so ``hits[j] <= seen`` still holds and one prune rate means the same thing
for an LSTM as for an MLP layer. (Summing the four gates' counts instead would let a cell
reach up to 4 * seen hits and make the same prune rate four times weaker.)

Only selections that carry a gradient count (``carried``): a selected entry whose gradient
is exactly zero (a ReLU unit that was off for that example, a unit no loss reached)
updates nothing, and "seldom updated" is what the paper prunes. It matters where an
example has fewer than k non-zero gradients, above all once a layer is no wider than k:
counting every selection there would make every unit of a layer of width <= k "used" by
every example, and no layer could shrink below k, while the paper's MNIST layers end at
154 on average with k = 160. The authors' C# code reaches the same effect by masking
pruned units instead of removing them and taking the top-k over the full width, where
the zeros of masked and inactive units fill the slots that non-zero gradients leave free
(its heap keeps the zeros it met first, so there a few low-index inactive units get
counted too; we count none).
"""

import math

import numpy as np

GATES = 4


class ActivityRecord:
    """Per-unit hit counts of one prunable layer.

    hits: (n_units,) int64, examples that selected each unit since the last reset.
    seen: int, examples since the last reset.
    """

    def __init__(self, n_units):
        if n_units < 1:
            raise ValueError(f"ActivityRecord: n_units must be >= 1, got {n_units}")
        self.hits = np.zeros(n_units, dtype=np.int64)
        self.seen = 0

    @property
    def n_units(self):
        return self.hits.shape[0]

    def __repr__(self):
        return f"ActivityRecord(n_units={self.n_units}, seen={self.seen})"

    def update(self, selected, batch_size=None, carried=None):
        """Count one top-k selection per example.

        selected: int (B, k), row b = the units example b selected (per-example meProp);
        or (k,), one set shared by a whole mini-batch of ``batch_size`` examples (unified
        meProp), which then counts once for each of them. A unit listed twice in a row
        counts once for that example. Indices must lie in [0, n_units).
        carried: None (every selection counts) or bool (B, k), True where the selected
        entry's gradient was non-zero (for a shared selection, column p of row b is unit
        selected[p] in example b); only those count (see the module docstring).
        """
        selected = np.asarray(selected)
        if selected.dtype.kind not in "iu":
            raise TypeError(f"ActivityRecord.update: selected must be integer, got {selected.dtype}")
        if selected.ndim not in (1, 2):
            raise ValueError(f"ActivityRecord.update: selected must be (B, k) or (k,), got {selected.shape}")
        if selected.ndim == 1 and batch_size is None:
            raise ValueError("ActivityRecord.update: a shared (k,) selection needs batch_size")
        if selected.ndim == 2 and batch_size is not None and batch_size != selected.shape[0]:
            raise ValueError(f"ActivityRecord.update: batch_size {batch_size} != {selected.shape[0]} rows of selected")
        if carried is not None:
            carried = np.asarray(carried, dtype=bool)
            rows = batch_size if selected.ndim == 1 else selected.shape[0]
            if carried.shape != (rows, selected.shape[-1]):
                raise ValueError(f"ActivityRecord.update: carried {carried.shape} does not match "
                                 f"{rows} examples x {selected.shape[-1]} selections")
            if selected.ndim == 1:
                selected = np.broadcast_to(selected, carried.shape)
        if selected.ndim == 1:
            units = self._check(np.unique(selected))
            self.hits[units] += batch_size
            self.seen += int(batch_size)
            return
        self._check(selected)
        # one count per distinct (example, unit): sort each row, drop repeats (and, with
        # ``carried``, the entries that carried no gradient, moved to the front as -1)
        rows = np.sort(selected if carried is None else np.where(carried, selected, -1), axis=1)
        first = np.ones(rows.shape, dtype=bool)
        first[:, 1:] = rows[:, 1:] != rows[:, :-1]
        first &= rows >= 0
        self.hits += np.bincount(rows[first], minlength=self.n_units)
        self.seen += selected.shape[0]

    def update_gates(self, gate_selected, batch_size=None, carried=None):
        """Merge an LSTM's per-gate selections into this cell record (see the module
        docstring): a cell counts once per example if any gate selected it.

        gate_selected: a sequence of arrays (one per gate, any number of gates), each of
        cell indices in [0, n_units), all (B, k_g) with the same B or all (k_g,) shared by
        ``batch_size`` examples; or a single array of indices into the fused (4 * n_units)
        pre-activation (gates stacked i, f, g, o), which are mapped to cells by ``% n_units``.
        carried: as in ``update``, for the concatenated gates (one bool array, or one per
        gate): a cell counts when any gate carried a gradient through it.
        """
        if isinstance(gate_selected, np.ndarray):
            fused = self._check(gate_selected, GATES * self.n_units)
            self.update(fused % self.n_units, batch_size, carried)
            return
        parts = [np.asarray(s) for s in gate_selected]
        if not parts:
            raise ValueError("ActivityRecord.update_gates: no gate selections")
        ndims = {p.ndim for p in parts}
        if len(ndims) != 1:
            raise ValueError("ActivityRecord.update_gates: mix of shared (k,) and per-example (B, k) selections")
        if carried is not None and not isinstance(carried, np.ndarray):
            carried = np.concatenate([np.asarray(c, dtype=bool) for c in carried], axis=1)
        self.update(np.concatenate(parts, axis=parts[0].ndim - 1), batch_size, carried)

    def keep_mask(self, prune_rate, min_units=1):
        """(n_units,) bool: unit j survives iff hits[j] >= floor(prune_rate * seen).

        The rate is the decimal the user wrote: a product within 1e-9 below an integer
        counts as that integer (0.29 * 100 is 28.999999999999996 in binary floating point).
        If fewer than ``min_units`` would survive (the rule can remove every unit: all
        hits below the threshold), the ``min_units`` most-hit units are kept instead
        (ties to the lower index), so a layer never vanishes and the network stays
        connected.
        """
        if not 0.0 <= prune_rate <= 1.0:
            raise ValueError(f"keep_mask: prune_rate must be in [0, 1], got {prune_rate}")
        if not 1 <= min_units:
            raise ValueError(f"keep_mask: min_units must be >= 1, got {min_units}")
        keep = self.hits >= self.threshold(prune_rate)
        if keep.sum() < min(min_units, self.n_units):
            order = np.argsort(-self.hits, kind="stable")
            keep = np.zeros(self.n_units, dtype=bool)
            keep[order[:min_units]] = True
        return keep

    def threshold(self, prune_rate):
        """floor(prune_rate * seen), the fewest hits a unit needs to survive."""
        return math.floor(prune_rate * self.seen + 1e-9)

    def reset(self):
        """Start a new statistical interval: zero hits, zero seen."""
        self.hits[:] = 0
        self.seen = 0

    def trim_(self, keep):
        """Keep only the units in ``keep`` (bool mask (n_units,) or sorted int indices), as
        their layer is trimmed; ``seen`` is unchanged."""
        keep = np.asarray(keep)
        if keep.dtype == bool:
            if keep.shape != (self.n_units,):
                raise ValueError(f"ActivityRecord.trim_: mask of shape {keep.shape} for {self.n_units} units")
            keep = np.flatnonzero(keep)
        else:
            self._check(keep)
        self.hits = np.ascontiguousarray(self.hits[keep])
        return self

    def _check(self, index, n=None):
        n = self.n_units if n is None else n
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"ActivityRecord: unit index out of range [0, {n})")
        return index
