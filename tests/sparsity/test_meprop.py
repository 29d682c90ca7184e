"""meProp backward (per example, unified, random-k) against plain NumPy references."""

import numba
import numpy as np
import pytest

from mesimp_engine.sparsity import meprop

# (B, n_in, n_out, k): n_out <= B and n_out > B take the two kernel orders
# the last two: register tiles and their leftover columns (600 inputs), and unified with more
# kept units than UNIFIED_KERNELS_UP_TO (the BLAS products)
SHAPES = [(1, 3, 1, 1), (6, 9, 4, 2), (4, 33, 17, 5), (40, 65, 12, 3), (3, 8, 70, 7), (16, 20, 16, 16),
          (30, 600, 40, 9), (20, 70, 100, 70)]


def _problem(seed, B, n_in, n_out, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, n_in)).astype(dtype)
    W = rng.standard_normal((n_out, n_in)).astype(dtype)
    dy = rng.standard_normal((B, n_out)).astype(dtype)
    return x, W, dy


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def _reference_select(dy, k):
    """Stable sort of -|dy| per row: the k largest, ties to the lower index."""
    return np.sort(np.argsort(-np.abs(dy), axis=1, kind="stable")[:, :k], axis=1)


def _masked_reference(x, W, dy, idx):
    """Dense products of dy with everything outside idx zeroed."""
    masked = np.zeros_like(dy)
    np.put_along_axis(masked, idx, np.take_along_axis(dy, idx, axis=1), axis=1)
    rows = np.unique(idx)
    return masked @ W, rows, (masked.T @ x)[rows], dy.sum(0)


