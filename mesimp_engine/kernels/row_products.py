"""One row times a large matrix, on all of Numba's threads or on one: an LSTM's recurrent
product, one time step at a time.

``times_transposed(x, W, out)``: out = W x (x (K,), W (N, K), out (N,)), a layer's forward
product for a single example; ``times(v, W, out)``: out = v W (v (N,), W (N, K), out (K,)),
its backward product dx = dy W. W is C-contiguous and all three share a float dtype.

Why: such a product reads all of W to do one multiply-add per element, so one core is
bound by how fast it reads W from the last-level cache, and a second core reading the
other half doubles that. The POS tagger's recurrent weights (2,000 x 500, 4 MB in
float32) are read twice per token and direction. Measured (Intel Ice Lake server, 2 cores,
float32, 2,000 x 500, four such matrices in turns so that each call starts in the
last-level cache, medians): W x 136 us here on one thread (150-180 us with the engine's
small-product loops, 140-150 with OpenBLAS) against 74 us on two; v W 126-137 us with
OpenBLAS on one thread against 87 us here on two. With W of 160 KB one thread and two
are even (about 4-5 us); below, one thread wins. ``blas.matmul`` sends here every product
of one row and a W of at least ``MIN_BYTES`` (``fits``, ``row_times``), when one thread is
all there is too, so that the result's bits do not depend on the threads (on one thread
these loops and OpenBLAS are within 5% of each other when W comes from the last-level
cache).

Each output element is computed in the same order whatever the threads: out[j] of W x is
the dot product of x and row j, by one thread (the rows split among the threads); v W sums
its rows in ``PARTS`` consecutive parts (four rows a pass), a fixed number the threads
share, then adds the parts in order. So the threads change no bit of the result
(``tests/kernels/test_row_products.py``), and the choice between the parallel and the
one-thread call (``kernels.timed_choice``, per shape: a parallel region waits for a free
core on a busy machine) leaves training reproducible.

``times_transposed_numpy`` and ``times_numpy`` are the references (and what runs under
``NUMBA_DISABLE_JIT``).
"""

import numpy as np
from numba import njit, prange

from mesimp_engine.kernels.timed_choice import on_threads

MIN_BYTES = 256 << 10
"""Smallest W (bytes) that ``blas.matmul`` sends here (the two calls are even at 160 KB)."""

PARTS = 4
"""``times`` sums the rows of W in this many consecutive parts (two per thread on two
cores), then adds the parts: a fixed number, so that the sum's order, and its bits, do not
depend on the threads."""

FASTMATH = {"reassoc", "contract"}
"""Vectorised dot products (reordered sums), with IEEE NaN and inf kept."""


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _dots(x, W, j0, j1, zero, out):
    K = x.shape[0]
    for j in range(j0, j1):
        row = W[j]
        s = zero  # of the arrays' dtype (a literal 0 would make the sum float64)
        for p in range(K):
            s += x[p] * row[p]
        out[j] = s


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _combine(v, W, j0, j1, acc):
    """acc = the sum of v[j] W[j] over j in [j0, j1), four rows a pass."""
    K = W.shape[1]
    for p in range(K):
        acc[p] = 0
    j = j0
    while j + 4 <= j1:
        v0, v1, v2, v3 = v[j], v[j + 1], v[j + 2], v[j + 3]
        w0, w1, w2, w3 = W[j], W[j + 1], W[j + 2], W[j + 3]
        for p in range(K):
            acc[p] += v0 * w0[p] + v1 * w1[p] + v2 * w2[p] + v3 * w3[p]
        j += 4
    while j < j1:
        v0, w0 = v[j], W[j]
        for p in range(K):
            acc[p] += v0 * w0[p]
        j += 1


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _times_transposed(x, W, parallel, chunks, zero, out):
    """out = W x, the rows in ``chunks`` parts over the threads (``parallel``) or all on this
    one."""
    N = W.shape[0]
    if not parallel:
        _dots(x, W, 0, N, zero, out)
        return
    for c in prange(chunks):
        _dots(x, W, c * N // chunks, (c + 1) * N // chunks, zero, out)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _times(v, W, parallel, partial, out):
    """out = v W: the rows in ``PARTS`` consecutive parts, each part's sum into its row of
    ``partial`` (PARTS, K), on the threads or on this one, then the parts added in order."""
    N, K = W.shape
    if parallel:
        for c in prange(PARTS):
            _combine(v, W, c * N // PARTS, (c + 1) * N // PARTS, partial[c])
    else:
        for c in range(PARTS):
            _combine(v, W, c * N // PARTS, (c + 1) * N // PARTS, partial[c])
    for p in range(K):
        s = partial[0, p]
        for c in range(1, PARTS):
            s += partial[c, p]
        out[p] = s


def times_transposed(x, W, out):
    """out = W x (see the module docstring); returns out."""
    zero = W.dtype.type(0)
    on_threads(("W x", *W.shape, W.dtype.num), lambda parallel, chunks: _times_transposed(x, W, parallel, chunks, zero, out))
    return out


def times(v, W, out):
    """out = v W (see the module docstring); returns out."""
    partial = np.empty((PARTS, W.shape[1]), W.dtype)
    on_threads(("v W", *W.shape, W.dtype.num), lambda parallel, _: _times(v, W, parallel, partial, out))
    return out


def times_transposed_numpy(x, W, out):
    """The NumPy reference of ``times_transposed``."""
    return np.matmul(W, x, out=out)


def times_numpy(v, W, out):
    """The NumPy reference of ``times``."""
    return np.matmul(v, W, out=out)


def fits(a, b, out):
    """Whether ``blas.matmul`` gives a @ b here: a single row (1, N) times b (N, K) that is
    a C-contiguous W or the transpose of one, of at least ``MIN_BYTES``, all three of one
    float dtype."""
    return (a.ndim == 2 and a.shape[0] == 1 and b.ndim == 2 and b.nbytes >= MIN_BYTES
            and a.dtype == b.dtype == out.dtype and a.dtype in (np.float32, np.float64)
            and (b.flags.c_contiguous or b.T.flags.c_contiguous))


def row_times(v, b, out):
    """out = v @ b for a row v (N,) and b (N, K) as ``fits`` takes it; returns out."""
    if b.flags.c_contiguous:
        return times(v, b, out)
    return times_transposed(v, b.T, out)
