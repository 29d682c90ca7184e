"""Sparsified backward of a linear layer y = x W^T + b (meProp): the array kernels.

Shapes: x (B, n_in), W (n_out, n_in), dy (B, n_out); ``idx`` (B, k) holds, for each example b,
the k output units S_b whose gradient is kept. With the selected pairs (b, j), j in S_b:

    dx[b] = sum_{j in S_b} dy[b, j] W[j]                      (B, n_in)
    dW[j] = sum_{b : j in S_b} dy[b, j] x[b]                  only the selected rows

dW is returned compactly: ``rows`` (n_rows,) are the sorted units selected by any example,
``rank[j]`` is the position of unit j in ``rows`` (-1 if unselected), and ``dW_rows[r]`` is
the gradient of row ``rows[r]`` of W.

Both products walk the same list of pairs, so one fused pass computes them: the work is split
over column chunks ``[c0, c0 + chunk)`` of ``n_in`` (threads never write the same element),
and within a chunk the pairs are visited in one of two orders so that the smaller operand
stays in cache while the larger one streams through once:

- by example (``backward_by_example``): b outer, j inner; the chunk of W and of dW_rows
  (n_out x chunk each) stays in cache, x and dx stream. Best when n_out is small (parser, MNIST).
- by unit (``backward_by_unit``): j outer over an inverted index (for each selected unit, the
  examples that selected it, built by a counting sort), b inner; the chunk of x and of dx
  (B x chunk each) stays in cache, W and dW_rows stream. Best when n_out is large (Table 7).

Every kernel is an ``@njit(cache=True)`` function with caller-allocated outputs and has a NumPy
twin ``*_numpy`` of the same signature, used by the tests as the reference.
"""

import numpy as np
from numba import njit, prange


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
def invert_selection(idx, dy, rank, ptr, examples, values):
    """Counting sort of the pairs (b, j) by unit: the inverted index of the selection.

    idx (B, k) int64, dy (B, n_out), rank (n_out,) from ``selected_rows``. Outputs:
    ptr (n_rows + 1,) int64; examples (B*k,) int64 and values (B*k,) dy.dtype, where the pairs of
    row r = rank[j] are examples[ptr[r]:ptr[r+1]] (in increasing b) with values dy[b, j].
    """
    ptr[:] = 0
    for b in range(idx.shape[0]):
        for t in range(idx.shape[1]):
            ptr[rank[idx[b, t]] + 1] += 1
    for r in range(ptr.shape[0] - 1):
        ptr[r + 1] += ptr[r]
    fill = ptr[:-1].copy()
    for b in range(idx.shape[0]):
        for t in range(idx.shape[1]):
            j = idx[b, t]
            r = rank[j]
            p = fill[r]
            examples[p] = b
            values[p] = dy[b, j]
            fill[r] = p + 1


def invert_selection_numpy(idx, dy, rank, ptr, examples, values):
    """NumPy twin of ``invert_selection``."""
    B, k = idx.shape
    r = rank[idx].ravel()
    order = np.argsort(r, kind="stable")
    b = np.repeat(np.arange(B), k)
    examples[:] = b[order]
    values[:] = dy[b, idx.ravel()][order]
    ptr[:] = np.concatenate(([0], np.cumsum(np.bincount(r, minlength=ptr.shape[0] - 1))))


# ---------------------------------------------------------------------------------------------
# the fused products


def _by_example(x, W, dy, idx, rank, c0, c1, need_dx, dx, dW_rows):
    """Columns [c0, c1) of the products, pairs visited example by example."""
    # unsigned column indices: Numba then skips the negative-index fix-up and the loops vectorise
    u0, u1 = np.uint64(c0), np.uint64(c1)
    for r in range(dW_rows.shape[0]):
        dWr = dW_rows[r]
        for i in range(u0, u1):
            dWr[i] = 0
    for b in range(x.shape[0]):
        xb = x[b]
        dxb = dx[b] if need_dx else xb
        if need_dx:
            for i in range(u0, u1):
                dxb[i] = 0
        for t in range(idx.shape[1]):
            j = idx[b, t]
            v = dy[b, j]
            # dW[j] += dy[b, j] * x[b]
            dWj = dW_rows[rank[j]]
            for i in range(u0, u1):
                dWj[i] += v * xb[i]
            if need_dx:
                # dx[b] += dy[b, j] * W[j]
                Wj = W[j]
                for i in range(u0, u1):
                    dxb[i] += v * Wj[i]


_by_example_serial = njit(cache=True, fastmath=True)(_by_example)


