"""meProp: top-k sparsified backward of a linear layer y = x W^T + b, on arrays.

Shapes: x (B, n_in), W (n_out, n_in), b (n_out,), dy (B, n_out); float32 (training) or float64.

Dense backward:  dW = dy^T x (n_out, n_in),  dx = dy W (B, n_in),  db = dy.sum(0) (n_out,).

meProp keeps k entries of dy and back-propagates only those (the bias gradient stays dense):

- per example: S_b = the k units of largest |dy[b, :]| (ties to the lower index);
  dx[b] = sum_{j in S_b} dy[b, j] W[j];  dW[j] = sum_{b : j in S_b} dy[b, j] x[b].
- unified: one set S (k,) for the batch, the top-k of the column sums sum_b |dy[b, :]|;
  dx = dy[:, S] W[S];  dW[S] = dy[:, S]^T x.
- random: S_b = k distinct units drawn uniformly (the papers' control), then as per example.

The sparse backwards return dW compactly as ``(rows, dW_rows)``: ``rows`` (n_rows,) the sorted
unique int64 indices of the output units that received a gradient and ``dW_rows``
(n_rows, n_in) their gradients, so a caller does ``grad[rows] += dW_rows`` and can report the
fraction of W updated, n_rows / n_out. k >= n_out keeps every unit and reproduces the dense
gradients (to float tolerance); k <= 0 is an error.

Selection goes through ``mesimp_engine.sparsity.topk.topk``; the products are the
kernels of ``mesimp_engine.kernels.sparse_linear``, on the threads (problems from
``_SERIAL_WORK`` multiply-adds, when that has been faster lately: ``_split``) or on one.
"""

import numba
import numpy as np

from mesimp_engine.kernels import sparse_linear as kernels
from mesimp_engine.kernels.blas import matmul as gemm
from mesimp_engine.kernels.magnitude_key import KEY_DTYPES
from mesimp_engine.kernels.timed_choice import TimedChoice, TimedChoices
from mesimp_engine.kernels.topk_filter import filter_work
from mesimp_engine.kernels.memory import as_aligned, empty
from mesimp_engine.sparsity.topk import lanes_for, topk

# Work (multiply-adds) below which the kernels run serially.
_SERIAL_WORK = 1 << 20

EXAMPLE_BLOCK = 256
"""Examples per block of the dW inverted index: a block's rows of x (256 x 1,200 columns per
thread at the parser's shape, 1.2 MB) stay in the 2 MB L2 cache while the units read them;
measured at 10,000 x 2,400 -> 500, k = 20: dW 2x faster than one index over all examples,
64 to 1,024 within 20% of each other. A block is made larger when a unit would get fewer
than ``PAIRS_PER_BLOCK`` examples in it on average (see ``example_block``)."""

PAIRS_PER_BLOCK = 4
"""The dW kernel adds four examples' rows per pass over a dW row; with fewer examples per
unit and block it falls back to one row per pass (at 1,024 x 8,192 -> 8,192, k = 32, a unit
has 4 examples in the whole batch: blocks of 256 made per-example 12.3x -> 9.7x)."""


