"""The three products of a linear layer on a small mini-batch: the forward x @ W^T, and the
backward's dx = dy @ W and dW = dy^T @ x.

``times_transposed(x, W, out)``: out = x W^T, x (B, K), W (N, K), out (B, N), all
C-contiguous and of one float dtype. Every output is a dot product of a row of x and a row
of W; the loops take 4 rows of W and 4 rows of x at a time, so each loaded element of W
serves 4 examples and each of x 4 output units (16 running sums), and the compiler
vectorises the dot products along K (``fastmath`` reassociation and contraction only: NaN
and inf propagate as in any sum). Leftover rows of x take 2 x 4 blocks, a last single row
twice (10 rows: 91 -> 82 us against 1 x 4 blocks; a single 1 x 4 loop for the last row was
within 5% of it), leftover rows of W single dot products.

Why: OpenBLAS's sgemm (its SkylakeX kernel on this AMD Zen 4) runs a product of a few
rows far below the machine's speed. One thread, float32, best of five (OpenBLAS against
these loops, microseconds): x (B, 784) @ W^T (784 -> 500): B = 4: 219/32 (6.9x), 8: 248/65
(3.8x), 10: 275/82 (3.3x), 16: 301/123 (2.5x), 32: 421/246 (1.7x), 64: 654/480 (1.4x),
128: 1127/955 (1.2x); 500 -> 500 at B = 10: 179/57 (3.1x); float64 at B = 10: 1.4x. With 10
output units the two are even (1-5 us). The loops read W once per 4 rows of x, where BLAS
blocks for the caches, so ``blas.matmul`` sends here products of at most ``SMALL_ROWS``
rows, at least ``MIN_OUTPUTS`` columns and a W of at most ``SMALL_WEIGHT_BYTES`` (which
stays in the last-level cache). The sums are taken in another order than BLAS's, so
results differ from it by rounding.

A product of at least ``PARALLEL_FROM`` multiply-adds may split W's blocks of 4 rows among
Numba's threads, whichever of that and one thread has been faster lately for its shape
(``timed_choice.on_threads``: on a busy machine a parallel region waits for a free core). Every
output is computed by one thread in the same order either way, so the threads change no
bit of the result. Measured (AMD EPYC Zen 4, 2 cores, float32, warm, medians): 10 x 784 ->
500 78 us on one thread against 61 us on two, 10 x 500 -> 500 57 against 30 us; the MNIST
training step, the two alternating in one process: dense 1.10-1.13x faster, meProp
1.04-1.15x.

``times(a, W, out)``: out = a W, a (B, N), W (N, K), out (B, K), a layer's dx = dy W;
``transposed_times(a, b, out)``: out = a^T b, a (B, N), b (B, K), out (N, K), its dW = dy^T x.
Both are unified meProp's products with every unit kept (``sparse_linear.combine_columns``
and ``outer_columns``): register tiles of 4 examples (dx) or 4 units (dW) by 4 vectors of
columns, summed over N (dx) or B (dW) terms in order, the columns after the last whole
vector one example at a time. The columns split among the threads at whole vectors, so
the threads change no bit of these either. dW is the same sum as OpenBLAS's, bit for bit
(every term in order, each a fused multiply-add); dx differs from it by rounding.
Measured (Zen 4, float32, warm, medians; OpenBLAS on one thread, then these on one and on
two threads): dx 10 x 500 -> 784 127 / 78 / 47 us, 10 x 500 -> 500 87 / 66 / 45; dW
500 x 784 from 10 examples 108 / 102 / 55, 500 x 500 70 / 76 / 46; 32 examples, dx 278 /
231 / 197, dW 266 / 279 / 177. In the MNIST training step (dense and these alternating in
one process, quiet machine): dense linear backward 305.5 -> 188.5 us, the whole dense step
893.9 -> 756.2 us (1.18x); meProp's step, whose hidden layers have their own kernels and
whose output layer has 10 units (BLAS), unchanged (1.02x).

``*_numpy`` are the references (and what runs under ``NUMBA_DISABLE_JIT``).
"""

import numpy as np
from numba import njit, prange

from mesimp_engine.kernels.row_tiles import VECTOR_BYTES
from mesimp_engine.kernels.sparse_linear import combine_columns, outer_columns
from mesimp_engine.kernels.timed_choice import on_threads