def test_selection_breaks_ties_to_the_lower_index():
    a = np.array([[1.0, -3.0, 3.0, 2.0, -3.0], [0.0, 0.0, 0.0, 0.0, 0.0], [5.0, 1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(meprop.select_per_example(a, 2), [[1, 2], [0, 1], [0, 1]])
    np.testing.assert_array_equal(meprop.select_per_example(a, 3), [[1, 2, 4], [0, 1, 2], [0, 1, 2]])


@pytest.mark.parametrize("seed", range(6))
def test_select_per_example_matches_stable_sort(seed):
    rng = np.random.default_rng(seed)
    B, n = rng.integers(1, 30), rng.integers(1, 60)
    k = int(rng.integers(1, n + 1))
    # few distinct values: many ties
    dy = rng.integers(-3, 4, size=(B, n)).astype(np.float32)
    idx = meprop.select_per_example(dy, k)
    assert idx.dtype == np.int64 and idx.shape == (B, k)
    np.testing.assert_array_equal(idx, _reference_select(dy, k))


def test_select_unified_is_top_k_of_column_sums():
    dy = np.array([[1.0, -2.0, 0.5, 0.0], [-1.0, 2.0, 0.5, 3.0]])
    db = np.empty(4)
    cols = meprop.select_unified(dy, 2, db_out=db)
    np.testing.assert_array_equal(cols, [1, 3])
    np.testing.assert_allclose(db, dy.sum(0))
    # column sums 2, 4, 1, 3 with a tie at k=... : ties go to the lower index
    np.testing.assert_array_equal(meprop.select_unified(np.ones((3, 5)), 3), [0, 1, 2])


def test_k_out_of_range():
    dy = np.ones((2, 3))
    with pytest.raises(ValueError, match="k >= 1"):
        meprop.select_per_example(dy, 0)
    with pytest.raises(ValueError, match="k >= 1"):
        meprop.select_unified(dy, -1)
    assert meprop.select_per_example(dy, 7).shape == (2, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("need_dx", [True, False])
def test_per_example_matches_masked_reference(dtype, shape, need_dx):
    B, n_in, n_out, k = shape
    x, W, dy = _problem(10, B, n_in, n_out, dtype)
    idx = meprop.select_per_example(dy, k)
    dx, rows, dW_rows, db = meprop.backward_per_example(x, W, dy, idx, need_dx=need_dx)
    dx_ref, rows_ref, dW_ref, db_ref = _masked_reference(x, W, dy, _reference_select(dy, k))
    np.testing.assert_array_equal(rows, rows_ref)
    assert rows.dtype == np.int64 and dW_rows.dtype == dtype and dW_rows.shape == (rows.size, n_in)
    np.testing.assert_allclose(dW_rows, dW_ref, **_tol(dtype))
    np.testing.assert_allclose(db, db_ref, **_tol(dtype))
    if need_dx:
        assert dx.dtype == dtype
        np.testing.assert_allclose(dx, dx_ref, **_tol(dtype))
    else:
        assert dx is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_unified_matches_reference(dtype, shape):
    B, n_in, n_out, k = shape
    x, W, dy = _problem(11, B, n_in, n_out, dtype)
    cols = meprop.select_unified(dy, k)
    scores = np.abs(dy.astype(np.float64)).sum(0)
    ref_cols = np.sort(np.argsort(-scores, kind="stable")[:k])
    np.testing.assert_array_equal(cols, ref_cols)
    dx, rows, dW_rows, db = meprop.backward_unified(x, W, dy, cols)
    dx_ref, rows_ref, dW_ref, db_ref = _masked_reference(x, W, dy, np.broadcast_to(ref_cols, (B, k)))
    np.testing.assert_array_equal(rows, rows_ref)
    np.testing.assert_allclose(dx, dx_ref, **_tol(dtype))
    np.testing.assert_allclose(dW_rows, dW_ref, **_tol(dtype))
    np.testing.assert_allclose(db, db_ref, **_tol(dtype))
    assert meprop.backward_unified(x, W, dy, cols, need_dx=False)[0] is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_k_at_least_n_out_reproduces_dense_in_every_mode(dtype, shape):
    B, n_in, n_out, _ = shape
    x, W, dy = _problem(12, B, n_in, n_out, dtype)
    dx_d, dW_d, db_d = meprop.backward_dense(x, W, dy)
    tol = _tol(dtype)
    for k in (n_out, n_out + 3):
        results = [
            meprop.backward_per_example(x, W, dy, meprop.select_per_example(dy, k)),
            meprop.backward_unified(x, W, dy, meprop.select_unified(dy, k)),
            meprop.backward_per_example(x, W, dy, meprop.select_random(B, n_out, k, np.random.default_rng(0))),
        ]
        for dx, rows, dW_rows, db in results:
            np.testing.assert_array_equal(rows, np.arange(n_out))
            np.testing.assert_allclose(dx, dx_d, **tol)
            np.testing.assert_allclose(dW_rows, dW_d, **tol)
            np.testing.assert_allclose(db, db_d, **tol)


def test_preallocated_outputs_are_used():
    x, W, dy = _problem(13, 8, 10, 30)
    idx = meprop.select_per_example(dy, 3)
    dx_out, dW_out = np.empty((8, 10)), np.empty((30, 10))
    dx, rows, dW_rows, _ = meprop.backward_per_example(x, W, dy, idx, dx_out=dx_out, dW_out=dW_out)
    assert dx is dx_out and np.shares_memory(dW_rows, dW_out)
    np.testing.assert_allclose(dW_rows, _masked_reference(x, W, dy, idx)[2])
    cols = meprop.select_unified(dy, 4)
    dx, rows, dW_rows, _ = meprop.backward_unified(x, W, dy, cols, dx_out=dx_out, dW_out=dW_out)
    assert dx is dx_out and np.shares_memory(dW_rows, dW_out)


def test_select_random_draws_k_distinct_uniform_units():
    rng = np.random.default_rng(5)
    B, n, k = 4000, 10, 3
    idx = meprop.select_random(B, n, k, rng)
    assert idx.shape == (B, k) and idx.dtype == np.int64
    assert np.all(np.diff(idx, axis=1) > 0) and idx.min() >= 0 and idx.max() < n
    counts = np.bincount(idx.ravel(), minlength=n)
    # each unit is drawn with probability k/n: 1200 expected, sd about 29
    assert np.all(np.abs(counts - B * k / n) < 150)
    again = meprop.select_random(B, n, k, np.random.default_rng(5))
    np.testing.assert_array_equal(idx, again)
    assert not np.array_equal(idx, meprop.select_random(B, n, k, rng))



@pytest.mark.parametrize("need_dx", [True, False])
def test_parallel_and_serial_paths_agree(monkeypatch, need_dx):
    """Above _SERIAL_WORK the columns are split over the threads: same gradients."""
    x, W, dy = _problem(14, 9, 70, 12, np.float32)
    idx = meprop.select_per_example(dy, 5)
    serial = meprop.backward_per_example(x, W, dy, idx, need_dx=need_dx)
    monkeypatch.setattr(meprop, "_SERIAL_WORK", 0)
    assert meprop._chunk(1, 70) == min(70, 16 * (-(-70 // (16 * numba.get_num_threads()))))
    split = meprop.backward_per_example(x, W, dy, idx, need_dx=need_dx)
    for a, b in zip(serial, split):
        if a is None:
            assert b is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["per_example", "unified"])
def test_a_split_problem_times_the_threads_split_against_one_task_with_the_same_gradients(monkeypatch, mode):
    """Above _SERIAL_WORK the kernel runs the threads' column split or one task, whichever
    has been faster lately (``kernels.timed_choice``); every call gives the same gradients."""
    from mesimp_engine.kernels.timed_choice import RECENT

    if numba.get_num_threads() < 2 or numba.config.DISABLE_JIT:
        pytest.skip("one thread: nothing to split")
    monkeypatch.setattr(meprop, "_SERIAL_WORK", 0)
    monkeypatch.setattr(meprop, "_SPLITS", meprop.TimedChoices(meprop._SPLITS.make))
    x, W, dy = _problem(14, 9, 700, 12, np.float32)
    if mode == "unified":
        cols = meprop.select_unified(dy, 5)
        calls = [meprop.backward_unified(x, W, dy, cols) for _ in range(2 * RECENT + 3)]
    else:
        idx = meprop.select_per_example(dy, 5)
        calls = [meprop.backward_per_example(x, W, dy, idx) for _ in range(2 * RECENT + 3)]
    for later in calls[1:]:  # equal but for the last bit of rows not 64-byte aligned (meprop._chunk)
        for a, b in zip(calls[0], later):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    (choice,) = meprop._SPLITS.choices.values()
    assert choice.options == [meprop._chunk(1, 700), 700] and choice.options[0] < 700
    assert all(len(times) == RECENT for times in choice.times)


def test_example_block_keeps_four_examples_per_unit_and_block():
    from mesimp_engine.sparsity.meprop import EXAMPLE_BLOCK, example_block

    assert example_block(10_000, 500, 20) == EXAMPLE_BLOCK  # the parser: 100 would do, 256 is the floor
    assert example_block(1024, 8192, 32) == 1024  # Table 7, k = 32: 4 examples per unit in the batch
    assert example_block(1024, 8192, 512) == EXAMPLE_BLOCK
    assert example_block(1024, 8192, 8) == 4096  # more than the batch: one block
