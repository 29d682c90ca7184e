"""``small_products``' three products of a few rows (x @ W^T, a @ W, a^T @ b) against NumPy:
both dtypes, every tail of the 4 x 4 blocks and of the vector tiles (rows and columns not
multiples of 4 or of a vector), K from 1, NaN and inf propagating; the threads change no
bit of the result; ``blas.matmul`` sends here exactly the products ``product`` accepts."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesimp_engine.kernels import small_products
from mesimp_engine.kernels.blas import matmul
from mesimp_engine.kernels.small_products import (
    times,
    times_numpy,
    times_transposed,
    times_transposed_numpy,
    transposed_times,
    transposed_times_numpy,
)
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


@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    B=st.integers(1, 13),
    N=st.integers(1, 40),
    K=st.integers(1, 70),
    offset=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=150, deadline=None)
def test_backward_products_match_numpy(dtype, B, N, K, offset, seed):
    """a @ W (a layer's dx = dy W) and a^T @ b (its dW = dy^T x), W and b starting
    ``offset`` elements into their buffers (rows not on vector boundaries); split among 1,
    2 and 3 threads' parts: the same bits."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((B, N)).astype(dtype)
    W = np.empty(N * K + offset, dtype)[offset:].reshape(N, K)
    W[:] = rng.standard_normal((N, K))
    x = np.empty(B * K + offset, dtype)[offset:].reshape(B, K)
    x[:] = rng.standard_normal((B, K))
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    dx = times(a, W, np.full((B, K), np.nan, dtype))
    np.testing.assert_allclose(dx, times_numpy(a, W, np.empty((B, K), dtype)), rtol=tolerance, atol=tolerance * N)
    dW = transposed_times(a, x, np.full((N, K), np.nan, dtype))
    np.testing.assert_allclose(dW, transposed_times_numpy(a, x, np.empty((N, K), dtype)), rtol=tolerance,
                               atol=tolerance * B)
    aT = np.ascontiguousarray(a.T)
    for chunks in (1, 2, 3):
        split = np.full((B, K), np.nan, dtype)
        small_products._times(a, aT, W, chunks > 1, chunks, split)
        np.testing.assert_array_equal(split, dx)
        split = np.full((N, K), np.nan, dtype)
        small_products._transposed_times(a, x, chunks > 1, chunks, split)
        np.testing.assert_array_equal(split, dW)


def test_backward_products_propagate_nan_and_inf():
    a = np.ones((5, 40), np.float32)
    W = np.ones((40, 50), np.float32)
    x = np.ones((5, 50), np.float32)
    a[1, 3] = np.nan
    W[4, 2] = np.inf
    x[2, 49] = np.inf
    with np.errstate(invalid="ignore"):
        expected_dx, expected_dW = a @ W, a.T @ x
    for got, expected in [(times(a, W, np.empty((5, 50), np.float32)), expected_dx),
                          (transposed_times(a, x, np.empty((40, 50), np.float32)), expected_dW)]:
        assert np.array_equal(np.isnan(got), np.isnan(expected)) and np.array_equal(np.isinf(got), np.isinf(expected))
        np.testing.assert_array_equal(got[np.isfinite(expected)], expected[np.isfinite(expected)])


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="too slow as Python")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mnist_backward_same_bits_whatever_the_choice(dtype):
    """The MNIST MLP's hidden layers' dx and dW through the timed choice forced to each
    option: identical results, close to float64's."""
    rng = np.random.default_rng(4)
    dy = rng.standard_normal((10, 500)).astype(dtype)
    W = rng.standard_normal((500, 784)).astype(dtype)
    x = rng.standard_normal((10, 784)).astype(dtype)
    results = []
    for option in (0, 1):
        with forced(option):
            results.append((times(dy, W, np.empty((10, 784), dtype)), transposed_times(dy, x, np.empty((500, 784), dtype))))
    for one, other in zip(*results):
        np.testing.assert_array_equal(one, other)
    dy64 = dy.astype(np.float64)
    np.testing.assert_allclose(results[0][0], dy64 @ W.astype(np.float64), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(results[0][1], dy64.T @ x.astype(np.float64), rtol=1e-4, atol=1e-3)


def test_matmul_dispatch(monkeypatch):
    """``blas.matmul`` gives ``small_products`` the three products of few rows (each once),
    and BLAS the rest."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 50)).astype(np.float32)
    W = rng.standard_normal((40, 50)).astype(np.float32)
    dy = rng.standard_normal((10, 40)).astype(np.float32)
    calls = []
    for name in ("times_transposed", "times", "transposed_times"):
        real = getattr(small_products, name)
        monkeypatch.setattr(small_products, name, lambda *a, name=name, real=real: calls.append(name) or real(*a))
    np.testing.assert_allclose(matmul(x, W.T), x @ W.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(matmul(dy, W), dy @ W, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(matmul(dy.T, x), dy.T @ x, rtol=1e-5, atol=1e-5)
    expected = [] if numba.config.DISABLE_JIT else ["times_transposed", "times", "transposed_times"]
    assert calls == expected  # (without the JIT, NumPy's products)
    # not C-contiguous as taken, too many rows, too few units, mixed dtypes: BLAS
    many = rng.standard_normal((65, 50)).astype(np.float32)
    for a, b in [(np.asfortranarray(x), W.T), (many, W.T), (x, W[:8].T), (x, W.T.astype(np.float64)),
                 (x, np.ascontiguousarray(W.T[:, :8])), (rng.standard_normal((65, 40)).astype(np.float32), W),
                 (dy[:, :8], W[:8]), (np.asfortranarray(dy).T, x), (many.T, many), (dy.T[:8], x)]:
        np.testing.assert_allclose(matmul(a, b), a @ b, rtol=1e-5, atol=1e-5)
    assert calls == expected
