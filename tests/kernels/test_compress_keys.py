"""The vector passes over magnitude keys, compiled, against their Python bodies.

``keep_at_least`` (the compress-store candidates pass): both key widths, whole blocks and
tails, unaligned starts, a non-zero starting count, nothing written past the promised room
(c + stop - start entries), and bounds that keep nothing,
everything, or only the NaNs. ``count_at_least``: both widths, tails, every bound from below
the smallest key to above the largest. ``keep_best_small``: ties (few distinct keys), every
k from 1 to c, c up to the vectors' 64 lanes (both widths: 32 and 64), buffers too short
for a vector (the scalar loop), nothing written past out[k - 1], and the k-th largest key
returned. ``keep_positions`` and ``keep_best_at_positions`` (the filter's guessed path):
rows from 64 entries on with tails of every length, specials, ties, every bound kind."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from mesimp_engine.kernels.compress_keys import (
    POSITION_MIN,
    SMALL_CANDIDATES,
    count_at_least,
    keep_at_least,
    keep_best_at_positions,
    keep_best_small,
    keep_positions,
)
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
        keys = np.full(n + c0 + 40, -7, KEY_DTYPES[np.dtype(dtype)])
        idx = np.full(n + c0 + 40, -7, KEY_DTYPES[np.dtype(dtype)])
        c = fn(bits, start, stop, KEY_DTYPES[np.dtype(dtype)].type(bound), keys, idx, c0)
        results.append((c, keys[:c].copy(), idx[:c].copy()))
        # the whole-vector stores stay within the promised room: c0 + stop - start entries
        room = c0 + stop - start
        assert (keys[room:] == -7).all() and (idx[room:] == -7).all()
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


@njit
def compiled_count(keys, start, stop, bound):
    return count_at_least(keys, start, stop, bound)


@njit
def compiled_keep_best(keys, idx, c, k, out):
    return keep_best_small(keys, idx, c, k, out)


@given(
    key_dtype=st.sampled_from([np.int32, np.int64]),
    n=st.integers(0, 70),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
@settings(max_examples=150, deadline=None)
def test_count_at_least_matches_python(key_dtype, n, seed, data):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 1 << 30, n).astype(key_dtype)
    start = data.draw(st.integers(0, n))
    stop = data.draw(st.integers(start, n))
    bound = data.draw(st.sampled_from([-1, 0, 1 << 30] + [int(v) for v in keys[:8]]))
    expected = int(np.count_nonzero(keys[start:stop] >= bound))
    bound = key_dtype(bound)
    assert count_at_least(keys, start, stop, bound) == compiled_count(keys, start, stop, bound) == expected


@given(
    key_dtype=st.sampled_from([np.int32, np.int64]),
    c=st.integers(1, SMALL_CANDIDATES),
    distinct=st.sampled_from([2, 5, 1 << 30]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
@settings(max_examples=200, deadline=None)
def test_keep_best_small_matches_python(key_dtype, c, distinct, seed, data):
    rng = np.random.default_rng(seed)
    k = data.draw(st.integers(1, c))
    keys = rng.integers(0, distinct, SMALL_CANDIDATES).astype(key_dtype)
    idx = rng.integers(0, 10_000, SMALL_CANDIDATES).astype(key_dtype)
    # the k best by (larger key, then lower position), listed in position order
    best = sorted(sorted(range(c), key=lambda p: (-int(keys[p]), p))[:k])
    outs = []
    for fn in (keep_best_small, compiled_keep_best):
        out = np.full(k + 4, -7, np.int64)
        assert fn(keys.copy(), idx.copy(), c, k, out) == keys[best].min()
        outs.append(out)
    for out in outs:
        np.testing.assert_array_equal(out[:k], idx[best])
        assert (out[k:] == -7).all()


@given(
    key_dtype=st.sampled_from([np.int32, np.int64]),
    c=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
@settings(max_examples=50, deadline=None)
def test_keep_best_small_short_buffers(key_dtype, c, seed, data):
    """Buffers shorter than a vector take the scalar ranks: same answer."""
    rng = np.random.default_rng(seed)
    k = data.draw(st.integers(1, c))
    keys = rng.integers(0, 4, c).astype(key_dtype)
    idx = rng.integers(0, 10_000, c).astype(key_dtype)
    best = sorted(sorted(range(c), key=lambda p: (-int(keys[p]), p))[:k])
    out = np.full(k, -7, np.int64)
    assert compiled_keep_best(keys, idx, c, k, out) == keys[best].min()
    np.testing.assert_array_equal(out, idx[best])


@njit
def compiled_positions(b, n, bound, keys, k, out):
    c = keep_positions(b, n, bound, keys)
    if k <= c <= SMALL_CANDIDATES:
        return c, keep_best_at_positions(b, keys, c, k, out)
    return c, -1


def python_positions(b, n, bound, keys, k, out):
    c = keep_positions(b, n, bound, keys)
    if k <= c <= SMALL_CANDIDATES:
        return c, keep_best_at_positions(b, keys, c, k, out)
    return c, -1


@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    n=st.integers(POSITION_MIN, 200),
    seed=st.integers(0, 2**32 - 1),
    specials=st.booleans(),
    ties=st.booleans(),
    data=st.data(),
)
@settings(max_examples=150, deadline=None)
def test_positions_path_matches_python(dtype, n, seed, specials, ties, data):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(dtype)
    if ties:
        x = np.round(x * 2).astype(dtype)
    if specials:
        mask = rng.random(n) < 0.1
        x[mask] = rng.choice(SPECIAL, size=mask.sum()).astype(dtype)
    keys_all = magnitude_keys_numpy(x)
    order = np.sort(keys_all)[::-1]
    # bounds around the 10th ... 60th largest key, and ones keeping nothing or everything
    bound = data.draw(st.sampled_from([0, int(order[0]) + 1] + [int(order[min(j, n - 1)]) for j in (9, 20, 31, 40, 63)]))
    k = data.draw(st.integers(1, 24))
    key_dtype = KEY_DTYPES[np.dtype(dtype)]
    bits = magnitude_bits(x)
    kept = np.flatnonzero(keys_all >= bound)
    results = []
    for fn in (python_positions, compiled_positions):
        keys = np.zeros(n + 64, key_dtype)
        out = np.full(k + 4, -7, np.int64)
        c, kth = fn(bits, n, key_dtype.type(bound), keys, k, out)
        results.append((c, kth, out))
    for c, kth, out in results:
        assert c == kept.size
        if k <= c <= SMALL_CANDIDATES:
            best = sorted(sorted(kept, key=lambda i: (-int(keys_all[i]), i))[:k])
            np.testing.assert_array_equal(out[:k], best)
            assert (out[k:] == -7).all()
            assert kth == keys_all[best].min()