@njit(cache=True, parallel=True, fastmath=True)
def backward_by_example(x, W, dy, idx, rank, chunk, need_dx, dx, dW_rows):
    """Fused meProp products, pairs visited example by example.

    x (B, n_in), W (n_out, n_in), dy (B, n_out), idx (B, k) int64, rank (n_out,) from
    ``selected_rows``; all C-contiguous. chunk: columns of n_in per task (chunk >= n_in runs
    serially, without the thread pool). Outputs (any initial content): dW_rows (n_rows, n_in)
    and, when need_dx, dx (B, n_in) (otherwise dx is not touched and may be any array of the
    dtype, e.g. of shape (0, 0)).
    """
    n_in = x.shape[1]
    if chunk >= n_in:
        _by_example_serial(x, W, dy, idx, rank, 0, n_in, need_dx, dx, dW_rows)
        return
    n_chunks = (n_in + chunk - 1) // chunk
    for c in prange(n_chunks):
        _by_example_serial(x, W, dy, idx, rank, c * chunk, min(c * chunk + chunk, n_in), need_dx, dx, dW_rows)


def backward_by_example_numpy(x, W, dy, idx, rank, chunk, need_dx, dx, dW_rows):
    """NumPy twin of ``backward_by_example`` (chunk is ignored)."""
    B, k = idx.shape
    v = np.take_along_axis(dy, idx, axis=1)
    dW_rows[:] = 0
    np.add.at(dW_rows, rank[idx].ravel(), (v[:, :, None] * x[:, None, :]).reshape(B * k, -1))
    if need_dx:
        dx[:] = np.einsum("bt,bti->bi", v, W[idx])


def _by_unit(x, W, rows, ptr, examples, values, c0, c1, need_dx, dx, dW_rows):
    """Columns [c0, c1) of the products, pairs visited unit by unit."""
    u0, u1 = np.uint64(c0), np.uint64(c1)
    if need_dx:
        for b in range(x.shape[0]):
            dxb = dx[b]
            for i in range(u0, u1):
                dxb[i] = 0
    for r in range(dW_rows.shape[0]):
        Wj = W[rows[r]]
        dWj = dW_rows[r]
        for i in range(u0, u1):
            dWj[i] = 0
        for p in range(ptr[r], ptr[r + 1]):
            b = examples[p]
            v = values[p]
            # dW[j] += dy[b, j] * x[b]
            xb = x[b]
            for i in range(u0, u1):
                dWj[i] += v * xb[i]
            if need_dx:
                # dx[b] += dy[b, j] * W[j]
                dxb = dx[b]
                for i in range(u0, u1):
                    dxb[i] += v * Wj[i]


_by_unit_serial = njit(cache=True, fastmath=True)(_by_unit)


@njit(cache=True, parallel=True, fastmath=True)
def backward_by_unit(x, W, rows, ptr, examples, values, chunk, need_dx, dx, dW_rows):
    """Fused meProp products, pairs visited unit by unit through the inverted index.

    x (B, n_in), W (n_out, n_in); rows (n_rows,) int64 from ``selected_rows``; ptr, examples,
    values from ``invert_selection``; all C-contiguous. chunk: columns of n_in per task
    (chunk >= n_in runs serially). Outputs (any initial content): dW_rows (n_rows, n_in) and,
    when need_dx, dx (B, n_in) (otherwise not touched).
    """
    n_in = x.shape[1]
    if chunk >= n_in:
        _by_unit_serial(x, W, rows, ptr, examples, values, 0, n_in, need_dx, dx, dW_rows)
        return
    n_chunks = (n_in + chunk - 1) // chunk
    for c in prange(n_chunks):
        _by_unit_serial(x, W, rows, ptr, examples, values, c * chunk, min(c * chunk + chunk, n_in), need_dx, dx, dW_rows)


def backward_by_unit_numpy(x, W, rows, ptr, examples, values, chunk, need_dx, dx, dW_rows):
    """NumPy twin of ``backward_by_unit`` (chunk is ignored)."""
    n_rows = dW_rows.shape[0]
    r = np.repeat(np.arange(n_rows), np.diff(ptr[: n_rows + 1]))
    dW_rows[:] = 0
    np.add.at(dW_rows, r, values[:, None] * x[examples])
    if need_dx:
        dx[:] = 0
        np.add.at(dx, examples, values[:, None] * W[rows[r]])


# ---------------------------------------------------------------------------------------------
# column sums of dy: the dense bias gradient and the unified score


@njit(cache=True, parallel=True)
def column_sums(dy, db, abs_sums):
    """db (n_out,) = sum_b dy[b]; abs_sums (n_out,) = sum_b |dy[b]|, in one pass over dy (B, n_out).

    The rows are split into two halves summed in parallel, then added.
    """
    B, n = dy.shape
    part = np.zeros((4, n), dtype=db.dtype)
    for h in prange(2):
        for b in range(h * B // 2, (h + 1) * B // 2):
            for j in range(n):
                part[h, j] += dy[b, j]
                part[2 + h, j] += abs(dy[b, j])
    for j in range(n):
        db[j] = part[0, j] + part[1, j]
        abs_sums[j] = part[2, j] + part[3, j]


def column_sums_numpy(dy, db, abs_sums):
    """NumPy twin of ``column_sums``."""
    np.sum(dy, axis=0, out=db)
    np.sum(np.abs(dy), axis=0, out=abs_sums)
