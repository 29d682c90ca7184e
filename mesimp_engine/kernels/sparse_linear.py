"""Sparsified backward of a linear layer y = x W^T + b (meProp): the array kernels.

Shapes: x (B, n_in), W (n_out, n_in), dy (B, n_out); ``idx`` (B, k) holds, for each example b,
the k output units S_b whose gradient is kept. With the selected pairs (b, j), j in S_b:

    dx[b] = sum_{j in S_b} dy[b, j] W[j]                      (B, n_in)
    dW[j] = sum_{b : j in S_b} dy[b, j] x[b]                  only the selected rows

dW is returned compactly: ``rows`` (n_rows,) are the sorted units selected by any example,
``rank[j]`` is the position of unit j in ``rows`` (-1 if unselected), and ``dW_rows[r]`` is
the gradient of row ``rows[r]`` of W.

The selection is a sparse (B, n_out) matrix with k entries per row, so both products are
sparse-times-dense, bound by memory traffic as much as by arithmetic. ``sparse_backward``
computes dx row by row from the selection (each dx[b] sums k rows of W) and dW row by row
from its inverted index (built by ``invert_selection``, a counting sort: each dW row sums the
rows of x of the examples that selected it), one block of examples at a time so that the
block's rows of x are read from cache by every unit that uses them. ``unified_backward`` does
unified meProp (one unit set for the batch) as two dense products, g^T x and g W[kept], in
4 x 4 outer-product tiles. The sums are register tiles (``row_tiles``): up to 16 vectors of
an output row held in registers across all of its terms, loaded and stored once, starting
where the rows are 64-byte aligned. Threads split the n_in columns into slices (no two write
the same element). The loops over the few columns outside whole aligned vectors
(``_dx_by_example``, ``_dW_by_unit``, ``_dW_columns``) use unsigned column indices: with
signed ones Numba adds a negative-index fix-up that stops LLVM from vectorising them
(measured 5-8x slower).

Every kernel is an ``@njit(cache=True)`` function with caller-allocated outputs and has a NumPy
twin ``*_numpy`` of the same signature, used by the tests as the reference.
"""

import numpy as np
from numba import njit, prange

from mesimp_engine.kernels.magnitude_key import magnitude_bits
from mesimp_engine.kernels.row_ops import selected_rows, selected_rows_numpy  # noqa: F401 (re-exported)
from mesimp_engine.kernels.row_tiles import TILE_VECTORS, VECTOR_BYTES, VECTOR_COUNTS, outer_sum, prefetch, row_sum, store_fence, stream_ok
from mesimp_engine.kernels.topk_filter import filter_rows
from mesimp_engine.kernels.topk_reference import topk_rows_numpy


# ---------------------------------------------------------------------------------------------
# which rows of W receive a gradient


# ``selected_rows`` (and its twin) live in row_ops, which also serves embeddings with it


# ---------------------------------------------------------------------------------------------
# inverted index: for each selected unit, the examples that selected it


