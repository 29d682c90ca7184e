"""Parameter gradients: lazy zeroing and row-sparse accumulation."""

import numpy as np

from mesimp_engine.parameter import Parameter


def test_row_grads_accumulate_and_zero_like_numpy():
    rng = np.random.default_rng(0)
    p = Parameter(np.zeros((6, 4), np.float32), "w")
    expected = np.zeros((6, 4), np.float32)
    for rows in ([1, 4], [4, 0, 5]):
        rows = np.array(rows, np.int64)
        values = rng.standard_normal((rows.size, 4)).astype(np.float32)
        p.add_row_grad(rows, values)  # the Numba path
        expected[rows] += values
    p.add_row_grad(np.array([2], np.int64), 1.5)  # a scalar: NumPy's broadcasting path
    expected[2] += 1.5
    np.testing.assert_array_equal(p.grad, expected)
    np.testing.assert_array_equal(p.touched_rows(), [0, 1, 2, 4, 5])
    p.zero_grad()
    assert not p.grad.any() and p.touched_rows().size == 0


def test_a_dense_gradient_after_row_gradients():
    p = Parameter(np.zeros((3, 2)), "w")
    p.add_row_grad(np.array([1], np.int64), np.ones((1, 2)))
    p.add_grad(np.full((3, 2), 2.0))
    np.testing.assert_array_equal(p.grad, [[2, 2], [3, 3], [2, 2]])
    assert p.touched_rows() is None
    p.zero_grad()
    p.add_row_grad(np.array([0], np.int64), np.ones((1, 2)))
    np.testing.assert_array_equal(p.grad, [[1, 1], [0, 0], [0, 0]])
