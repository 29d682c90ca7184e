"""Sparsified backward of a linear layer y = x W^T + b (meProp): the array kernels.

Shapes: x (B, n_in), W (n_out, n_in), dy (B, n_out); ``idx`` (B, k) holds, for each example b,
the k output units S_b whose gradient is kept. With the selected pairs (b, j), j in S_b:

    dx[b] = sum_{j in S_b} dy[b, j] W[j]                      (B, n_in)
    dW[j] = sum_{b : j in S_b} dy[b, j] x[b]                  only the selected rows

dW is returned compactly: ``rows`` (n_rows,) are the sorted units selected by any example,
``rank[j]`` is the position of unit j in ``rows`` (-1 if unselected), and ``dW_rows[r]`` is
the gradient of row ``rows[r]`` of W.

The selection is a sparse (B, n_out) matrix with k entries per row, so both products are
sparse-times-dense, bound by memory traffic rather than arithmetic. ``sparse_backward`` computes
dx row by row from the selection (each dx[b] sums k rows of W) and dW row by row from its
inverted index (built by ``invert_selection``, a counting sort: each dW row sums the rows of x
of the examples that selected it), one block of examples at a time so that the block's rows
of x are read from cache by every unit that uses them; both inner loops add four scaled rows per pass over the
output row, so an output element is loaded and stored once per four FMAs. Threads split the
n_in columns into slices (no two write the same element). Column indices are unsigned in the
inner loops: with signed ones Numba adds a negative-index fix-up that stops LLVM from
vectorising them (measured 5-8x slower).

Every kernel is an ``@njit(cache=True)`` function with caller-allocated outputs and has a NumPy
twin ``*_numpy`` of the same signature, used by the tests as the reference.
"""

import numpy as np
from numba import njit, prange

from mesimp_engine.kernels.magnitude_key import magnitude_bits
from mesimp_engine.kernels.topk_filter import filter_rows
from mesimp_engine.kernels.topk_reference import topk_rows_numpy


# ---------------------------------------------------------------------------------------------
# which rows of W receive a gradient


@njit(cache=True)
def selected_rows(idx, rows, rank):
    """Mark the units selected by any example.

    idx (B, k) int64 in [0, n_out). Outputs: rank (n_out,) int64, set to the position of unit j
    in the sorted list of selected units, or -1; rows (n_out,) int64, whose first n_rows
    entries become that sorted list. Returns n_rows.
    """
    rank[:] = -1
    for b in range(idx.shape[0]):
        for t in range(idx.shape[1]):
            rank[idx[b, t]] = 0
    n_rows = 0
    for j in range(rank.shape[0]):
        if rank[j] == 0:
            rank[j] = n_rows
            rows[n_rows] = j
            n_rows += 1
    return n_rows


def selected_rows_numpy(idx, rows, rank):
    """NumPy twin of ``selected_rows``."""
    mask = np.zeros(rank.shape[0], dtype=bool)
    mask[idx.ravel()] = True
    chosen = np.flatnonzero(mask)
    rank[:] = -1
    rank[chosen] = np.arange(chosen.size)
    rows[: chosen.size] = chosen
    return chosen.size


# ---------------------------------------------------------------------------------------------
# inverted index: for each selected unit, the examples that selected it


