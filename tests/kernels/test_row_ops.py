"""Row-wise gradient accumulation kernels against their NumPy twins."""

import numpy as np
import pytest

from mesimp_engine.kernels.row_ops import (
    add_rows_, add_rows_numpy, sum_rows_by_id, sum_rows_by_id_numpy, zero_rows_, zero_rows_numpy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(5))
def test_add_and_zero_rows_match_numpy(dtype, seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 40), rng.integers(1, 70)
    rows = rng.choice(n, size=rng.integers(0, n + 1), replace=False).astype(np.int64)
    values = rng.standard_normal((rows.size, m)).astype(dtype)
    values = values[:, ::-1] if seed % 2 else values  # strided values are fine too
    grad = rng.standard_normal((n, m)).astype(dtype)
    ours, twin = grad.copy(), grad.copy()
    add_rows_(ours, rows, values)
    add_rows_numpy(twin, rows, values)
    np.testing.assert_array_equal(ours, twin)
    zero_rows_(ours, rows[::2])
    zero_rows_numpy(twin, rows[::2])
    np.testing.assert_array_equal(ours, twin)
    assert not ours[rows[::2]].any()


def test_rows_out_of_range_raise():
    grad = np.zeros((3, 2))
    with pytest.raises(IndexError):
        add_rows_(grad, np.array([3], np.int64), np.ones((1, 2)))
    with pytest.raises(IndexError):
        zero_rows_(grad, np.array([-1], np.int64))
    assert not grad.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, F, V, m", [(0, 1, 5, 3), (1, 1, 1, 4), (50, 1, 7, 3), (30, 4, 1000, 5), (64, 3, 64, 1)])
def test_sum_rows_by_id_matches_twin(dtype, n, F, V, m):
    rng = np.random.default_rng(n + V)
    ids = rng.integers(0, V, size=(n, F))
    # dy a column slice of a wider gradient, as a concatenation hands it to a lookup
    dy = rng.standard_normal((n, F * m + 3)).astype(dtype)[:, 2 : 2 + F * m]
    got, want = [], []
    for fn, out in ((sum_rows_by_id, got), (sum_rows_by_id_numpy, want)):
        rows, values = np.full(min(n * F, V), -7, np.int64), np.full((min(n * F, V), m), np.nan, dtype)
        u = fn(ids, dy, np.empty(V, np.int64), rows, values)
        out.extend([rows[:u], values[:u]])
    np.testing.assert_array_equal(got[0], np.unique(ids))
    np.testing.assert_array_equal(got[0], want[0])
    # the same additions in the same order as np.add.at: equal to the last bit
    np.testing.assert_array_equal(got[1], want[1])


def test_sum_rows_by_id_rejects_an_id_out_of_range():
    with pytest.raises(IndexError):
        sum_rows_by_id(np.array([[0], [3]]), np.ones((2, 2)), np.empty(3, np.int64), np.empty(2, np.int64), np.empty((2, 2)))
