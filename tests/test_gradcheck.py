"""The checker itself: it passes correct backwards and catches wrong ones."""

import numpy as np
import pytest

from mesimp_engine import gradcheck, ops
from mesimp_engine.graph import apply
from mesimp_engine.ops.activation import Tanh


class WrongTanh(Tanh):
    """tanh with a deliberately wrong derivative (1 - y instead of 1 - y^2)."""

    def backward(self, dy, needs):
        return (dy * (1 - self.y),)


def test_check_op_catches_wrong_backward():
    with pytest.raises(gradcheck.GradcheckError, match="WrongTanh input 0"):
        gradcheck.check_op(WrongTanh, np.random.default_rng(0).standard_normal((3, 4)))


def test_check_graph_catches_wrong_backward():
    x = np.random.default_rng(0).standard_normal((3, 4))
    with pytest.raises(gradcheck.GradcheckError, match="input0"):
        gradcheck.check(lambda x: ops.sum(apply(WrongTanh(), x)), x)


def test_readme_example():
    errors = gradcheck.check(
        lambda x, w: ops.tanh(ops.matmul(x, w)), np.random.randn(3, 4), np.random.randn(4, 2)
    )
    assert len(errors) == 2 and max(errors) < 1e-7


def test_numerical_gradient_of_a_quadratic():
    x = np.array([1.0, -2.0, 3.0])
    g = gradcheck.numerical_gradient(lambda: float(np.sum(x**2)), x)
    np.testing.assert_allclose(g, 2 * x, atol=1e-8)
