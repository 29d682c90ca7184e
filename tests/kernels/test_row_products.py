"""``row_products`` (one row times a large W, either way round) against NumPy: both dtypes,
row counts that are not multiples of the four-row passes or of the parts, misaligned W,
NaN propagating; the threads change no bit of the result; ``blas.matmul`` sends it exactly
the products ``fits`` accepts."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesimp_engine.kernels import row_products
from mesimp_engine.kernels.blas import matmul
from mesimp_engine.kernels.timed_choice import forced

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="too slow as Python")


def _problem(rng, N, K, dtype, offset=0):
    """W (N, K) C-contiguous, starting ``offset`` elements into its buffer (misaligned)."""
    buffer = np.empty(N * K + offset, dtype)
    W = buffer[offset:].reshape(N, K)
    W[:] = rng.standard_normal((N, K))
    return W, rng.standard_normal(K).astype(dtype), rng.standard_normal(N).astype(dtype)


@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    N=st.integers(1, 70),
    K=st.integers(1, 70),
    offset=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=120, deadline=None)
def test_matches_numpy_on_one_thread_and_many(dtype, N, K, offset, seed):
    W, x, v = _problem(np.random.default_rng(seed), N, K, dtype, offset)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    zero = W.dtype.type(0)
    forward = [np.full(N, np.nan, dtype) for _ in range(2)]
    for out, parallel in zip(forward, (False, True)):  # one thread, then the rows split among the threads
        row_products._times_transposed(x, W, parallel, 3, zero, out)
    np.testing.assert_allclose(forward[0], row_products.times_transposed_numpy(x, W, np.empty(N, dtype)),
                               rtol=tolerance, atol=tolerance * K)
    backward = [np.full(K, np.nan, dtype) for _ in range(2)]
    for out, parallel in zip(backward, (False, True)):
        row_products._times(v, W, parallel, np.empty((row_products.PARTS, K), dtype), out)
    np.testing.assert_allclose(backward[0], row_products.times_numpy(v, W, np.empty(K, dtype)),
                               rtol=tolerance, atol=tolerance * N)
    for results in (forward, backward):  # the same bits however the work is split
        for other in results[1:]:
            np.testing.assert_array_equal(other, results[0])


@needs_jit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tagger_shapes_same_bits_whatever_the_choice(dtype):
    """The POS tagger's recurrent product (2,000 x 500), through the timed choice forced to
    each option: identical results, close to the float64 product."""
    W, x, v = _problem(np.random.default_rng(1), 2000, 500, dtype)
    results = []
    for option in (0, 1):
        with forced(option):
            results.append((row_products.times_transposed(x, W, np.empty(2000, dtype)),
                            row_products.times(v, W, np.empty(500, dtype))))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    forward, backward = results[0]
    W64 = W.astype(np.float64)
    np.testing.assert_allclose(forward, W64 @ x.astype(np.float64), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(backward, v.astype(np.float64) @ W64, rtol=1e-4, atol=1e-3)


def test_nan_propagates():
    W, x, v = _problem(np.random.default_rng(2), 9, 7, np.float32)
    x[3] = np.nan
    v[5] = np.nan
    W[2, 4] = np.inf
    forward = row_products.times_transposed(x, W, np.empty(9, np.float32))
    backward = row_products.times(v, W, np.empty(7, np.float32))
    assert np.isnan(forward).all()  # every dot product meets x[3]
    assert np.isnan(backward).all()  # every column meets v[5]


def test_matmul_dispatch(monkeypatch):
    rng = np.random.default_rng(3)
    N, K = 600, 200  # 480 KB in float32: above MIN_BYTES
    W = rng.standard_normal((N, K)).astype(np.float32)
    assert W.nbytes >= row_products.MIN_BYTES
    x, dy = rng.standard_normal((1, K)).astype(np.float32), rng.standard_normal((1, N)).astype(np.float32)
    calls = []
    for name in ("times", "times_transposed"):
        real = getattr(row_products, name)
        monkeypatch.setattr(row_products, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    np.testing.assert_allclose(matmul(x, W.T), x @ W.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(matmul(dy, W), dy @ W, rtol=1e-4, atol=1e-4)
    expected = [] if numba.config.DISABLE_JIT else ["times_transposed", "times"]
    assert calls == expected
    # two rows, a small W, a W neither C- nor F-contiguous, mixed dtypes: elsewhere
    small = W[:100].copy()
    for a, b in [(np.vstack([x, x]), W.T), (x, small.T), (x, W.T[:, ::2]), (x, W.T.astype(np.float64))]:
        np.testing.assert_allclose(matmul(a, b), a @ b, rtol=1e-4, atol=1e-4)
    assert calls == expected
