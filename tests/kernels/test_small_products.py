"""``small_products.times_transposed`` (x @ W^T for few rows of x) against NumPy: both
dtypes, every tail of the 4 x 4 blocks (rows of x and of W not multiples of 4), K from 1,
NaN and inf propagating; the threads change no bit of the result; ``blas.matmul`` sends it
exactly the products ``fits`` accepts."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesimp_engine.kernels import small_products
from mesimp_engine.kernels.blas import matmul
from mesimp_engine.kernels.small_products import times_transposed, times_transposed_numpy
from mesimp_engine.kernels.timed_choice import forced


@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    B=st.integers(1, 13),
    K=st.integers(1, 40),
    N=st.integers(1, 13),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=150, deadline=None)
def test_matches_numpy(dtype, B, K, N, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, K)).astype(dtype)
    W = rng.standard_normal((N, K)).astype(dtype)
    expected = times_transposed_numpy(x, W, np.empty((B, N), dtype))
    got = times_transposed(x, W, np.full((B, N), np.nan, dtype))
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance * K)
    for chunks in (2, 3):  # the blocks of W's rows split among the threads: the same bits
        split = np.full((B, N), np.nan, dtype)
        small_products._times_transposed(x, W, True, chunks, W.dtype.type(0), split)
        np.testing.assert_array_equal(split, got)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="too slow as Python")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(10, 784, 500), (7, 500, 403)])
def test_mnist_shapes_same_bits_whatever_the_choice(dtype, shape):
    """Products large enough for the timed choice between one thread and all of them
    (``PARALLEL_FROM``), forced to each option: identical results, close to float64's."""
    B, K, N = shape
    assert B * K * N >= small_products.PARALLEL_FROM
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, K)).astype(dtype)
    W = rng.standard_normal((N, K)).astype(dtype)
    results = []
    for option in (0, 1):
        with forced(option):
            results.append(times_transposed(x, W, np.full((B, N), np.nan, dtype)))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], x.astype(np.float64) @ W.T.astype(np.float64), rtol=1e-4, atol=1e-3)


def test_nan_and_inf_propagate():
    x = np.ones((5, 7), np.float32)
    W = np.ones((6, 7), np.float32)
    x[1, 3] = np.nan
    W[4, 2] = np.inf
    got = times_transposed(x, W, np.empty((5, 6), np.float32))
    expected = x @ W.T
    assert np.array_equal(np.isnan(got), np.isnan(expected)) and np.array_equal(np.isinf(got), np.isinf(expected))
    np.testing.assert_array_equal(got[np.isfinite(expected)], expected[np.isfinite(expected)])


def test_matmul_dispatch(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 50)).astype(np.float32)
    W = rng.standard_normal((40, 50)).astype(np.float32)
    calls = []
    real = small_products.times_transposed
    monkeypatch.setattr(small_products, "times_transposed", lambda *a: calls.append(1) or real(*a))
    np.testing.assert_allclose(matmul(x, W.T), x @ W.T, rtol=1e-5, atol=1e-5)
    once = [] if numba.config.DISABLE_JIT else [1]  # (without the JIT, NumPy's product)
    assert calls == once
    # not x @ W^T of a C-contiguous W, too many rows, too few outputs, mixed dtypes: BLAS
    for a, b in [(x, W.T.copy()), (rng.standard_normal((65, 50)).astype(np.float32), W.T), (x, W[:8].T),
                 (x, W.T.astype(np.float64))]:
        np.testing.assert_allclose(matmul(a, b), a @ b, rtol=1e-5, atol=1e-5)
    assert calls == once


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_layer_shapes(dtype):
    """The MNIST layer's shapes, through the dispatch, close to the float64 product."""
    rng = np.random.default_rng(1)
    x = rng.random((10, 784)).astype(dtype)
    W = rng.standard_normal((500, 784)).astype(dtype) * 0.05
    exact = x.astype(np.float64) @ W.T.astype(np.float64)
    np.testing.assert_allclose(matmul(x, W.T), exact, rtol=1e-4, atol=1e-4)