@njit(cache=True)
def invert_selection(idx, dy, rank, n_rows, block, ptr, examples, values):
    """Counting sort of the pairs (b, j) by example block, then unit: the inverted index of the
    selection, one per block of ``block`` consecutive examples.

    idx (B, k) int64, dy (B, n_out), rank (n_out,) and n_rows from ``selected_rows``. Outputs: ptr (n_blocks * n_rows + 1,) int64 with n_blocks = ceil(B / block); examples
    (B*k,) int64 and values (B*k,) dy.dtype, where the pairs of selected unit r in block q
    are examples[ptr[q * n_rows + r] : ptr[q * n_rows + r + 1]] (in increasing b) with values
    dy[b, j].
    """
    ptr[:] = 0
    for b in range(idx.shape[0]):
        base = (b // block) * n_rows + 1
        for t in range(idx.shape[1]):
            ptr[base + rank[idx[b, t]]] += 1
    for r in range(ptr.shape[0] - 1):
        ptr[r + 1] += ptr[r]
    fill = ptr[:-1].copy()
    for b in range(idx.shape[0]):
        base = (b // block) * n_rows
        for t in range(idx.shape[1]):
            j = idx[b, t]
            q = base + rank[j]
            p = fill[q]
            examples[p] = b
            values[p] = dy[b, j]
            fill[q] = p + 1


def invert_selection_numpy(idx, dy, rank, n_rows, block, ptr, examples, values):
    """NumPy twin of ``invert_selection``."""
    B, k = idx.shape
    n_slots = ptr.shape[0] - 1
    b = np.repeat(np.arange(B), k)
    key = (b // block) * n_rows + rank[idx].ravel()
    order = np.argsort(key, kind="stable")
    examples[:] = b[order]
    values[:] = dy[b, idx.ravel()][order]
    ptr[:] = np.concatenate(([0], np.cumsum(np.bincount(key, minlength=n_slots))))


# ---------------------------------------------------------------------------------------------
# the products


def _dx_by_example(W, dy, idx, c0, c1, dx):
    """Columns [c0, c1) of dx[b] = sum_t dy[b, idx[b, t]] W[idx[b, t]]."""
    # unsigned column indices: Numba then skips the negative-index fix-up and the loops vectorise
    u0, u1 = np.uint64(c0), np.uint64(c1)
    k = idx.shape[1]
    for b in range(dx.shape[0]):
        dxb = dx[b]
        for i in range(u0, u1):
            dxb[i] = 0
        t = 0
        # four rows of W per pass over dx[b]: one load and store of dx per four FMAs
        while t + 4 <= k:
            j0, j1, j2, j3 = idx[b, t], idx[b, t + 1], idx[b, t + 2], idx[b, t + 3]
            v0, v1, v2, v3 = dy[b, j0], dy[b, j1], dy[b, j2], dy[b, j3]
            W0, W1, W2, W3 = W[j0], W[j1], W[j2], W[j3]
            for i in range(u0, u1):
                dxb[i] += v0 * W0[i] + v1 * W1[i] + v2 * W2[i] + v3 * W3[i]
            t += 4
        while t < k:
            j0 = idx[b, t]
            v0, W0 = dy[b, j0], W[j0]
            for i in range(u0, u1):
                dxb[i] += v0 * W0[i]
            t += 1


def _dW_by_unit(x, ptr, examples, values, c0, c1, dW_rows):
    """Columns [c0, c1) of dW_rows[r] = sum over the pairs p of unit r of values[p] x[examples[p]],
    block of examples by block: the rows of x of one block stay in cache while every unit that
    the block selected reads them (unit by unit over all examples, each row of x would be read
    once per unit that selected it, from main memory)."""
    u0, u1 = np.uint64(c0), np.uint64(c1)
    n_rows = dW_rows.shape[0]
    for r in range(n_rows):
        d = dW_rows[r]
        for i in range(u0, u1):
            d[i] = 0
    if n_rows == 0:
        return
    for q in range((ptr.shape[0] - 1) // n_rows):
        for r in range(n_rows):
            p, end = ptr[q * n_rows + r], ptr[q * n_rows + r + 1]
            d = dW_rows[r]
            # four examples per pass over dW[r]
            while p + 4 <= end:
                x0, x1, x2, x3 = x[examples[p]], x[examples[p + 1]], x[examples[p + 2]], x[examples[p + 3]]
                v0, v1, v2, v3 = values[p], values[p + 1], values[p + 2], values[p + 3]
                for i in range(u0, u1):
                    d[i] += v0 * x0[i] + v1 * x1[i] + v2 * x2[i] + v3 * x3[i]
                p += 4
            while p < end:
                v0, x0 = values[p], x[examples[p]]
                for i in range(u0, u1):
                    d[i] += v0 * x0[i]
                p += 1


_dx_by_example_serial = njit(cache=True, fastmath=True)(_dx_by_example)
_dW_by_unit_serial = njit(cache=True, fastmath=True)(_dW_by_unit)


@njit(cache=True, parallel=True, fastmath=True)
def sparse_backward(x, W, dy, idx, ptr, examples, values, chunk, need_dx, dx, dW_rows):
    """The meProp products for a selection idx (B, k) int64 and its inverted index.

    x (B, n_in), W (n_out, n_in), dy (B, n_out), idx (B, k); ptr, examples, values from
    ``invert_selection``; all C-contiguous. Outputs (any initial content): dW_rows
    (n_rows, n_in), dW_rows[r] = sum of dy[b, j] x[b] over the examples b that selected the r-th
    selected unit j; when need_dx, dx (B, n_in), dx[b] = sum_{j in idx[b]} dy[b, j] W[j]
    (otherwise dx is not touched and may be any array of the dtype, e.g. of shape (0, 0)).

    dx is computed example by example (reading k rows of W), dW unit by unit (reading the rows
    of x of the examples that selected the unit), so every output row is written by one loop.
    Threads split the n_in columns into tasks of ``chunk`` columns (so they never write the same
    element); chunk >= n_in runs serially, without the thread pool.
    """
    n_in = x.shape[1]
    if chunk >= n_in:
        _dW_by_unit_serial(x, ptr, examples, values, 0, n_in, dW_rows)
        if need_dx:
            _dx_by_example_serial(W, dy, idx, 0, n_in, dx)
        return
    n_chunks = (n_in + chunk - 1) // chunk
    for c in prange(n_chunks):
        c0, c1 = c * chunk, min(c * chunk + chunk, n_in)
        _dW_by_unit_serial(x, ptr, examples, values, c0, c1, dW_rows)
        if need_dx:
            _dx_by_example_serial(W, dy, idx, c0, c1, dx)


def sparse_backward_numpy(x, W, dy, idx, ptr, examples, values, chunk, need_dx, dx, dW_rows):
    """NumPy twin of ``sparse_backward`` (chunk is ignored)."""
    n_rows = dW_rows.shape[0]
    r = np.repeat(np.arange(ptr.shape[0] - 1) % max(n_rows, 1), np.diff(ptr))
    dW_rows[:] = 0
    np.add.at(dW_rows, r, values[:, None] * x[examples])
    if need_dx:
        v = np.take_along_axis(dy, idx, axis=1)
        dx[:] = np.einsum("bt,bti->bi", v, W[idx])


# ---------------------------------------------------------------------------------------------
# small problems: selection and products in one call


@njit(cache=True, fastmath=True)
def select_and_backward(x, W, dy, k, blocks, work, need_dx, idx, rows, rank, dx, dW_rows, db):
    """Per-example meProp backward of a small problem in one call: the top-k of each block of
    each row of dy, then dx, the selected rows of dW and db (the work of ``topk``,
    ``selected_rows``, ``invert_selection`` and ``sparse_backward``, without their separate
    calls, which cost more than the arithmetic at a mini-batch of 10).

    x (B, n_in), W (n_out, n_in), dy (B, n_out), n_out = blocks * size, 1 <= k < size;
    work the top-k filter's buffer for rows of ``size`` (``topk_filter.filter_work``, in
    dy's key dtype; its guess state carries over from one mini-batch to the next).
    Outputs: idx (B, blocks * k) int64, the selected units of each example (ascending); rows, rank (n_out,) as in ``selected_rows``; dx (B, n_in)
    when need_dx; dW_rows (>= n_rows, n_in): row r = sum over the examples b that selected
    unit rows[r] of dy[b, rows[r]] x[b] (in increasing b); db (n_out,) = dy.sum(0).
    Returns n_rows. Serial: at this size a parallel region costs more than it saves.
    """
    B, n_out = dy.shape
    size = n_out // blocks
    selected = idx.reshape(B * blocks, k)
    filter_rows(magnitude_bits(dy).reshape(B * blocks, size), 0, B * blocks, k, work, selected)
    if blocks > 1:
        for r in range(B * blocks):
            offset = (r % blocks) * size
            for t in range(k):
                selected[r, t] += offset
    n_rows = selected_rows(idx, rows, rank)
    # the (example, value) pairs of each selected row, in increasing b (the inverted index
    # with one block), so that each dW row is written once, its first pair storing and the
    # others adding: no zeroing pass and no read-modify-write of rows one example selected
    ptr = np.empty(n_rows + 1, np.int64)
    examples = np.empty(idx.size, np.int64)
    values = np.empty(idx.size, dy.dtype)
    invert_selection(idx, dy, rank, n_rows, B, ptr, examples, values)
    n_in = np.uint64(x.shape[1])
    for r in range(n_rows):
        d = dW_rows[r]
        v = values[ptr[r]]
        xb = x[examples[ptr[r]]]
        for i in range(n_in):
            d[i] = v * xb[i]
        for p in range(ptr[r] + 1, ptr[r + 1]):
            v = values[p]
            xb = x[examples[p]]
            for i in range(n_in):
                d[i] += v * xb[i]
    if need_dx:
        _dx_by_example_serial(W, dy, idx, 0, x.shape[1], dx)
    for j in range(n_out):
        db[j] = 0
    for b in range(B):
        dyb = dy[b]
        for j in range(n_out):
            db[j] += dyb[j]
    return n_rows


def select_and_backward_numpy(x, W, dy, k, blocks, work, need_dx, idx, rows, rank, dx, dW_rows, db):
    """NumPy twin of ``select_and_backward`` (the work buffer is unused)."""
    B, n_out = dy.shape
    size = n_out // blocks
    per_block = np.empty((B * blocks, k), np.int64)
    topk_rows_numpy(dy.reshape(B * blocks, size), k, per_block)
    idx[:] = (per_block.reshape(B, blocks, k) + (np.arange(blocks) * size)[None, :, None]).reshape(B, blocks * k)
    n_rows = selected_rows_numpy(idx, rows, rank)
    dW_rows[:n_rows] = 0
    pairs_b = np.repeat(np.arange(B), idx.shape[1])
    np.add.at(dW_rows, rank[idx.ravel()], dy[pairs_b, idx.ravel()][:, None] * x[pairs_b])
    if need_dx:
        dx[:] = np.einsum("bt,bti->bi", np.take_along_axis(dy, idx, axis=1), W[idx])
    db[:] = dy.sum(axis=0)
    return n_rows


# ---------------------------------------------------------------------------------------------
# column sums of dy: the dense bias gradient and the unified score


@njit(cache=True, fastmath=True)
def column_sums(dy, db, abs_sums):
    """db (n_out,) = sum_b dy[b]; abs_sums (n_out,) = sum_b |dy[b]|, in one pass over dy (B, n_out).

    Serial on purpose: it runs right before BLAS calls (unified meProp), and a parallel region
    here leaves the thread pool spinning while BLAS wants the cores.
    """
    db[:] = 0
    abs_sums[:] = 0
    for b in range(dy.shape[0]):
        dyb = dy[b]
        for j in range(dyb.shape[0]):
            db[j] += dyb[j]
            abs_sums[j] += abs(dyb[j])


def column_sums_numpy(dy, db, abs_sums):
    """NumPy twin of ``column_sums``."""
    np.sum(dy, axis=0, out=db)
    np.sum(np.abs(dy), axis=0, out=abs_sums)