def example_block(B, n_out, k):
    """Examples per block of the dW index for B examples keeping k of n_out units each: at
    least ``EXAMPLE_BLOCK``, and enough that a unit expects ``PAIRS_PER_BLOCK`` examples."""
    return max(EXAMPLE_BLOCK, -(-PAIRS_PER_BLOCK * n_out // max(k, 1)))


def _check_k(k, n_out):
    if k <= 0:
        raise ValueError(f"meProp needs k >= 1, got k={k}")
    return min(int(k), n_out)


def select_per_example(dy, k, blocks=1):
    """The k units of largest |dy[b, :]| for each example b (ties to the lower index).

    dy (B, n_out); k >= 1 (k >= n_out selects every unit). Returns idx (B, min(k, n_out))
    int64, each row increasing. With ``blocks`` > 1 the
    units split into that many equal consecutive blocks (an LSTM's four gates) and k are
    kept per block: idx (B, blocks * min(k, size)), still increasing.
    """
    if blocks == 1:
        return topk(dy, _check_k(k, dy.shape[1]))
    B, n_out = dy.shape
    size = n_out // blocks
    return merge_blocks(topk(dy.reshape(B * blocks, size), _check_k(k, size)), blocks, size)


def merge_blocks(per_block, blocks, size):
    """Selections made block by block, (B * blocks, kb) with indices into a block of ``size``
    units, as one row per example: (B, blocks * kb), block q's indices offset by q * size."""
    rows, kb = per_block.shape
    offsets = np.arange(blocks, dtype=np.int64) * size
    return (per_block.reshape(rows // blocks, blocks, kb) + offsets[None, :, None]).reshape(rows // blocks, blocks * kb)


def select_unified(dy, k, db_out=None):
    """One set of k units for the whole batch: the top-k of sum_b |dy[b, :]| (ties to the lower
    index).

    dy (B, n_out); k >= 1. Returns cols (min(k, n_out),) int64, increasing. When ``db_out``
    (n_out,) is given, the bias gradient dy.sum(0) is written into it from the same pass over
    dy (pass it on to ``backward_unified`` as ``db``).
    """
    k = _check_k(k, dy.shape[1])
    db = np.empty(dy.shape[1], dtype=dy.dtype) if db_out is None else db_out
    scores = np.empty(dy.shape[1], dtype=dy.dtype)
    kernels.column_sums(dy, db, scores)
    return topk(scores, k)


def select_random(batch, n_out, k, rng):
    """k distinct units drawn uniformly for each example: the random-k control.

    batch: B; rng: a ``numpy.random.Generator`` (the only source of randomness). Returns idx
    (B, min(k, n_out)) int64, each row increasing.
    """
    k = _check_k(k, n_out)
    # the k smallest of n_out uniform keys are a uniformly random k-subset
    keys = rng.random((batch, n_out))
    chosen = np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1)
    return chosen.astype(np.int64, copy=False)


def backward_dense(x, W, dy, need_dx=True, dx_out=None, dW_out=None):
    """Dense backward of y = x W^T + b with BLAS: (dx | None, dW, db).

    x (B, n_in), W (n_out, n_in), dy (B, n_out). Returns dx (B, n_in) (None unless need_dx),
    dW (n_out, n_in), db (n_out,); dx and dW are written into ``dx_out``/``dW_out`` when given.
    """
    dW = gemm(dy.T, x, out=dW_out)
    dx = gemm(dy, W, out=dx_out) if need_dx else None
    return dx, dW, dy.sum(axis=0)


def backward_per_example(x, W, dy, idx, need_dx=True, dx_out=None, dW_out=None):
    """meProp backward with a unit set per example: (dx | None, rows, dW_rows, db).

    x (B, n_in), W (n_out, n_in), dy (B, n_out), idx (B, k) int64 (k >= 1) the units kept for
    each example (e.g. from ``select_per_example`` or ``select_random``; the order in a row does
    not matter, repeats are not allowed). Returns
    dx (B, n_in): dx[b] = sum_{j in idx[b]} dy[b, j] W[j], or None unless need_dx;
    rows (n_rows,) int64: sorted units selected by any example;
    dW_rows (n_rows, n_in): dW_rows[r] = sum_{b : rows[r] in idx[b]} dy[b, rows[r]] x[b];
    db (n_out,) = dy.sum(0).
    ``dx_out`` (B, n_in) and ``dW_out`` (>= n_rows, n_in), C-contiguous of x's dtype, are
    optional preallocated outputs (dW_rows is then a view of the first n_rows rows of dW_out).
    """
    n_in = x.shape[1]
    n_out = W.shape[0]
    rows = np.empty(n_out, dtype=np.int64)
    rank = np.empty(n_out, dtype=np.int64)
    n_rows = kernels.selected_rows(idx, rows, rank)
    rows = rows[:n_rows]
    dW_rows = empty((n_rows, n_in), x.dtype) if dW_out is None else dW_out[:n_rows]
    dx = _dx_buffer(x, need_dx, dx_out)
    block = example_block(idx.shape[0], n_out, idx.shape[1])
    ptr = np.empty(-(-idx.shape[0] // block) * n_rows + 1, dtype=np.int64)
    examples = np.empty(idx.size, dtype=np.int64)
    values = np.empty(idx.size, dtype=dy.dtype)
    picked = np.empty(idx.shape, dtype=dy.dtype)
    kernels.invert_selection(idx, dy, rank, n_rows, block, ptr, examples, values, picked)
    _split(("per_example", idx.shape, n_in, need_dx, x.dtype.num), idx.size * n_in * (2 if need_dx else 1), n_in,
           lambda chunk: kernels.sparse_backward(x, W, idx, picked, ptr, examples, values, block, chunk, need_dx, dx,
                                                 dW_rows))
    return (dx if need_dx else None), rows, dW_rows, dy.sum(axis=0)


FUSED_UP_TO = 1 << 16
"""Entries of dy (B * n_out) up to which ``select_and_backward`` does the per-example
selection and backward in one kernel call (an MNIST mini-batch of 10 x 500, an LSTM step,
a sentence's input projection); above it the separate selection and the blocked, parallel
kernels are faster."""

_filter_work = {}


def per_example(x, W, dy, k, blocks=1, need_dx=True, dx_out=None, dW_out=None):
    """The engine's per-example meProp backward, selection included: (idx, dx | None, rows,
    dW_rows, db). Small problems (dy up to ``FUSED_UP_TO`` entries) take one fused kernel
    call (``select_and_backward``), larger ones the selection and then the blocked, parallel
    kernels (``backward_per_example``). ``blocks`` as in ``select_per_example``; k at least
    the block size keeps every unit. ``dx_out``/``dW_out`` as in ``backward_per_example``."""
    if dy.size <= FUSED_UP_TO and k < dy.shape[1] // blocks:
        return select_and_backward(x, W, dy, k, blocks, need_dx, dx_out, dW_out)
    idx = select_per_example(dy, k, blocks=blocks)
    return (idx,) + backward_per_example(x, W, dy, idx, need_dx, dx_out, dW_out)


def select_and_backward(x, W, dy, k, blocks=1, need_dx=True, dx_out=None, dW_out=None):
    """Per-example meProp for a small problem in one kernel call: (idx, dx | None, rows,
    dW_rows, db), with idx (B, blocks * k) the units kept (the top-k of each of ``blocks``
    equal blocks of each row of dy, ascending) and the rest as ``backward_per_example``
    returns them. 1 <= k < n_out / blocks. The top-k filter's buffers are reused across
    calls (one work buffer per dtype, block size and k); ``dx_out`` (B, n_in) and ``dW_out``
    (>= min(n_out, B * blocks * k), n_in) are optional preallocated outputs."""
    B, n_out = dy.shape
    size = n_out // blocks
    if not 1 <= k < size:
        raise ValueError(f"select_and_backward needs 1 <= k < {size} (units per block), got k={k}")
    key = (dy.dtype, size, k)
    work = _filter_work.get(key)
    if work is None:
        work = _filter_work[key] = filter_work(min(lanes_for(k), size), size, KEY_DTYPES[dy.dtype])
    idx = np.empty((B, blocks * k), np.int64)
    rows = np.empty(n_out, np.int64)
    rank = np.empty(n_out, np.int64)
    dx = _dx_buffer(x, need_dx, dx_out)
    dW_rows = np.empty((min(n_out, idx.size), x.shape[1]), x.dtype) if dW_out is None else dW_out
    db = np.empty(n_out, dy.dtype)
    n_rows = kernels.select_and_backward(x, W, dy, k, blocks, work, need_dx, idx, rows, rank,
                                         dx, dW_rows, db)
    return idx, (dx if need_dx else None), rows[:n_rows], dW_rows[:n_rows], db


UNIFIED_KERNELS_UP_TO = 64
"""Kept units (k) up to which unified meProp runs the engine's register-tile kernels
(``sparse_linear.unified_backward``) rather than two BLAS products: at k = 20 on the
parser's shape they take 13.6 ms where OpenBLAS takes 20.1 (its packing of x costs more
than the product), at k = 64 on 1,024 x 8,192 -> 8,192 14.3 against 17.9 ms; at k = 128
the two are even (42 ms), and from k = 256 BLAS is faster (56 against 61 ms), its kernels
then running near the machine's peak (measured in turns, AMD EPYC Zen 4)."""


def backward_unified(x, W, dy, cols, need_dx=True, db=None, dx_out=None, dW_out=None):
    """meProp backward with one unit set for the batch: (dx | None, rows, dW_rows, db).

    x (B, n_in), W (n_out, n_in), dy (B, n_out), cols (k,) int64 sorted unique (from
    ``select_unified``). Returns dx = dy[:, cols] W[cols] (B, n_in) or None unless need_dx;
    rows = cols; dW_rows = dy[:, cols]^T x (k, n_in); db (n_out,) = dy.sum(0) (the given ``db``
    when passed, e.g. from ``select_unified(..., db_out=)``). ``dx_out`` (B, n_in) and
    ``dW_out`` (>= k, n_in) are optional preallocated outputs. Up to UNIFIED_KERNELS_UP_TO
    units the engine's kernels compute the products, above it BLAS.
    """
    k = cols.size
    dy_cols = np.take(dy, cols, axis=1)
    if db is None:
        db = dy.sum(axis=0)
    if k <= UNIFIED_KERNELS_UP_TO and x.dtype == W.dtype == dy.dtype:
        x, W = np.ascontiguousarray(x), np.ascontiguousarray(W)
        dW_rows = empty((k, x.shape[1]), x.dtype) if dW_out is None else dW_out[:k]
        dx = _dx_buffer(x, need_dx, dx_out)
        # dx's tiles read the kept rows of W and the weights transposed (k x B), contiguous
        W_kept = as_aligned(np.take(W, cols, axis=0)) if need_dx else W[:0]
        dy_cols_t = np.ascontiguousarray(dy_cols.T) if need_dx else dy_cols[:0].T
        _split(("unified", dy_cols.shape, x.shape[1], need_dx, x.dtype.num),
               dy_cols.size * x.shape[1] * (2 if need_dx else 1), x.shape[1],
               lambda chunk: kernels.unified_backward(x, W, cols, dy_cols, dy_cols_t, W_kept, chunk, need_dx, dx,
                                                      dW_rows))
        return (dx if need_dx else None), cols, dW_rows, db
    dW_rows = gemm(dy_cols.T, x, out=None if dW_out is None else dW_out[:k])
    dx = gemm(dy_cols, np.take(W, cols, axis=0), out=dx_out) if need_dx else None
    return dx, cols, dW_rows, db


def _dx_buffer(x, need_dx, dx_out):
    if not need_dx:
        return np.empty((0, 0), dtype=x.dtype)
    return empty(x.shape, x.dtype) if dx_out is None else dx_out


_SPLITS = TimedChoices(lambda key: TimedChoice([key[-2], key[-1]]))
"""Per problem (kind, shapes, need_dx, dtype, the threads' chunk, n_in): the choice between
the threads' split of the columns and one task (``_split``)."""


def _split(key, work, n_in, call):
    """``call(chunk)``, a kernel splitting n_in columns into thread tasks of chunk columns:
    one task below ``_SERIAL_WORK`` multiply-adds, else the threads' split (``_chunk``) or
    one task, whichever has been faster lately for the problem (``kernels.timed_choice``:
    on a machine whose other core is busy, the parallel region waits for it)."""
    chunk = _chunk(work, n_in)
    if chunk >= n_in:
        return call(n_in)
    return _SPLITS((*key, chunk, n_in)).run(call)


def _chunk(work, n_in):
    """Columns per thread task for a problem of ``work`` multiply-adds: all of them (serial)
    below _SERIAL_WORK, where waking the thread pool costs more than it saves; else one
    contiguous slice per thread (narrower slices measured no faster). Slices start at
    multiples of 16 columns, so on 64-byte aligned rows (the engine's arrays) every output
    element is the same sum, in the same order of terms, whatever the thread count. On rows
    that are not aligned, the few columns before a slice's first aligned one are summed four
    terms at a time (``sparse_linear._dx_by_example``, ``_dW_by_unit``) instead of one, and
    may differ in the last bit with the number of threads."""
    if work < _SERIAL_WORK:
        return n_in
    return min(n_in, -(-n_in // (16 * numba.get_num_threads())) * 16)
