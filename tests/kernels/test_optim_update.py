"""The fused optimizer kernels match their NumPy twins."""

import numpy as np
import pytest

from mesimp_engine.kernels.optim_update import (
    adagrad_step, adagrad_step_numpy, adam_step, adam_step_numpy, flat_views,
)


def _arrays(n, dtype, seed):
    rng = np.random.default_rng(seed)
    w, g, m = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    v = rng.random(n).astype(dtype)
    return w, g, m, v


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("clip", [0.0, 0.5])
def test_adam_kernel_matches_numpy(dtype, tol, weight_decay, clip):
    ours, ref = _arrays(1001, dtype, 0), _arrays(1001, dtype, 0)
    args = (1e-3, 0.9, 0.999, 1e-8, weight_decay, 1 - 0.9**3, 1 - 0.999**3, clip)
    adam_step(*ours, *args)
    adam_step_numpy(*ref, *args)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert not np.array_equal(ours[0], _arrays(1001, dtype, 0)[0])


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("clip", [0.0, 0.5])
def test_adagrad_kernel_matches_numpy(weight_decay, clip):
    ours, ref = _arrays(777, np.float64, 1)[:3], _arrays(777, np.float64, 1)[:3]
    ours[2][:] = np.abs(ours[2])
    ref[2][:] = np.abs(ref[2])
    adagrad_step(*ours, 0.1, 1e-6, weight_decay, clip)
    adagrad_step_numpy(*ref, 0.1, 1e-6, weight_decay, clip)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_flat_views_write_through_and_refuse_mixed_inputs():
    a, b = np.zeros((3, 4)), np.ones((3, 4))
    fa, fb = flat_views(a, b)
    fa += fb
    assert a.sum() == 12
    assert flat_views(a, b.astype(np.float32)) is None
    assert flat_views(a, np.ones((4, 3)).T) is None