SMALL_ROWS = 64
"""Rows of x (or dy) up to which ``blas.matmul`` computes a product here rather than by BLAS."""

MIN_OUTPUTS = 32
"""Units (rows of W, and for dx and dW its columns too) from which the loops are used: with
10 units BLAS and the loops are even at 1-5 us, and the backward tiles slower (3.2 against
4.6 us)."""

SMALL_WEIGHT_BYTES = 8 << 20
"""Largest W (or x, for dW) the loops take: they read it once per 4 rows of x (or dy)."""

PARALLEL_FROM = 1 << 20
"""Multiply-adds from which the product may run on all of Numba's threads (below, waking
them costs more than they save)."""

FASTMATH = {"reassoc", "contract"}
"""Reordered and fused sums (vectorised dot products), with IEEE NaN and inf kept."""


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _blocks(x, W, j0, j1, zero, out):
    """Columns [j0, j1) of out = x W^T, j1 - j0 a multiple of 4: 4 x 4 blocks of (rows of
    x) x (rows of W) while they last, then leftover rows of x two at a time."""
    B, K = x.shape
    b4 = B - B % 4
    for j in range(j0, j1, 4):
        for b in range(0, b4, 4):
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = zero
            s30 = s31 = s32 = s33 = zero
            for p in range(K):
                w0, w1, w2, w3 = W[j, p], W[j + 1, p], W[j + 2, p], W[j + 3, p]
                x0, x1, x2, x3 = x[b, p], x[b + 1, p], x[b + 2, p], x[b + 3, p]
                s00 += x0 * w0
                s01 += x0 * w1
                s02 += x0 * w2
                s03 += x0 * w3
                s10 += x1 * w0
                s11 += x1 * w1
                s12 += x1 * w2
                s13 += x1 * w3
                s20 += x2 * w0
                s21 += x2 * w1
                s22 += x2 * w2
                s23 += x2 * w3
                s30 += x3 * w0
                s31 += x3 * w1
                s32 += x3 * w2
                s33 += x3 * w3
            out[b, j], out[b, j + 1], out[b, j + 2], out[b, j + 3] = s00, s01, s02, s03
            out[b + 1, j], out[b + 1, j + 1], out[b + 1, j + 2], out[b + 1, j + 3] = s10, s11, s12, s13
            out[b + 2, j], out[b + 2, j + 1], out[b + 2, j + 2], out[b + 2, j + 3] = s20, s21, s22, s23
            out[b + 3, j], out[b + 3, j + 1], out[b + 3, j + 2], out[b + 3, j + 3] = s30, s31, s32, s33
        for b in range(b4, B, 2):
            # leftover rows two at a time; a last single row is taken twice (b1 == b)
            b1 = min(b + 1, B - 1)
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            for p in range(K):
                w0, w1, w2, w3 = W[j, p], W[j + 1, p], W[j + 2, p], W[j + 3, p]
                x0, x1 = x[b, p], x[b1, p]
                s00 += x0 * w0
                s01 += x0 * w1
                s02 += x0 * w2
                s03 += x0 * w3
                s10 += x1 * w0
                s11 += x1 * w1
                s12 += x1 * w2
                s13 += x1 * w3
            out[b1, j], out[b1, j + 1], out[b1, j + 2], out[b1, j + 3] = s10, s11, s12, s13
            out[b, j], out[b, j + 1], out[b, j + 2], out[b, j + 3] = s00, s01, s02, s03


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _times_transposed(x, W, parallel, chunks, zero, out):
    """out = x W^T, the blocks of 4 rows of W in ``chunks`` parts over the threads
    (``parallel``) or all on this one; rows of W past the last block single dot products."""
    B, K = x.shape
    N = W.shape[0]
    n4 = N // 4
    if parallel:
        for c in prange(chunks):
            _blocks(x, W, 4 * (c * n4 // chunks), 4 * ((c + 1) * n4 // chunks), zero, out)
    else:
        _blocks(x, W, 0, 4 * n4, zero, out)
    for j in range(4 * n4, N):
        for b in range(B):
            s = zero
            for p in range(K):
                s += x[b, p] * W[j, p]
            out[b, j] = s


@njit(cache=True, inline="always")
def _part(c, chunks, K, lanes):
    """Columns [c0, c1) of part c of K columns split into ``chunks`` parts at whole vectors
    of ``lanes`` columns (every part's tiles then the same, whatever ``chunks``)."""
    vectors = (K + lanes - 1) // lanes
    return min(K, lanes * (c * vectors // chunks)), min(K, lanes * ((c + 1) * vectors // chunks))


@njit(cache=True, parallel=True)
def _times(a, aT, W, parallel, chunks, out):
    """out = a W (``sparse_linear.combine_columns``), its columns in ``chunks`` parts over the
    threads (``parallel``) or all on this one."""
    K = W.shape[1]
    if not parallel:
        combine_columns(W, a, aT, 0, K, out)
        return
    for c in prange(chunks):
        c0, c1 = _part(c, chunks, K, VECTOR_BYTES // W.itemsize)
        combine_columns(W, a, aT, c0, c1, out)


@njit(cache=True, parallel=True)
def _transposed_times(a, b, parallel, chunks, out):
    """out = a^T b (``sparse_linear.outer_columns``), split as ``_times``."""
    K = b.shape[1]
    if not parallel:
        outer_columns(b, a, 0, K, out)
        return
    for c in prange(chunks):
        c0, c1 = _part(c, chunks, K, VECTOR_BYTES // b.itemsize)
        outer_columns(b, a, c0, c1, out)


def times_transposed(x, W, out):
    """out = x @ W.T, x (B, K), W (N, K), out (B, N): the forward loops above; returns out."""
    zero = W.dtype.type(0)
    on_threads(("x W^T", *x.shape, W.shape[0], W.dtype.num),
               lambda parallel, chunks: _times_transposed(x, W, parallel, chunks, zero, out),
               x.size * W.shape[0] >= PARALLEL_FROM)
    return out


def times(a, W, out):
    """out = a @ W, a (B, N), W (N, K), out (B, K): a layer's dx = dy W; returns out."""
    aT = np.ascontiguousarray(a.T)
    on_threads(("a W", *a.shape, W.shape[1], W.dtype.num),
               lambda parallel, chunks: _times(a, aT, W, parallel, chunks, out),
               a.size * W.shape[1] >= PARALLEL_FROM)
    return out


def transposed_times(a, b, out):
    """out = a.T @ b, a (B, N), b (B, K), out (N, K): a layer's dW = dy^T x; returns out."""
    on_threads(("a^T b", *a.shape, b.shape[1], b.dtype.num),
               lambda parallel, chunks: _transposed_times(a, b, parallel, chunks, out),
               a.size * b.shape[1] >= PARALLEL_FROM)
    return out


def times_transposed_numpy(x, W, out):
    """The NumPy reference of ``times_transposed``."""
    return np.matmul(x, W.T, out=out)


def times_numpy(a, W, out):
    """The NumPy reference of ``times``."""
    return np.matmul(a, W, out=out)


def transposed_times_numpy(a, b, out):
    """The NumPy reference of ``transposed_times``."""
    return np.matmul(a.T, b, out=out)


def product(a, b, out):
    """a @ b into out (all 2-D) by one of the three products above when it is one of them
    (see the module docstring), else None: a few rows (at most ``SMALL_ROWS``) on one side,
    at least ``MIN_OUTPUTS`` units and a W of at most ``SMALL_WEIGHT_BYTES`` on the other,
    one float dtype, every operand C-contiguous as taken:

    - x @ W^T: a = x (B, K), b = W.T with W (N, K);
    - a @ W: a (B, N), b = W (N, K);
    - a^T @ b: a = left.T with left (B, N), b (B, K).
    """
    if not (a.dtype == b.dtype == out.dtype and a.dtype in (np.float32, np.float64) and out.flags.c_contiguous
            and b.nbytes <= SMALL_WEIGHT_BYTES):
        return None
    if a.flags.c_contiguous and a.shape[0] <= SMALL_ROWS:
        if b.T.flags.c_contiguous and b.shape[1] >= MIN_OUTPUTS:
            return times_transposed(a, b.T, out)
        if b.flags.c_contiguous and b.shape[0] >= MIN_OUTPUTS and b.shape[1] >= MIN_OUTPUTS:
            return times(a, b, out)
    if (a.T.flags.c_contiguous and a.shape[1] <= SMALL_ROWS and a.shape[0] >= MIN_OUTPUTS and b.flags.c_contiguous
            and b.shape[1] >= MIN_OUTPUTS):
        return transposed_times(a.T, b, out)
    return None
