"""The meProp backward kernels against their NumPy twins, on seeded random shapes."""

import numpy as np
import pytest

from mesimp_engine.kernels import sparse_linear as K
from mesimp_engine.kernels.memory import aligned_empty

SHAPES = [(1, 1, 1, 1), (3, 5, 4, 2), (7, 33, 6, 6), (20, 70, 9, 3), (5, 40, 50, 7), (2, 17, 31, 31)]


def _problem(seed, B, n_in, n_out, k, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, n_in)).astype(dtype)
    W = rng.standard_normal((n_out, n_in)).astype(dtype)
    dy = rng.standard_normal((B, n_out)).astype(dtype)
    idx = np.stack([rng.choice(n_out, size=k, replace=False) for _ in range(B)]).astype(np.int64)
    return x, W, dy, idx


def _rows(idx, n_out, fn=K.selected_rows):
    rows = np.empty(n_out, np.int64)
    rank = np.empty(n_out, np.int64)
    n = fn(idx, rows, rank)
    return rows, rank, n


@pytest.mark.parametrize("shape", SHAPES)
def test_selected_rows_matches_twin(shape):
    B, n_in, n_out, k = shape
    idx = _problem(0, *shape, np.float32)[3]
    rows, rank, n = _rows(idx, n_out)
    rows_ref, rank_ref, n_ref = _rows(idx, n_out, K.selected_rows_numpy)
    assert n == n_ref == np.unique(idx).size
    np.testing.assert_array_equal(rows[:n], rows_ref[:n])
    np.testing.assert_array_equal(rank, rank_ref)
    np.testing.assert_array_equal(rows[:n], np.unique(idx))