@njit(cache=True)
def invert_selection(idx, dy, rank, n_rows, block, ptr, examples, values, picked):
    """Counting sort of the pairs (b, j) by example block, then unit: the inverted index of the
    selection, one per block of ``block`` consecutive examples.

    idx (B, k) int64, dy (B, n_out), rank (n_out,) and n_rows from ``selected_rows``.
    Outputs: ptr (n_blocks * n_rows + 1,) int64 with n_blocks = ceil(B / block); examples
    (B*k,) int64 and values (B*k,) dy.dtype, where the pairs of selected unit r in block q
    are examples[ptr[q * n_rows + r] : ptr[q * n_rows + r + 1]] (in increasing b) with values
    dy[b, j]; picked (B, k) dy.dtype, the same values in the order of idx: picked[b, t] =
    dy[b, idx[b, t]] (the scales of dx[b]'s rows, read here where dy[b] is in cache anyway).
    Serial: run over the blocks in parallel it took 1.2 ms where this takes 1.3 at the
    parser's shape (reading dy is most of it), and a second compilation of the same function
    shares Numba's cache entry with this one (the cache key leaves out ``parallel``).
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
            v = dy[b, j]
            examples[p] = b
            values[p] = v
            picked[b, t] = v
            fill[q] = p + 1


def invert_selection_numpy(idx, dy, rank, n_rows, block, ptr, examples, values, picked):
    """NumPy twin of ``invert_selection``."""
    picked[:] = np.take_along_axis(dy, idx, axis=1)
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


def _dx_by_example(W, rows, shared, picked, c0, c1, dx):
    """Columns [c0, c1) of dx[b] = sum_t picked[b, t] W[j(b, t)], with j(b, t) = rows[t] when
    ``shared`` (one unit set for every example: unified meProp), else rows[b * k + t]
    (rows the flattened (B, k) selection)."""
    # unsigned column indices: Numba then skips the negative-index fix-up and the loops vectorise
    u0, u1 = np.uint64(c0), np.uint64(c1)
    k = picked.shape[1]
    for b in range(dx.shape[0]):
        dxb = dx[b]
        for i in range(u0, u1):
            dxb[i] = 0
        first = 0 if shared else b * k
        t = 0
        # four rows of W per pass over dx[b]: one load and store of dx per four FMAs
        while t + 4 <= k:
            j0, j1, j2, j3 = rows[first + t], rows[first + t + 1], rows[first + t + 2], rows[first + t + 3]
            v0, v1, v2, v3 = picked[b, t], picked[b, t + 1], picked[b, t + 2], picked[b, t + 3]
            W0, W1, W2, W3 = W[j0], W[j1], W[j2], W[j3]
            for i in range(u0, u1):
                dxb[i] += v0 * W0[i] + v1 * W1[i] + v2 * W2[i] + v3 * W3[i]
            t += 4
        while t < k:
            v0, W0 = picked[b, t], W[rows[first + t]]
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


@njit(cache=True)
def _column_passes(c0, c1, lanes):
    """The register tiles covering columns [c0, c1) as (first column, vectors) pairs: whole
    tiles of TILE_VECTORS vectors, then at most one of each smaller width in VECTOR_COUNTS;
    the columns left over (fewer than a vector) are not covered."""
    passes = np.empty((len(VECTOR_COUNTS) + (c1 - c0) // (TILE_VECTORS * lanes), 2), np.int64)
    n = 0
    c = c0
    for vectors in VECTOR_COUNTS:
        while c + vectors * lanes <= c1:
            passes[n, 0], passes[n, 1] = c, vectors
            n += 1
            c += vectors * lanes
            if vectors < TILE_VECTORS:
                break
    return passes[:n]


@njit(cache=True)
def _aligned_from(a, c0, c1):
    """The first column c >= c0 (at most c1) where every row of the 2-D C-contiguous array a
    starts a 64-byte aligned vector, or c0 when no column does (rows of a length that is not
    a multiple of 64 bytes, or a misaligned element). Engine arrays are aligned at column 0
    (``mesimp_engine.kernels.memory``); NumPy's large arrays at column 16 / itemsize - 1 or so."""
    address = a.ctypes.data + c0 * a.itemsize
    if (a.shape[1] * a.itemsize) % VECTOR_BYTES or address % a.itemsize:
        return c0
    return min(c1, c0 + (-address % VECTOR_BYTES) // a.itemsize)


@njit(cache=True, fastmath=True)
def _dx_tiled(W, idx, picked, c0, c1, stream, dx):
    """Columns [c0, c1) of per-example dx (as ``_dx_by_example``), a register tile of columns
    at a time (``row_sum`` over ``_column_passes``): for each tile, every example sums its k
    rows of W into it. The tile's columns of W (n_out rows x 1 KB, 512 KB at the parser's 500
    units) stay in L2 for all examples. The tiles start where W's rows are 64-byte aligned;
    the columns before and after them (fewer than a vector each) go through
    ``_dx_by_example``. Streaming stores (when ``stream``) need dx aligned like W."""
    n_in = W.shape[1]
    k = picked.shape[1]
    rows, scales, out = idx.reshape(-1), picked.reshape(-1), dx.reshape(-1)
    lanes = VECTOR_BYTES // W.itemsize
    a = _aligned_from(W, c0, c1)
    if a > c0:
        _dx_by_example_serial(W, rows, False, picked, c0, a, dx)
    passes = _column_passes(a, c1, lanes)
    end = passes[-1, 0] + passes[-1, 1] * lanes if passes.shape[0] else a
    if end < c1:
        _dx_by_example_serial(W, rows, False, picked, end, c1, dx)
    stream = stream and (n_in * dx.itemsize) % VECTOR_BYTES == 0 and stream_ok(out, a)
    for i in range(passes.shape[0]):
        c, vectors = passes[i, 0], passes[i, 1]
        for b in range(dx.shape[0]):
            row_sum(out, b * n_in + c, W, rows, scales, b * k, b * k + k, c, False, stream, vectors)
    if stream:
        store_fence()


@njit(cache=True, fastmath=True)
def _dW_tiled(x, ptr, examples, values, block, c0, c1, dW_rows):
    """Columns [c0, c1) of dW_rows, a register tile of columns at a time: block of examples by
    block, each unit's tile is loaded (zeroed in the first block), summed over the unit's
    examples in the block, and stored. The block's rows of x, a tile wide, stay in L2 while
    every unit reads them; while one tile is summed, the next tile's rows of x are
    prefetched, a few rows per unit (the units read them in no order a prefetcher could
    follow: without this, the first reads of each tile wait on memory). The tiles start
    where x's rows are 64-byte aligned; the columns before and after them (fewer than a
    vector each) go through ``_dW_by_unit``."""
    B, n_in = x.shape
    n_rows = dW_rows.shape[0]
    out, flat = dW_rows.reshape(-1), x.reshape(-1)
    lanes = VECTOR_BYTES // x.itemsize
    start = _aligned_from(x, c0, c1)
    if start > c0:
        _dW_by_unit_serial(x, ptr, examples, values, c0, start, dW_rows)
    passes = _column_passes(start, c1, lanes)
    n_passes, n_blocks = passes.shape[0], (ptr.shape[0] - 1) // max(n_rows, 1)
    if n_rows > 0 and n_passes > 0:
        for q in range(n_blocks):
            for i in range(n_passes):
                c, vectors = passes[i, 0], passes[i, 1]
                # the pass after this one: its first example, rows and columns
                nq, ni = (q, i + 1) if i + 1 < n_passes else (q + 1, 0)
                first = nq * block
                ahead = max(0, min(block, B - first))
                nc, n_lines = passes[ni, 0], passes[ni, 1]
                for r in range(n_rows):
                    for b in range(first + r * ahead // n_rows, first + (r + 1) * ahead // n_rows):
                        for line in range(n_lines):
                            prefetch(flat, b * n_in + nc + line * lanes)
                    p0, p1 = ptr[q * n_rows + r], ptr[q * n_rows + r + 1]
                    if q == 0 or p1 > p0:
                        row_sum(out, r * n_in + c, x, examples, values, p0, p1, c, q > 0, False, vectors)
    end = passes[-1, 0] + passes[-1, 1] * lanes if n_passes else start
    if end < c1:
        _dW_by_unit_serial(x, ptr, examples, values, end, c1, dW_rows)


STREAM_BYTES = 8 << 20
"""Size of dx from which it is written with streaming stores (``row_tiles``): far more than
the caches hold, so that reading it into the cache before writing it is pure cost."""


@njit(cache=True, parallel=True, fastmath=True)
def sparse_backward(x, W, idx, picked, ptr, examples, values, block, chunk, need_dx, dx, dW_rows):
    """The per-example meProp products for a selection idx (B, k) int64 and its inverted index.

    x (B, n_in), W (n_out, n_in), idx (B, k), picked (B, k) = the values dy[b, idx[b, t]];
    ptr, examples, values from ``invert_selection`` (with ``block``); all C-contiguous.
    Outputs (any initial content): dW_rows (n_rows, n_in), dW_rows[r] = sum of dy[b, j] x[b]
    over the examples b that selected the r-th selected unit j; when need_dx, dx (B, n_in),
    dx[b] = sum_{j in idx[b]} dy[b, j] W[j] (otherwise dx is not touched and may be any array
    of the dtype, e.g. of shape (0, 0)).

    dx is computed example by example (reading k rows of W), dW unit by unit (reading the rows
    of x of the examples that selected the unit), so every output element is written by one
    thread. Threads split the n_in columns into tasks of ``chunk`` columns (a multiple of
    16); chunk >= n_in runs serially, without the thread pool. dx is written with streaming
    stores when it holds at least STREAM_BYTES and its rows are aligned like W's.
    """
    n_in = x.shape[1]
    stream = need_dx and dx.nbytes >= STREAM_BYTES
    n_chunks = (n_in + chunk - 1) // chunk
    if n_chunks == 1:
        _dW_tiled(x, ptr, examples, values, block, 0, n_in, dW_rows)
        if need_dx:
            _dx_tiled(W, idx, picked, 0, n_in, stream, dx)
        return
    for c in prange(n_chunks):
        c0, c1 = c * chunk, min(c * chunk + chunk, n_in)
        _dW_tiled(x, ptr, examples, values, block, c0, c1, dW_rows)
        if need_dx:
            _dx_tiled(W, idx, picked, c0, c1, stream, dx)


def sparse_backward_numpy(x, W, idx, picked, ptr, examples, values, block, chunk, need_dx, dx, dW_rows):
    """NumPy twin of ``sparse_backward`` (block and chunk are ignored)."""
    n_rows = dW_rows.shape[0]
    r = np.repeat(np.arange(ptr.shape[0] - 1) % max(n_rows, 1), np.diff(ptr))
    dW_rows[:] = 0
    np.add.at(dW_rows, r, values[:, None] * x[examples])
    if need_dx:
        dx[:] = np.einsum("bt,bti->bi", picked, W[idx])


# ---------------------------------------------------------------------------------------------
# unified meProp: one unit set for the batch

EXAMPLE_ROWS = 128
"""Examples per block of unified meProp (``_unified_columns``): their rows of x (a thread's
columns, 4.8 KB each at the parser's shape) stay in L2 while every tile of columns and
units reads them (64 and 256 measured the same)."""


def _dW_columns(x, g, c0, c1, dW):
    """Columns [c0, c1) of dW = g^T x, one example at a time (the columns the tiles leave)."""
    u0, u1 = np.uint64(c0), np.uint64(c1)
    for r in range(dW.shape[0]):
        for i in range(u0, u1):
            dW[r, i] = 0
    for b in range(x.shape[0]):
        xb = x[b]
        for r in range(dW.shape[0]):
            v, d = g[b, r], dW[r]
            for i in range(u0, u1):
                d[i] += v * xb[i]


_dW_columns_serial = njit(cache=True, fastmath=True)(_dW_columns)


@njit(cache=True, fastmath=True)
def _dW_outer(x, g, b0, b1, accumulate, c0, c1, dW):
    """Columns [c0, c1) (whole vectors) of dW (k, n_in) = (dW if accumulate else 0) +
    g[b0:b1]^T x[b0:b1], g (B, k): tiles of units x columns (``outer_sum``: 4 units x 4
    vectors while they last, then 2 and 1 of each). Every term of a tile loads 4 vectors of x
    and 4 weights for 16 fused multiply-adds; the block's rows of a tile's columns (32 KB
    at EXAMPLE_ROWS) stay in L1 while every unit reads them."""
    k = g.shape[1]
    lanes = VECTOR_BYTES // x.itemsize
    c = c0
    while c < c1:
        left = (c1 - c) // lanes
        vectors = 4 if left >= 4 else 2 if left >= 2 else 1
        u = 0
        while u < k:
            units = 4 if k - u >= 4 else 2 if k - u >= 2 else 1
            outer_sum(dW, u, c, g, u, x, b0, b1, accumulate, units, vectors)
            u += units
        c += vectors * lanes


@njit(cache=True, fastmath=True)
def _dx_outer(Wk, gT, b0, b1, c0, c1, stream, dx, ahead, a_first, a_stop, a0, a1):
    """Rows [b0, b1), columns [c0, c1) (whole vectors) of unified dx = g W_k, with W_k (k,
    n_in) the kept rows of W and gT (k, B) = g^T: tiles of 4 examples x 4 vectors
    (``outer_sum`` over the k terms: per term, 4 vectors of W_k from L1 and 4 weights feed
    16 fused multiply-adds, half the loads of ``row_sum`` taking one example at a time).
    It prefetches rows [a_first, a_stop) of ``ahead``, columns
    [a0, a1) (the next block's rows of x, which the next dW tiles read): a share of their
    lines per column group, a row per example. These tiles are bound by arithmetic and leave
    the memory idle; the prefetch took unified meProp at the parser's shape from 14.6-17.9
    to 12.4-15.4 ms (with one-example tiles), and the 4 x 4 tiles from 16.6-17.3 to
    14.7-15.4 ms, each in the same runs."""
    k = Wk.shape[0]
    lanes = VECTOR_BYTES // Wk.itemsize
    later = ahead.reshape(-1)
    n_lines = (a1 - a0 + lanes - 1) // lanes
    n_groups = max(1, (c1 - c0 + 4 * lanes - 1) // (4 * lanes))
    group = 0
    c = c0
    while c < c1:
        left = (c1 - c) // lanes
        vectors = 4 if left >= 4 else 2 if left >= 2 else 1
        l0, l1 = n_lines * group // n_groups, n_lines * (group + 1) // n_groups
        b = b0
        while b < b1:
            units = 4 if b1 - b >= 4 else 2 if b1 - b >= 2 else 1
            # spread over the tiles: a burst of prefetches stalls the loads behind it
            for a in range(a_first + b - b0, min(a_stop, a_first + b - b0 + units)):
                for line in range(l0, l1):
                    prefetch(later, a * ahead.shape[1] + a0 + line * lanes)
            outer_sum(dx, b, c, gT, b, Wk, 0, k, False, units, vectors, stream)
            b += units
        c += vectors * lanes
        group += 1


@njit(cache=True, fastmath=True)
def _unified_columns(x, W, cols, g, gT, Wk, c0, c1, need_dx, stream, dx, dW):
    """Columns [c0, c1) of unified meProp's products, block of EXAMPLE_ROWS examples by block:
    the block's dW tiles (``_dW_outer``, reading its rows of x), then its dx tiles
    (``_dx_outer``), which are bound by arithmetic and prefetch the next block's rows of x
    meanwhile. The dW tiles start where x's rows are 64-byte aligned, the dx tiles where
    dx's are (streaming stores need it); the columns around them go through ``_dW_columns``
    and ``_dx_by_example``."""
    B = x.shape[0]
    lanes = VECTOR_BYTES // x.itemsize
    start = _aligned_from(x, c0, c1)
    end = start + (c1 - start) // lanes * lanes
    if start > c0:
        _dW_columns_serial(x, g, c0, start, dW)
    if end < c1:
        _dW_columns_serial(x, g, end, c1, dW)
    if B == 0:
        dW[:, start:end] = 0
    dx_start, dx_end = c0, c0
    if need_dx:
        dx_start = _aligned_from(dx, c0, c1)
        dx_end = dx_start + (c1 - dx_start) // lanes * lanes
        if dx_start > c0:
            _dx_by_example_serial(W, cols, True, g, c0, dx_start, dx)
        if dx_end < c1:
            _dx_by_example_serial(W, cols, True, g, dx_end, c1, dx)
        stream = stream and (dx.shape[1] * dx.itemsize) % VECTOR_BYTES == 0 and stream_ok(dx.reshape(-1), dx_start)
    for b0 in range(0, B, EXAMPLE_ROWS):
        b1 = min(B, b0 + EXAMPLE_ROWS)
        _dW_outer(x, g, b0, b1, b0 > 0, start, end, dW)
        if need_dx:
            _dx_outer(Wk, gT, b0, b1, dx_start, dx_end, stream, dx, x, b1, min(B, b1 + EXAMPLE_ROWS), start, end)
    if need_dx and stream:
        store_fence()


@njit(cache=True, parallel=True, fastmath=True)
def unified_backward(x, W, cols, g, gT, Wk, chunk, need_dx, dx, dW_rows):
    """The unified meProp products for the kept units cols (k,) int64, with g = dy[:, cols]
    (B, k), gT = g^T (k, B) and Wk = W[cols] (k, n_in): dW_rows (k, n_in) = g^T x and, when
    need_dx, dx (B, n_in) = g W[cols] (else dx, gT and Wk are not read, dx not touched); all
    C-contiguous. Threads split the columns as in ``sparse_backward`` (``_unified_columns``);
    dx is written with streaming stores when it holds at least STREAM_BYTES."""
    n_in = x.shape[1]
    stream = need_dx and dx.nbytes >= STREAM_BYTES
    n_chunks = (n_in + chunk - 1) // chunk
    if n_chunks == 1:
        _unified_columns(x, W, cols, g, gT, Wk, 0, n_in, need_dx, stream, dx, dW_rows)
        return
    for c in prange(n_chunks):
        _unified_columns(x, W, cols, g, gT, Wk, c * chunk, min(c * chunk + chunk, n_in), need_dx, stream, dx, dW_rows)


def unified_backward_numpy(x, W, cols, g, gT, Wk, chunk, need_dx, dx, dW_rows):
    """NumPy twin of ``unified_backward`` (chunk is ignored)."""
    dW_rows[:] = g.T @ x
    if need_dx:
        dx[:] = g @ W[cols]


@njit(cache=True, fastmath=True)
def outer_columns(x, g, c0, c1, dW):
    """Columns [c0, c1) of dW = g^T x, g (B, k), x (B, n_in): the tiles (``_dW_outer``) on the
    whole vectors from c0, the columns after them one example at a time. With every unit
    kept it is dense back propagation's dW = dy^T x (``small_products.transposed_times``)."""
    lanes = VECTOR_BYTES // x.itemsize
    end = c0 + (c1 - c0) // lanes * lanes
    _dW_outer(x, g, 0, x.shape[0], False, c0, end, dW)
    if end < c1:
        _dW_columns_serial(x, g, end, c1, dW)


@njit(cache=True, fastmath=True)
def combine_columns(Wk, g, gT, c0, c1, dx):
    """Columns [c0, c1) of dx = g Wk, g (B, k), gT = g^T (k, B), Wk (k, n_in): the tiles
    (``_dx_outer``) on the whole vectors from c0, the columns after them one example at a
    time. With Wk = W it is dense back propagation's dx = dy W (``small_products.times``)."""
    lanes = VECTOR_BYTES // Wk.itemsize
    end = c0 + (c1 - c0) // lanes * lanes
    _dx_outer(Wk, gT, 0, dx.shape[0], c0, end, False, dx, Wk, 0, 0, 0, 0)
    if end < c1:
        _dx_by_example_serial(Wk, np.arange(Wk.shape[0]), True, g, end, c1, dx)


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
    picked = np.empty(idx.shape, dy.dtype)
    invert_selection(idx, dy, rank, n_rows, B, ptr, examples, values, picked)
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
        _dx_by_example_serial(W, idx.reshape(-1), False, picked, 0, x.shape[1], dx)
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

    Serial on purpose: it runs right before BLAS calls (unified meProp with many units), and a
    parallel region here leaves the thread pool spinning while BLAS wants the cores. Before
    the engine's kernels, threads split by columns gave the same sums no faster (0.78 ms
    against 0.68 at the parser's 10,000 x 500: the pass is bound by memory, not by a core).
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
