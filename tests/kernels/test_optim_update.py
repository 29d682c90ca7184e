"""The fused optimizer kernels match their NumPy twins."""

import numba
import numpy as np
import pytest

from mesimp_engine.kernels.optim_update import (
    adagrad_step, adagrad_step_numpy, adagrad_step_parallel, adagrad_step_serial, adam_coefficients, adam_step,
    adam_step_numpy, adam_step_parallel, adam_step_serial, cast_scalars, flat_views, PARALLEL_FROM,
)
from mesimp_engine.kernels.timed_choice import RECENT, THREADS

ADAM = [adam_step_parallel, adam_step_serial, adam_step]
ADAGRAD = [adagrad_step_parallel, adagrad_step_serial, adagrad_step]


def _arrays(n, dtype, seed):
    rng = np.random.default_rng(seed)
    w, g, m = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    v = rng.random(n).astype(dtype)
    return w, g, m, v


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("clip", [0.0, 0.5])
@pytest.mark.parametrize("kernel", ADAM, ids=lambda f: f.__name__)
def test_adam_kernel_matches_numpy(dtype, tol, weight_decay, clip, kernel):
    ours, ref = _arrays(1001, dtype, 0), _arrays(1001, dtype, 0)
    args = adam_coefficients(dtype, 1e-3, 0.9, 0.999, 1e-8, weight_decay, 3, clip)
    assert all(type(a) is dtype for a in args)
    kernel(*ours, *args)
    adam_step_numpy(*ref, *args)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert not np.array_equal(ours[0], _arrays(1001, dtype, 0)[0])


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("clip", [0.0, 0.5])
@pytest.mark.parametrize("kernel", ADAGRAD, ids=lambda f: f.__name__)
@pytest.mark.parametrize("eps_inside", [False, True])
def test_adagrad_kernel_matches_numpy(dtype, tol, weight_decay, clip, kernel, eps_inside):
    ours, ref = _arrays(777, dtype, 1)[:3], _arrays(777, dtype, 1)[:3]
    ours[2][:] = np.abs(ours[2])
    ref[2][:] = np.abs(ref[2])
    args = cast_scalars(dtype, 0.1, 1e-6, weight_decay, clip)
    kernel(*ours, *args, eps_inside)
    adagrad_step_numpy(*ref, *args, eps_inside)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_step_computes_in_the_weights_dtype(dtype):
    # a float32 update rounds like the float32 NumPy twin, not like float64 arithmetic
    # rounded once at the end: on some elements the two differ in the last bit
    ours, ref = _arrays(4096, dtype, 2), _arrays(4096, dtype, 2)
    wide = [a.astype(np.float64) for a in _arrays(4096, dtype, 2)]
    args = adam_coefficients(dtype, 1e-3, 0.9, 0.999, 1e-8, 0.0, 1)
    adam_step(*ours, *args)
    adam_step_numpy(*ref, *args)
    adam_step_numpy(*wide, *adam_coefficients(np.float64, 1e-3, 0.9, 0.999, 1e-8, 0.0, 1))
    np.testing.assert_array_equal(ours[0], ref[0])
    if dtype is np.float32:
        assert not np.array_equal(ours[0], wide[0].astype(np.float32))


def test_flat_views_write_through_and_refuse_mixed_inputs():
    a, b = np.zeros((3, 4)), np.ones((3, 4))
    fa, fb = flat_views(a, b)
    fa += fb
    assert a.sum() == 12
    assert flat_views(a, b.astype(np.float32)) is None
    assert flat_views(a, np.ones((4, 3)).T) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_step_flushes_moments_that_would_underflow(dtype):
    # moments straddling the floors, no gradient, small and large second moments (divisor
    # below and above 1): kernel and twin flush the same entries, leave no subnormal number
    # behind in the moments or in the step, and keep every moment whose step is normal
    tiny = np.finfo(dtype).tiny
    coeffs = adam_coefficients(dtype, 1e-3, 0.9, 0.999, 1e-8, 0.0, 50)
    step, root2, eps, scale = (float(c) for c in (coeffs[0], coeffs[5], coeffs[6], coeffs[-2]))
    assert scale == pytest.approx(step / tiny, rel=1e-6)
    spread = np.geomspace(1e-6, 1e3, 64)
    m0 = np.concatenate([spread, -spread, spread, [tiny / 4, 0.0]]) * (tiny / step)
    v0 = np.concatenate([tiny * spread, tiny * spread, np.full(64, 1e6), [tiny / 4, 0.0]])
    m0, v0 = m0.astype(dtype), v0.astype(dtype)
    results = []
    for update in (adam_step_parallel, adam_step_serial, adam_step_numpy):
        w, g, m, v = np.zeros_like(m0), np.zeros_like(m0), m0.copy(), v0.copy()
        update(w, g, m, v, *coeffs)
        results.append((w, m, v))
        for array in (m, v, w):
            assert not np.any((array != 0) & (np.abs(array) < tiny)), "a subnormal number is left"
        v_expected = np.where(0.999 * v0.astype(np.float64) < tiny, 0.0, 0.999 * v0.astype(np.float64))
        divisor = np.maximum(np.sqrt(v_expected) / root2 + eps, 1.0)
        moved = np.abs(0.9 * m0.astype(np.float64)) * step / divisor
        assert np.all(m[moved >= 1.01 * tiny] != 0)
        assert np.all(m[moved < 0.99 * tiny] == 0)
        assert np.all(v[0.999 * v0 >= 1.01 * tiny] != 0)
        assert np.all(v[0.999 * v0 < 0.99 * tiny] == 0)
        # the large second moments flush first moments that the divisor-1 floor would keep
        large = slice(128, 192)
        assert np.any((m[large] == 0) & (np.abs(0.9 * m0[large]) * step >= 1.01 * tiny))
    for parallel, serial, ref in zip(*results):
        np.testing.assert_array_equal(parallel, ref)
        np.testing.assert_array_equal(serial, ref)


@pytest.mark.parametrize("n", [PARALLEL_FROM - 1, PARALLEL_FROM + 1])
@pytest.mark.parametrize("name,update,serial,make", [
    ("adam", adam_step, adam_step_serial,
     lambda n: (*_arrays(n, np.float32, 3), *adam_coefficients(np.float32, 1e-3, 0.9, 0.999, 1e-8, 0.0, 2))),
    ("adagrad", adagrad_step, adagrad_step_serial,
     lambda n: (*_arrays(n, np.float32, 4)[:2], np.abs(_arrays(n, np.float32, 4)[2]),
                *cast_scalars(np.float32, 0.1, 1e-6, 0.0, 0.0))),
])
def test_the_update_runs_parallel_or_serial_by_timing_each_size_and_gives_the_same_weights(name, update, serial, make, n):
    """Each array size and dtype from ``PARALLEL_FROM`` on has its own choice between the
    two kernels (none below: one thread); every call, whichever kernel ran, updates the
    weights as the serial kernel does."""
    threads = numba.get_num_threads()
    key = (name, n, np.dtype(np.float32).num, threads)
    THREADS.choices.pop(key, None)
    ours, ref = make(n), make(n)
    for _ in range(40):
        update(*ours)
        serial(*ref)
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)
    if n < PARALLEL_FROM or threads == 1:
        assert key not in THREADS.choices
    else:
        choice = THREADS.choices[key]
        assert choice.options == [True, False]
        assert all(len(times) == RECENT for times in choice.times)  # both timed
        assert choice.next_retry is not None