def _index(fn, idx, dy, rank, n, block):
    n_blocks = -(-idx.shape[0] // block)
    ptr, ex, val = np.empty(n_blocks * n + 1, np.int64), np.empty(idx.size, np.int64), np.empty(idx.size, dy.dtype)
    picked = np.empty(idx.shape, dy.dtype)
    fn(idx, dy, rank, n, block, ptr, ex, val, picked)
    np.testing.assert_array_equal(picked, np.take_along_axis(dy, idx, axis=1))
    return ptr, ex, val, picked


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("block", [1, 3, 10_000])
def test_invert_selection_matches_twin(shape, block):
    B, n_in, n_out, k = shape
    x, W, dy, idx = _problem(1, *shape, np.float64)
    rows, rank, n = _rows(idx, n_out)
    outs = [_index(fn, idx, dy, rank, n, block) for fn in (K.invert_selection, K.invert_selection_numpy)]
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
    ptr, ex, val, _ = outs[0]
    for q in range(-(-B // block)):
        for r in range(n):
            lo, hi = ptr[q * n + r], ptr[q * n + r + 1]
            b = ex[lo:hi]
            assert np.all(np.diff(b) > 0)
            assert np.all(b // block == q)
            assert np.all(np.any(idx[b] == rows[r], axis=1))
            np.testing.assert_array_equal(val[lo:hi], dy[b, rows[r]])
    # every selected pair appears exactly once
    assert sorted(zip(ex.tolist(), val.tolist())) == sorted(
        (b, dy[b, j]) for b in range(B) for j in idx[b].tolist())


def _run(fn, x, W, dy, idx, chunk, need_dx, block=4, dx_offset=0):
    rows, rank, n = _rows(idx, W.shape[0])
    ptr, ex, val, picked = _index(K.invert_selection, idx, dy, rank, n, block)
    dx = _filled(x.shape if need_dx else (0, 0), x.dtype, dx_offset)
    dW = _filled((n, x.shape[1]), x.dtype, 0)
    fn(x, W, idx, picked, ptr, ex, val, block, chunk, need_dx, dx, dW)
    return dx, dW


def _filled(shape, dtype, offset):
    """An array of NaN whose data start ``offset`` elements past a 64-byte boundary."""
    a = aligned_empty((int(np.prod(shape)) + offset,), dtype)[offset:].reshape(shape)
    a[...] = np.nan
    return a


def _shifted(a, offset):
    """A copy of a whose data start ``offset`` elements past a 64-byte boundary."""
    out = _filled(a.shape, a.dtype, offset)
    out[...] = a
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("chunk", [1, 16, 1000])
@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("block", [1, 4, 10_000])
def test_sparse_backward_matches_twin(dtype, shape, chunk, need_dx, block):
    x, W, dy, idx = _problem(2, *shape, dtype)
    dx, dW = _run(K.sparse_backward, x, W, dy, idx, chunk, need_dx, block)
    dx_ref, dW_ref = _run(K.sparse_backward_numpy, x, W, dy, idx, chunk, need_dx, block)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dW, dW_ref, **tol)
    if need_dx:
        np.testing.assert_allclose(dx, dx_ref, **tol)
    else:
        assert dx.size == 0


@pytest.mark.parametrize("chunk", [5, 1000])
def test_sparse_backward_matches_masked_dense_product(chunk):
    """Independent of the twin: the sparse products equal dense products of a masked dy
    (k = 11 exercises the four-row blocks and the remainder)."""
    B, n_in, n_out, k = 13, 29, 17, 11
    x, W, dy, idx = _problem(3, B, n_in, n_out, k, np.float64)
    masked = np.zeros_like(dy)
    np.put_along_axis(masked, idx, np.take_along_axis(dy, idx, axis=1), axis=1)
    dx, dW = _run(K.sparse_backward, x, W, dy, idx, chunk, True)
    np.testing.assert_allclose(dx, masked @ W, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dW, (masked.T @ x)[np.unique(idx)], rtol=1e-12, atol=1e-12)


# wide enough for the register tiles (row_tiles): 600 float32 columns are two 256-column
# tiles, vectors of 8, 4 and 1 (83 columns) and 8 columns left over; 4,096 x 600 float32 of
# dx (9.8 MB) passes STREAM_BYTES, so the streaming stores run when dx is aligned like W
TILED = [(9, 600, 40, 7), (3, 333, 12, 12), (600, 4096, 30, 5)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", TILED)
@pytest.mark.parametrize("chunk", [48, 10_000])
@pytest.mark.parametrize("offsets", [(0, 0, 0), (4, 4, 4), (0, 3, 1), (1, 0, 2)])
def test_sparse_backward_tiles_match_masked_dense_product(dtype, shape, chunk, offsets):
    """The register tiles, with W, x and dx each aligned to 64 bytes or shifted by a few
    elements (the tiles then start at the first aligned column, and dx streams only when
    it is aligned like W), against dense products of a masked dy."""
    B, n_in, n_out, k = shape
    x, W, dy, idx = _problem(5, B, n_in, n_out, k, dtype)
    x, W = _shifted(x, offsets[0]), _shifted(W, offsets[1])
    masked = np.zeros_like(dy)
    np.put_along_axis(masked, idx, np.take_along_axis(dy, idx, axis=1), axis=1)
    for block in (4, 256):
        dx, dW = _run(K.sparse_backward, x, W, dy, idx, chunk, True, block, dx_offset=offsets[2])
        tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, masked @ W, **tol)
        np.testing.assert_allclose(dW, (masked.T @ x)[np.unique(idx)], **tol)


@pytest.mark.parametrize("B, n", [(1, 7), (2, 7), (3, 7), (10, 7), (601, 500)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_sums_matches_twin(B, n, dtype):
    dy = np.random.default_rng(4).standard_normal((B, n)).astype(dtype)
    db, s = np.full(n, np.nan, dtype), np.full(n, np.nan, dtype)
    db_ref, s_ref = np.empty(n, dtype), np.empty(n, dtype)
    K.column_sums(dy, db, s)
    K.column_sums_numpy(dy, db_ref, s_ref)
    np.testing.assert_allclose(db, db_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(s, s_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(s, np.abs(dy).sum(0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,n_in,size,blocks,k", [(1, 5, 4, 1, 1), (10, 33, 50, 1, 7), (3, 20, 12, 4, 3), (7, 9, 130, 2, 21)])
@pytest.mark.parametrize("need_dx", [True, False])
def test_select_and_backward_matches_twin(dtype, B, n_in, size, blocks, k, need_dx):
    from mesimp_engine.kernels.magnitude_key import KEY_DTYPES
    from mesimp_engine.kernels.topk_filter import filter_work
    from mesimp_engine.sparsity.topk import lanes_for

    rng = np.random.default_rng(5)
    n_out = size * blocks
    x = rng.standard_normal((B, n_in)).astype(dtype)
    W = rng.standard_normal((n_out, n_in)).astype(dtype)
    dy = rng.standard_normal((B, n_out)).astype(dtype)
    dy[0, :3] = 0.0  # ties at zero
    results = []
    for fn in (K.select_and_backward, K.select_and_backward_numpy):
        kd = KEY_DTYPES[np.dtype(dtype)]
        work = filter_work(min(lanes_for(k), size), size, kd)
        idx, rows, rank = np.empty((B, blocks * k), np.int64), np.empty(n_out, np.int64), np.empty(n_out, np.int64)
        dx = np.full((B, n_in) if need_dx else (0, 0), np.nan, dtype)
        dW = np.full((n_out, n_in), np.nan, dtype)
        db = np.full(n_out, np.nan, dtype)
        n = fn(x, W, dy, k, blocks, work, need_dx, idx, rows, rank, dx, dW, db)
        results.append((idx, rows[:n], rank, dx, dW[:n], db))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, **tol)
    # the selection is the contract's top-k of each block
    idx = results[0][0]
    for b in range(B):
        for q in range(blocks):
            block = dy[b, q * size:(q + 1) * size]
            want = np.sort(np.argsort(-np.abs(block), kind="stable")[:k]) + q * size
            np.testing.assert_array_equal(idx[b, q * k:(q + 1) * k], want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 33, 9, 3), (300, 600, 40, 7), (130, 333, 12, 11), (600, 4096, 30, 5)])
@pytest.mark.parametrize("chunk", [48, 10_000])
@pytest.mark.parametrize("offsets", [(0, 0, 0), (4, 4, 4), (1, 3, 0)])
@pytest.mark.parametrize("need_dx", [True, False])
def test_unified_backward_matches_twin_and_dense_product(dtype, shape, chunk, offsets, need_dx):
    """The unified kernels (outer-product tiles for dW and dx), with arrays
    aligned or shifted, against their twin and the dense products of the kept columns."""
    B, n_in, n_out, k = shape
    x, W, dy, _ = _problem(6, B, n_in, n_out, k, dtype)
    x, W = _shifted(x, offsets[0]), _shifted(W, offsets[1])
    cols = np.sort(np.random.default_rng(7).choice(n_out, size=k, replace=False)).astype(np.int64)
    g = np.ascontiguousarray(dy[:, cols])
    gT, Wk = np.ascontiguousarray(g.T), _shifted(W[cols], offsets[1])
    outs = []
    for fn in (K.unified_backward, K.unified_backward_numpy):
        dx = _filled((B, n_in) if need_dx else (0, 0), dtype, offsets[2])
        dW = _filled((k, n_in), dtype, 0)
        fn(x, W, cols, g, gT, Wk, chunk, need_dx, dx, dW)
        outs.append((dx, dW))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    (dx, dW), (dx_ref, dW_ref) = outs
    np.testing.assert_allclose(dW, dW_ref, **tol)
    np.testing.assert_allclose(dW, g.T.astype(np.float64) @ x, **tol)
    if need_dx:
        np.testing.assert_allclose(dx, dx_ref, **tol)
        np.testing.assert_allclose(dx, g.astype(np.float64) @ W[cols], **tol)
    else:
        assert dx.size == 0


@pytest.mark.parametrize("unified", [False, True])
def test_aligned_results_do_not_depend_on_the_column_split(unified):
    """On 64-byte aligned rows (the engine's arrays) one task and many give the same bits."""
    B, n_in, n_out, k = 40, 608, 30, 5
    x, W, dy, idx = _problem(8, B, n_in, n_out, k, np.float32)
    x, W = _shifted(x, 0), _shifted(W, 0)
    results = []
    for chunk in (n_in, 304, 160, 16):
        if unified:
            cols = np.arange(k, dtype=np.int64) * 3
            g = np.ascontiguousarray(dy[:, cols])
            dx, dW = _filled((B, n_in), np.float32, 0), _filled((k, n_in), np.float32, 0)
            K.unified_backward(x, W, cols, g, np.ascontiguousarray(g.T), _shifted(W[cols], 0), chunk, True, dx, dW)
        else:
            dx, dW = _run(K.sparse_backward, x, W, dy, idx, chunk, True, block=8)
        results.append((dx, dW))
    for dx, dW in results[1:]:
        np.testing.assert_array_equal(dx, results[0][0])
        np.testing.assert_array_equal(dW, results[0][1])
