"""The register-tile row sums (LLVM vector IR) against their Python twins."""

import numpy as np
import pytest
from numba import njit

from mesimp_engine.kernels import row_tiles as T
from mesimp_engine.kernels.memory import aligned_empty


@njit(cache=True)
def _compiled(out, o, src, rows, scales, p0, p1, col, accumulate, stream, vectors):
    T.row_sum(out, o, src, rows, scales, p0, p1, col, accumulate, stream, vectors)
    if stream:
        T.store_fence()
    T.prefetch(src.reshape(-1), col)


def _case(dtype, vectors, seed):
    rng = np.random.default_rng(seed)
    lanes = T.VECTOR_BYTES // np.dtype(dtype).itemsize
    n_in = vectors * lanes * 2 + 3 * lanes
    src = rng.standard_normal((9, n_in)).astype(dtype)
    rows = rng.integers(0, 9, size=12).astype(np.int64)
    scales = rng.standard_normal(12).astype(dtype)
    out = aligned_empty((4 * n_in,), dtype)
    out[:] = rng.standard_normal(out.size).astype(dtype)
    return src, rows, scales, out, lanes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("vectors", T.VECTOR_COUNTS)
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("p", [(0, 12), (3, 4), (5, 5), (2, 11)])
def test_row_sum_matches_twin(dtype, vectors, accumulate, stream, p):
    src, rows, scales, out, lanes = _case(dtype, vectors, 0)
    # a column past a vector boundary (unaligned loads) and an aligned output offset
    col, o = lanes + 1, 2 * lanes
    got, want = aligned_empty(out.shape, dtype), out.copy()
    got[:] = out
    _compiled(got, o, src, rows, scales, p[0], p[1], col, accumulate, stream, vectors)
    T.row_sum(want, o, src, rows, scales, p[0], p[1], col, accumulate, stream, vectors)
    width = vectors * lanes
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got, want, **tol)
    # only the tile's elements change, and they hold the stated sum
    np.testing.assert_array_equal(got[:o], out[:o])
    np.testing.assert_array_equal(got[o + width :], out[o + width :])
    expected = (out[o : o + width] if accumulate else 0) + sum(
        (scales[q] * src[rows[q], col : col + width] for q in range(*p)), np.zeros(width, dtype))
    np.testing.assert_allclose(got[o : o + width], expected, **tol)


def test_stream_ok_checks_alignment():
    a = aligned_empty((64,), np.float32)
    assert T.stream_ok(a, 0) and T.stream_ok(a, 16)
    assert not T.stream_ok(a, 1) and not T.stream_ok(a, 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("units", T.UNIT_COUNTS)
@pytest.mark.parametrize("vectors", T.OUTER_VECTORS)
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("b", [(0, 9), (4, 5), (3, 3)])
def test_outer_sum_matches_twin(dtype, units, vectors, accumulate, stream, b):
    rng = np.random.default_rng(1)
    lanes = T.VECTOR_BYTES // np.dtype(dtype).itemsize
    n_in = (vectors + 2) * lanes + 3
    src = rng.standard_normal((9, n_in)).astype(dtype)
    g = rng.standard_normal((9, 7)).astype(dtype)
    # rows of 64-byte multiples, aligned: streaming stores need the tile aligned
    n_out_cols = (n_in + lanes - 1) // lanes * lanes
    out = aligned_empty((6, n_out_cols), dtype)
    out[:] = rng.standard_normal(out.shape).astype(dtype)
    src = np.ascontiguousarray(np.pad(src, ((0, 0), (0, n_out_cols - n_in))))
    r, col, u0 = 1, lanes, 2
    got, want = aligned_empty(out.shape, dtype), out.copy()
    got[:] = out
    _outer(got, r, col, g, u0, src, b[0], b[1], accumulate, units, vectors, stream)
    T.outer_sum(want, r, col, g, u0, src, b[0], b[1], accumulate, units, vectors, stream)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got, want, **tol)
    width = vectors * lanes
    block = (slice(r, r + units), slice(col, col + width))
    expected = (out[block] if accumulate else 0) + g[b[0] : b[1], u0 : u0 + units].T @ src[b[0] : b[1], col : col + width]
    np.testing.assert_allclose(got[block], expected, **tol)
    untouched = np.ones(out.shape, bool)
    untouched[block] = False
    np.testing.assert_array_equal(got[untouched], out[untouched])


@njit(cache=True)
def _outer(out, r, col, g, u0, src, b0, b1, accumulate, units, vectors, stream):
    T.outer_sum(out, r, col, g, u0, src, b0, b1, accumulate, units, vectors, stream)
    if stream:
        T.store_fence()
