"""Every top-k kernel against its NumPy twin (the contract's reference), on inputs built to
hit the contract's corners: ties, repeated values, -0.0, inf, NaN, all-equal rows, k = 1,
k = n - 1, k = n. Also passes with NUMBA_DISABLE_JIT=1 (sizes kept small for that)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesimp_engine.kernels import max_magnitude, topk_filter, topk_heap, topk_radix
from mesimp_engine.kernels.magnitude_key import KEY_DTYPES, magnitude_keys_numpy
from mesimp_engine.kernels.topk_reference import topk_rows_numpy

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 3.0, np.inf, -np.inf, np.nan, 1e-30, -1e30]


@st.composite
def matrices(draw, max_rows=4, max_n=90, min_n=1):
    """(x, k): rows x n of a float dtype: Gaussian rows, rows of different scales (so one
    row's bound is no guide to the next), Gaussian values mixed with a small pool of special
    ones (so ties, -0.0, inf and NaN are common), a few values only, all-equal rows."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rows = draw(st.integers(1, max_rows))
    n = draw(st.integers(min_n, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, n))
    mode = draw(st.sampled_from(["gauss", "scaled rows", "specials", "few values", "all equal"]))
    if mode == "scaled rows":
        x *= 10.0 ** rng.integers(-3, 4, size=(rows, 1))
    elif mode == "specials":
        mask = rng.random((rows, n)) < 0.3
        x[mask] = rng.choice(SPECIAL, size=mask.sum())
    elif mode == "few values":
        x = rng.choice([-2.0, -1.0, 0.0, -0.0, 1.0, 2.0], size=(rows, n))
    elif mode == "all equal":
        x[:] = draw(st.sampled_from(SPECIAL))
    k = draw(st.one_of(st.just(1), st.just(max(n - 1, 1)), st.just(n), st.integers(1, n)))
    return x.astype(dtype), k


def reference(x, k):
    out = np.empty((x.shape[0], k), np.int64)
    topk_rows_numpy(x, k, out)
    return out


def key_dtype(x):
    return KEY_DTYPES[x.dtype]


def test_magnitude_key_orders_like_abs_with_nan_on_top():
    values = np.array(SPECIAL + [2.0, -3.0, 7e-45, -np.nan, 5e-324], np.float64)
    for dtype in (np.float32, np.float64):
        x = values.astype(dtype)
        keys = magnitude_keys_numpy(x)
        for i in range(len(x)):
            for j in range(len(x)):
                a, b = abs(float(x[i])), abs(float(x[j]))
                rank_a = (math.isnan(a), 0.0 if math.isnan(a) else a)
                rank_b = (math.isnan(b), 0.0 if math.isnan(b) else b)
                assert (keys[i] < keys[j]) == (rank_a < rank_b)
                assert (keys[i] == keys[j]) == (rank_a == rank_b)


def test_reference_matches_a_sort_written_out():
    """The twin every kernel is checked against, against the contract in plain Python."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        x = rng.choice(SPECIAL, size=(1, n)).astype(np.float32)
        k = int(rng.integers(0, n + 1))

        def rank(i):
            a = abs(float(x[0, i]))
            return (not math.isnan(a), -(0.0 if math.isnan(a) else a), i)

        expected = sorted(sorted(range(n), key=rank)[:k])
        assert reference(x, k)[0].tolist() == expected


@settings(max_examples=60, deadline=None)
@given(matrices())
def test_heap_vector(case):
    x, k = case
    out = np.full(k, -1, np.int64)
    topk_heap.topk_heap_vector(x[0], k, np.zeros(k, key_dtype(x)), np.zeros(k, np.int64), out)
    twin = np.full(k, -1, np.int64)
    topk_heap.topk_heap_vector_numpy(x[0], k, None, None, twin)
    np.testing.assert_array_equal(out, twin)


@settings(max_examples=60, deadline=None)
@given(matrices(), st.integers(1, 3))
def test_heap_rows(case, threads):
    x, k = case
    expected = reference(x, k)
    out = np.full((x.shape[0], k), -1, np.int64)
    topk_heap.topk_heap_rows(x, k, np.zeros(k, key_dtype(x)), np.zeros(k, np.int64), out)
    np.testing.assert_array_equal(out, expected)
    out[:] = -1
    heap_key = np.zeros((threads, k), key_dtype(x))
    heap_idx = np.zeros((threads, k), np.int64)
    topk_heap.topk_heap_rows_parallel(x, k, heap_key, heap_idx, out)
    np.testing.assert_array_equal(out, expected)


@settings(max_examples=100, deadline=None)
@given(matrices(max_rows=6, max_n=200), st.data())
def test_filter_kernels(case, data):
    x, k = case
    n = x.shape[1]
    m = data.draw(st.integers(k, n), label="lanes")
    threads = data.draw(st.integers(1, 3), label="threads")
    expected = reference(x, k)
    kd = key_dtype(x)

    out = np.full(k, -1, np.int64)
    topk_filter.topk_filter_vector(x[0], k, topk_filter.filter_work(m, n, kd), out)
    np.testing.assert_array_equal(out, expected[0])

    out = np.full(x.shape[:1] + (k,), -1, np.int64)
    topk_filter.topk_filter_rows(x, k, topk_filter.filter_work(m, n, kd), out)
    np.testing.assert_array_equal(out, expected)

    out[:] = -1
    topk_filter.topk_filter_rows_parallel(x, k, topk_filter.filter_work(m, n, kd, blocks=threads), out)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_filter_rows_guessed_bounds_on_changing_rows(dtype):
    """The rows kernels guess each row's bound from the rows before it (``filter_rows``):
    runs of alike rows, where the guesses hold, alternate with rows scaled far up or down
    (the guess keeps too many or too few), integer rows full of ties at the k-th magnitude,
    mostly-zero rows (ReLU gradients), and rows with NaN and inf; every row must still be
    exact, also when the guess state comes from earlier calls."""
    rng = np.random.default_rng(7)
    n, k = 500, 20
    parts = []
    for _ in range(3):
        parts.append(rng.standard_normal((200, n)))
        parts.append(rng.standard_normal((5, n)) * 1e4)
        parts.append(rng.standard_normal((50, n)))
        parts.append(rng.standard_normal((5, n)) * 1e-4)
        parts.append(np.round(rng.standard_normal((20, n)) * 2))
        parts.append(rng.standard_normal((20, n)) * (rng.random((20, n)) < 0.05))
        special = rng.standard_normal((20, n))
        special[rng.random((20, n)) < 0.02] = np.nan
        special[rng.random((20, n)) < 0.02] = -np.inf
        parts.append(special)
        parts.append(rng.standard_normal((100, n)) * np.exp(rng.normal(0, 2, (100, 1))))
    x = np.concatenate(parts).astype(dtype)
    kd = KEY_DTYPES[np.dtype(dtype)]
    expected = reference(x, k)
    out = np.full((x.shape[0], k), -1, np.int64)
    topk_filter.topk_filter_rows(x, k, topk_filter.filter_work(128, n, kd), out)
    np.testing.assert_array_equal(out, expected)
    out[:] = -1
    topk_filter.topk_filter_rows_parallel(x, k, topk_filter.filter_work(128, n, kd, blocks=2), out)
    np.testing.assert_array_equal(out, expected)
    # the guess state carries over from call to call: the same rows, one vector at a time
    # and in calls of a few rows, each with one work buffer throughout
    work = topk_filter.filter_work(128, n, kd)
    for r in range(x.shape[0]):
        topk_filter.topk_filter_vector(x[r], k, work, out[r])
        np.testing.assert_array_equal(out[r], expected[r])
    assert work[0] > 0  # a guess was made
    out[:] = -1
    work = topk_filter.filter_work(128, n, kd, blocks=2)
    for r0 in range(0, x.shape[0], 7):
        topk_filter.topk_filter_rows(x[r0 : r0 + 7], k, work[0], out[r0 : r0 + 7])
        topk_filter.topk_filter_rows_parallel(x[r0 : r0 + 7], k, work, out[r0 : r0 + 7])
    np.testing.assert_array_equal(out, expected)


@settings(max_examples=60, deadline=None)
@given(matrices(max_rows=1, max_n=400), st.integers(1, 3))
def test_radix_vector(case, threads):
    x, k = case
    n = x.shape[1]
    out = np.full(k, -1, np.int64)
    hist = np.zeros((threads + 1, 1 << topk_radix.RADIX_BITS), np.int64)
    topk_radix.topk_radix_vector(x[0], k, hist, np.zeros((2, n), key_dtype(x)), out)
    np.testing.assert_array_equal(out, reference(x, k)[0])


def test_radix_falls_back_when_the_sample_misleads():
    """Large values only where the sample looks (every 16th entry): the sampled bound keeps
    fewer than k entries, and the kernel must redo the pass with every entry."""
    n, k = 4096, 1000
    x = np.full(n, 0.5, np.float32)
    x[:: topk_radix.SAMPLE_STRIDE] = 9.0
    x[7] = 0.75
    out = np.empty(k, np.int64)
    hist = np.zeros((3, 1 << topk_radix.RADIX_BITS), np.int64)
    topk_radix.topk_radix_vector(x, k, hist, np.zeros((2, n), np.int32), out)
    np.testing.assert_array_equal(out, reference(x[None, :], k)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_on_benchmark_like_shapes(dtype):
    """Shapes the engine uses, Gaussian data with planted ties at the k-th magnitude."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 500)).astype(dtype)
    x[:, 10] = x[:, 300] = 4.0
    x[3] = np.round(x[3])
    k = 20
    kd = KEY_DTYPES[np.dtype(dtype)]
    expected = reference(x, k)
    out = np.empty((64, k), np.int64)
    topk_filter.topk_filter_rows_parallel(x, k, topk_filter.filter_work(128, 500, kd, blocks=2), out)
    np.testing.assert_array_equal(out, expected)
    topk_filter.topk_filter_rows(x, k, topk_filter.filter_work(64, 500, kd), out)
    np.testing.assert_array_equal(out, expected)
    topk_heap.topk_heap_rows_parallel(x, k, np.zeros((2, k), kd), np.zeros((2, k), np.int64), out)
    np.testing.assert_array_equal(out, expected)
    v = rng.standard_normal(20_000).astype(dtype)
    v[::97] = np.round(v[::97])
    for k, m in ((1000, 6016), (300, 128)):
        # long rows: lane maxima in chunks (m > LANE_CHUNK), radix select of the k-th key
        assert m > topk_filter.LANE_CHUNK or k == 300
        for w in (v, np.round(v * 4)):
            out = np.empty(k, np.int64)
            topk_filter.topk_filter_vector(w, k, topk_filter.filter_work(m, w.size, kd), out)
            np.testing.assert_array_equal(out, reference(w[None, :], k)[0])
    out = np.empty(300, np.int64)
    topk_radix.topk_radix_vector(v, 300, np.zeros((3, 4096), np.int64), np.zeros((2, v.size), kd), out)
    np.testing.assert_array_equal(out, reference(v[None, :], 300)[0])


@settings(max_examples=40, deadline=None)
@given(matrices(max_rows=1, max_n=300), st.integers(1, 4))
def test_max_magnitude_kernels(case, chunks):
    x, _ = case
    v = x[0]
    assert max_magnitude.max_magnitude_key(v) == max_magnitude.max_magnitude_key_numpy(v)
    chunks = min(chunks, v.size)
    partial = np.zeros(chunks, KEY_DTYPES[v.dtype])
    twin = partial.copy()
    max_magnitude.max_magnitude_key_chunks(v, partial)
    max_magnitude.max_magnitude_key_chunks_numpy(v, twin)
    np.testing.assert_array_equal(partial, twin)
