"""The public top-k: ``mesimp_engine.topk`` and ``TopKSelector`` against ``topk_reference``,
every dispatch path, the stated behaviour for k, NaN, dtypes and layouts, and a selector
call with reused buffers allocating nothing."""

import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mesimp_engine
from mesimp_engine.sparsity import TopKSelector, topk_reference
from mesimp_engine.sparsity import topk as topk_module
from mesimp_engine.kernels.timed_choice import RECENT, RETRY_EVERY

SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, np.inf, -np.inf, np.nan]


@st.composite
def arrays(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(st.sampled_from([(1,), (7,), (60,), (300,), (1, 300), (3, 5), (5, 200), (2, 130)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(shape)
    if draw(st.booleans()):
        mask = rng.random(shape) < 0.3
        x[mask] = rng.choice(SPECIAL, size=mask.sum())
    if draw(st.booleans()):
        x = np.round(x)
    n = shape[-1]
    k = draw(st.one_of(st.sampled_from([0, 1, max(n - 1, 0), n]), st.integers(0, n)))
    return x.astype(dtype), k


@settings(max_examples=80, deadline=None)
@given(arrays())
def test_topk_matches_reference(case):
    x, k = case
    result = mesimp_engine.topk(x, k)
    assert result.dtype == np.int64 and result.shape == x.shape[:-1] + (k,)
    np.testing.assert_array_equal(result, topk_reference(x, k))


def _gaussian(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize(
    "shape, k, kernel",
    [
        ((50,), 3, "topk_filter_vector"),
        ((500,), 20, "topk_filter_vector"),
        ((1, 500), 20, "topk_filter_vector"),
        ((100, 500), 20, "topk_filter_rows"),
        ((300, 500), 20, "topk_filter_rows_parallel"),
        ((30, 100), 40, "topk_filter_rows"),
        ((3000, 100), 40, "topk_filter_rows_parallel"),
        ((100_000,), 1000, "topk_filter_vector"),
        ((3000,), 1000, "topk_filter_vector"),
        ((4, 6), 6, "trivial"),
    ],
)
def test_every_dispatch_path(shape, k, kernel):
    selector = TopKSelector(threads=2, parallel_from=100_000, measure=False)
    for dtype in (np.float32, np.float64):
        x = _gaussian(shape, dtype=dtype)
        x.flat[::37] = np.round(x.flat[::37])
        np.testing.assert_array_equal(selector(x, k), topk_reference(x, k))
        assert selector.last_kernel == kernel


@pytest.mark.parametrize("shape, k", [((500, 500), 20), ((300_000,), 1000)])
def test_measured_plans_pick_one_of_the_candidates(shape, k):
    selector = TopKSelector(threads=2)
    x = _gaussian(shape, seed=5)
    np.testing.assert_array_equal(selector(x, k), topk_reference(x, k))
    expected = {"topk_filter_rows", "topk_filter_rows_parallel"} if len(shape) == 2 else {"topk_filter_vector", "topk_radix_vector"}
    assert selector.last_kernel in expected
    np.testing.assert_array_equal(selector(x, k), topk_reference(x, k))


def test_a_timed_plan_leaves_a_kernel_that_turns_slow():
    """A timed plan (two kernels for one large shape) keeps timing the calls and tries the
    other kernel now and then (``TimedChoice``): a choice made on a first measurement that
    favoured the kernel which is now the slower one is undone as its calls are timed. The
    slow kernel here is the serial filter followed by a 2 ms wait (a busy second core)."""
    import numba

    if numba.config.DISABLE_JIT:
        pytest.skip("shapes are timed only with the JIT")
    selector = TopKSelector(threads=2)
    x = _gaussian((500, 500), seed=6)
    expected = topk_reference(x, 20)
    np.testing.assert_array_equal(selector(x, 20), expected)
    timed = selector._plans[x.shape, 20].work
    assert isinstance(timed, topk_module._Timed)
    fast = timed.plans[0]
    slow_kernel = fast.kernel

    def slowed(x, k, work, out):
        done = slow_kernel(x, k, work, out)
        time.sleep(0.002)
        return done

    timed.plans[1] = topk_module._Plan(slowed, fast.work, fast.out_shape, "slowed")
    timed.choice.times[1].clear()
    timed.choice.times[1].append(1e-9)  # the first measurement made it look fastest
    timed.choice.medians[1] = 1e-9
    timed.choice.choose()
    assert timed.choice.best == 1
    for _ in range(RETRY_EVERY):
        np.testing.assert_array_equal(selector(x, 20), expected)
    assert timed.plan.name == fast.name == selector.last_kernel
    assert len(timed.choice.times[1]) >= 2  # the slowed kernel ran, and was timed


def test_rows_from_parallel_from_are_timed_one_thread_against_all():
    """A matrix with enough entries to go parallel is timed one thread against all (on a
    busy machine the parallel kernel waits for its second core), from ``parallel_from``."""
    import numba

    if numba.config.DISABLE_JIT:
        pytest.skip("shapes are timed only with the JIT")
    selector = TopKSelector(threads=2, parallel_from=20_000)
    x = _gaussian((50, 500), seed=7)  # 25,000 entries: below MEASURE_FROM
    np.testing.assert_array_equal(selector(x, 20), topk_reference(x, 20))
    timed = selector._plans[x.shape, 20].work
    assert [p.name for p in timed.plans] == ["topk_filter_rows", "topk_filter_rows_parallel"]
    assert all(len(times) == RECENT for times in timed.choice.times)
    assert TopKSelector(threads=2, parallel_from=20_000, measure=False)._make_plan(x, 20).name == \
        "topk_filter_rows_parallel"


def test_ties_go_to_the_lower_index_and_order_is_ascending():
    x = np.array([1.0, -3.0, 2.0, 3.0, -2.0, 3.0, 0.0], np.float32)
    assert mesimp_engine.topk(x, 3).tolist() == [1, 3, 5]
    assert mesimp_engine.topk(x, 4).tolist() == [1, 2, 3, 5]
    rows = np.ones((2, 300), np.float32)
    assert mesimp_engine.topk(rows, 20).tolist() == [list(range(20))] * 2


def test_nan_is_larger_than_inf_and_negative_zero_equals_zero():
    x = np.array([np.inf, 0.0, np.nan, -np.inf, -0.0, np.nan, 1.0], np.float64)
    assert mesimp_engine.topk(x, 2).tolist() == [2, 5]
    assert mesimp_engine.topk(x, 4).tolist() == [0, 2, 3, 5]
    z = np.array([-0.0, 0.0, -0.0], np.float32)
    assert mesimp_engine.topk(z, 2).tolist() == [0, 1]


def test_k_zero_and_k_equal_to_n():
    x = _gaussian((3, 8))
    assert mesimp_engine.topk(x, 0).shape == (3, 0)
    assert mesimp_engine.topk(x[0], 0).shape == (0,)
    assert mesimp_engine.topk(x, 8).tolist() == [list(range(8))] * 3


@pytest.mark.parametrize("k", [-1, 9, 100])
def test_k_out_of_range_raises_naming_k_and_n(k):
    with pytest.raises(ValueError, match=rf"k={k}.*n=8"):
        mesimp_engine.topk(_gaussian((2, 8)), k)
    with pytest.raises(ValueError, match=rf"k={k}.*n=8"):
        topk_reference(_gaussian((2, 8)), k)


def test_bad_arguments_raise():
    with pytest.raises(TypeError):
        mesimp_engine.topk(_gaussian(8), 2.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        mesimp_engine.topk(np.arange(8), 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        mesimp_engine.topk(_gaussian(8).astype(">f4"), 2)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        mesimp_engine.topk(_gaussian((2, 2, 8)), 2)
    with pytest.raises(ValueError, match="out must be"):
        mesimp_engine.topk(_gaussian((2, 8)), 2, out=np.empty((2, 3), np.int64))
    with pytest.raises(ValueError, match="out must be"):
        mesimp_engine.topk(_gaussian((2, 8)), 2, out=np.empty((2, 2), np.int32))
    read_only = np.empty((2, 2), np.int64)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="out must be"):
        mesimp_engine.topk(_gaussian((2, 8)), 2, out=read_only)


def test_lists_and_non_contiguous_inputs_give_the_reference_result():
    x = _gaussian((300, 400))
    for view in (x[:, ::2], x.T, x[::3], x[5]):
        np.testing.assert_array_equal(mesimp_engine.topk(view, 20), topk_reference(view, 20))
    assert mesimp_engine.topk([3.0, -5.0, 1.0], 1).tolist() == [1]
    x.flags.writeable = False
    np.testing.assert_array_equal(mesimp_engine.topk(x, 20), topk_reference(x, 20))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_plan_serves_read_only_and_unaligned_arrays_of_its_shape(dtype):
    """A plan's compiled entry point is typed for read-only, unaligned x and out, so an
    aligned writeable first call and later read-only or unaligned calls of the same shape
    (same plan) all give the reference result."""
    rng = np.random.default_rng(5)
    selector = TopKSelector(measure=False)
    values = [rng.standard_normal(500).astype(dtype) for _ in range(3)]
    raw = bytearray(values[2].nbytes + 1)
    unaligned = np.frombuffer(raw, dtype, count=500, offset=1)
    unaligned[:] = values[2]
    read_only = values[1].copy()
    read_only.flags.writeable = False
    assert not unaligned.flags.aligned
    for x in (values[0], read_only, unaligned):
        np.testing.assert_array_equal(selector(x, 20), topk_reference(x, 20))
    out_raw = bytearray(20 * 8 + 1)
    out = np.frombuffer(out_raw, np.int64, count=20, offset=1)
    selector(unaligned, 20, out=out)
    np.testing.assert_array_equal(out, topk_reference(unaligned, 20))
    assert len(selector._plans) == 1


def test_out_is_filled_and_returned():
    x = _gaussian((100, 500))
    out = np.empty((100, 20), np.int64)
    assert mesimp_engine.topk(x, 20, out=out) is out
    np.testing.assert_array_equal(out, topk_reference(x, 20))


def test_thread_count_does_not_change_the_result():
    x = _gaussian((70, 500), seed=3)
    expected = topk_reference(x, 20)
    for threads in (1, 2, 3):
        selector = TopKSelector(threads=threads, parallel_from=0, measure=False)
        np.testing.assert_array_equal(selector(x, 20), expected)
        assert selector.last_kernel == "topk_filter_rows_parallel"


@pytest.mark.parametrize(
    "shape, k, parallel_from", [((100, 500), 20, None), ((500,), 64, None), ((100, 500), 20, 0), ((100_000,), 1000, None)]
)
def test_selector_call_with_reused_buffers_allocates_nothing(shape, k, parallel_from):
    """After the first call (which allocates the buffers for this shape), a call with
    ``out=`` makes no array: the traced peak grows by less than 400 bytes (the transient
    Python objects of a call: the plan's key tuple of shape and strides, 192 bytes here),
    where the output alone is k * rows * 8 >= 512 bytes and a copy of x 4 * size bytes.
    (Without the JIT the kernels are Python and make transient views: 4 KiB is allowed
    then, still below any array of the data's size.) On Numba's side the only
    allocations are the call boundary's three array handles (one small MemInfo per array
    argument: x, the work buffer, out), the same for every shape and kernel."""
    import numba

    x = _gaussian(shape)
    selector = TopKSelector(measure=False, **({} if parallel_from is None else {"parallel_from": parallel_from}))
    out = np.empty(shape[:-1] + (k,), np.int64)
    selector(x, k, out=out)
    assert selector.last_kernel.startswith("topk_")
    nrt_before = _nrt_allocations()
    tracemalloc.start()
    try:
        selector(x, k, out=out)
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        selector(x, k, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < (4096 if numba.config.DISABLE_JIT else 400)
    assert _nrt_allocations() - nrt_before == (0 if numba.config.DISABLE_JIT else 2 * 3)


def test_tracemalloc_sees_an_output_allocation():
    """The check above can fail: without ``out`` the same call shows the output array."""
    x = _gaussian((100, 500))
    selector = TopKSelector()
    selector(x, 20)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        selector(x, 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before >= 100 * 20 * 8


def _nrt_allocations():
    """Allocations made so far by Numba's runtime (none at all without the JIT)."""
    import numba
    from numba.core.runtime import _nrt_python, rtsys

    if numba.config.DISABLE_JIT:
        return 0
    _nrt_python.memsys_enable_stats()
    return rtsys.get_allocation_stats().alloc


def test_one_plan_serves_both_dtypes_and_every_layout_of_its_shape():
    """Plans are keyed by shape and k, and name their dtype: float64 and float32 vectors of
    one shape take turns in the entry, and a strided view of the plan's shape (which its
    kernel declines) is copied; every call gets the reference answer."""
    rng = np.random.default_rng(3)
    wide = rng.standard_normal(500)
    narrow = rng.standard_normal(1000).astype(np.float32)
    rows = rng.standard_normal((80, 1000)).astype(np.float32)
    selector = TopKSelector()
    for _ in range(3):
        for x in (wide, narrow[::2], narrow[:500], wide[::-1], rows[:40, ::2], rows[:40, 500:], rows[::2, :500]):
            np.testing.assert_array_equal(selector(x, 20), topk_reference(x, 20))
    assert len(selector._plans) == 2


@pytest.mark.parametrize("kernel", ["topk_filter_vector", "topk_filter_rows", "topk_filter_rows_parallel",
                                    "topk_radix_vector"])
def test_kernels_compiled_for_any_layout_decline_strided_arrays(kernel):
    """The plans' entry points take x of any layout: a kernel returns False and writes
    nothing for a non-contiguous x, True and the reference result for a contiguous one."""
    from mesimp_engine.kernels import topk_filter, topk_radix
    from mesimp_engine.sparsity.topk import compiled_entry

    rng = np.random.default_rng(4)
    data = rng.standard_normal((12, 1000)).astype(np.float32)
    one_row = kernel.endswith("vector")
    if kernel == "topk_radix_vector":
        buffers = (np.zeros((3, 1 << topk_radix.RADIX_BITS), np.int64), np.zeros((2, 500), np.int32))
        fn = topk_radix.topk_radix_vector
    else:
        fn = getattr(topk_filter, kernel)
        buffers = (topk_filter.filter_work(128, 500, np.int32, blocks=2 if "parallel" in kernel else None),)
    if one_row:
        v = data[0]
        views = [(v[::2], False), (v[::-1][:500], False), (v[500:], True)]
    else:
        views = [(data[:6, ::2], False), (data[::2, 500:], False), (data[:6, 500:], False),
                 (np.ascontiguousarray(data[:6, 500:]), True)]
    out_shape = (20,) if one_row else (6, 20)
    entry = compiled_entry(fn, views[0][0], out_shape, *buffers)
    for view, contiguous in views:
        out = np.full(out_shape, -1, np.int64)
        assert entry(view, 20, *buffers, out) is contiguous
        if contiguous:
            np.testing.assert_array_equal(out, topk_reference(view, 20))
        else:
            assert (out == -1).all()
