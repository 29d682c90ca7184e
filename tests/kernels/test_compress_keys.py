"""The compress-store candidates pass (``keep_at_least``), compiled, against its NumPy body:
both key widths, whole blocks and tails, unaligned starts, a non-zero starting count, and
bounds that keep nothing, everything, or only the NaNs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from mesimp_engine.kernels.compress_keys import keep_at_least
from mesimp_engine.kernels.magnitude_key import KEY_DTYPES, magnitude_bits, magnitude_keys_numpy

SPECIAL = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, -np.nan, 1e-30, 3.0]


@njit
def compiled(b, start, stop, bound, keys, idx, c):
    return keep_at_least(b, start, stop, bound, keys, idx, c)


@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    n=st.integers(0, 70),
    seed=st.integers(0, 2**32 - 1),
    specials=st.booleans(),
    data=st.data(),
)
@settings(max_examples=150, deadline=None)
def test_compiled_matches_numpy(dtype, n, seed, specials, data):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(dtype)
    if specials and n:
        mask = rng.random(n) < 0.4
        x[mask] = rng.choice(SPECIAL, size=mask.sum()).astype(dtype)
    keys_all = magnitude_keys_numpy(x)
    start = data.draw(st.integers(0, n))
    stop = data.draw(st.integers(start, n))
    c0 = data.draw(st.integers(0, 5))
    choices = [0, int(keys_all.max()) + 1 if n else 1] + [int(v) for v in keys_all[:8]]
    bound = data.draw(st.sampled_from(choices))
    bits = magnitude_bits(x)
    results = []
    for fn in (keep_at_least, compiled):
        keys = np.full(n + c0 + 1, -7, KEY_DTYPES[np.dtype(dtype)])
        idx = np.full(n + c0 + 1, -7, KEY_DTYPES[np.dtype(dtype)])
        c = fn(bits, start, stop, KEY_DTYPES[np.dtype(dtype)].type(bound), keys, idx, c0)
        results.append((c, keys[:c].copy(), idx[:c].copy()))
    (c_ref, keys_ref, idx_ref), (c_jit, keys_jit, idx_jit) = results
    expected = np.flatnonzero(keys_all[start:stop] >= bound) + start
    assert c_ref == c_jit == c0 + expected.size
    np.testing.assert_array_equal(idx_ref[c0:], expected)
    np.testing.assert_array_equal(idx_jit[c0:], expected)
    np.testing.assert_array_equal(keys_jit[c0:], keys_all[expected])
    np.testing.assert_array_equal(keys_ref[c0:], keys_all[expected])
    # the entries before the starting count are untouched
    assert (keys_jit[:c0] == -7).all() and (idx_jit[:c0] == -7).all()


def test_long_row_keeps_only_nans_above_inf():
    x = np.zeros(1000, np.float32)
    x[[3, 17, 500, 999]] = np.nan
    x[[4, 600]] = np.inf
    bits = magnitude_bits(x)
    keys = np.empty(1000, np.int32)
    idx = np.empty(1000, np.int32)
    nan_key = int(magnitude_keys_numpy(x).max())
    c = compiled(bits, 0, 1000, np.int32(nan_key), keys, idx, 0)
    assert c == 4 and list(idx[:4]) == [3, 17, 500, 999]
