"""The update-size kernel against its NumPy twin, and ``UpdateMeter`` on known steps."""

import numpy as np
import pytest

from mesimp_engine.kernels.update_size import abs_change_, abs_change_numpy_
from mesimp_engine.parameter import Parameter
from mesimp_engine.train.update_meter import UpdateMeter


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_abs_change_matches_numpy_and_updates_the_copy(dtype, n):
    rng = np.random.default_rng(n)
    w = rng.standard_normal(n).astype(dtype)
    previous = rng.standard_normal(n).astype(dtype)
    ours, twin = previous.copy(), previous.copy()
    total = abs_change_(w, ours)
    assert total == pytest.approx(abs_change_numpy_(w, twin), rel=1e-12)
    assert total == pytest.approx(float(np.abs(w.astype(np.float64) - previous).sum()), rel=1e-12)
    np.testing.assert_array_equal(ours, w)
    np.testing.assert_array_equal(twin, w)
    assert abs_change_(w, ours) == 0.0


def test_update_meter_sums_each_step_and_restarts_a_resized_parameter():
    weight = Parameter(np.zeros((3, 4), np.float32), "w")
    bias = Parameter(np.zeros(3, np.float32), "b")
    frozen = Parameter(np.zeros(5, np.float32), "f", requires_grad=False)
    meter = UpdateMeter([weight, bias, frozen])
    weight.value[0, 1] = 0.5
    bias.value[:] = -0.25
    frozen.value[:] = 9.0  # not trainable: not counted
    assert meter.measure() == (pytest.approx(0.5 + 3 * 0.25), 15)
    assert meter.measure() == (0.0, 15)
    weight.replace(np.ones((2, 4), np.float32))  # a pruned layer: no change counted this step
    bias.value[1] = 1.0
    assert meter.measure() == (pytest.approx(1.25), 3)
    weight.value[1, 3] = 3.0
    assert meter.measure() == (pytest.approx(2.0), 11)
