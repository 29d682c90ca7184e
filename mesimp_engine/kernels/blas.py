"""Matrix products through NumPy's BLAS, with the BLAS thread count chosen by size.

Why: the engine's Numba kernels (the fused optimizer updates, meProp's sparse backward,
top-k) run on their own thread pool. OpenBLAS's worker threads keep spinning after each
call, and so do Numba's; on a 2-core machine the two pools then fight for the cores. One
training step of the papers' MNIST MLP (784-500-500-10, mini-batch 10, Adam) measured
11.4 ms with both pools at 2 threads, 2.4 ms with BLAS on one thread (``bench overhead``).
Small products gain little from a second BLAS thread anyway (1.4x at 4 M multiply-adds
when nothing else runs), large ones a lot (1.9x at 392 M). So a product of fewer than
``SMALL_PRODUCT`` multiply-adds runs BLAS on one thread, a larger one on all of them.

The package also shortens OpenBLAS's spin after each call, when it is imported before NumPy
(``mesimp_engine.NUMPY_LOADED_FIRST``, ``OPENBLAS_THREAD_TIMEOUT``): a large product's
worker threads otherwise spin some 0.1 s after it returns, on the cores the next Numba
kernel wants.

Thread counts are set through threadpoolctl (one ctypes call, under a microsecond, and
only when the count changes). Without threadpoolctl, BLAS keeps its own setting.
"""

import numba
import numpy as np

from mesimp_engine.kernels import row_products, small_products
from mesimp_engine.kernels.memory import empty

SMALL_PRODUCT = 100_000_000
"""Multiply-adds below which BLAS runs on one thread."""

_blas = None
_current = None


def _controllers():
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        except ImportError:
            _blas = []
        for c in _blas:
            c.all_threads = c.num_threads
    return _blas


def set_blas_threads(single):
    """One BLAS thread (``single`` True), or all of them (False)."""
    global _current
    if single is _current:
        return
    for c in _controllers():
        c.set_num_threads(1 if single else c.all_threads)
    _current = single


def matmul(a, b, out=None):
    """a @ b (2-D), with BLAS on one thread below ``SMALL_PRODUCT`` multiply-adds; a new
    result is allocated by ``memory.empty`` (aligned when large). A layer's three products
    on at most ``small_products.SMALL_ROWS`` rows (x @ W.T, dy @ W, dy.T @ x) are computed by
    the engine's loops and tiles (``small_products.product``: the forward 3.3x faster than
    OpenBLAS on one thread at 10 rows, 784 -> 500; the backward 1.6x in the MNIST step, on
    two threads); a single row times a W of at least ``row_products.MIN_BYTES``, either way round, by
    ``row_products`` (on all of Numba's threads: 1.6-2x faster than one thread on two cores)."""
    if out is None:
        dtype = a.dtype if a.dtype == b.dtype else np.result_type(a.dtype, b.dtype)
        out = empty((a.shape[0], b.shape[1]), dtype)
    if not numba.config.DISABLE_JIT:
        if row_products.fits(a, b, out):
            row_products.row_times(a[0], b, out[0])
            return out
        if small_products.product(a, b, out) is not None:
            return out
    set_blas_threads(a.shape[0] * a.shape[1] * b.shape[1] < SMALL_PRODUCT)
    return np.matmul(a, b, out=out)
