"""Top-k selection by magnitude, the selector meProp calls once per mini-batch.

The contract (every implementation follows it: ``topk_reference`` here, the NumPy twins and
the Numba kernels in ``mesimp_engine.kernels``; the tests check them against each other)::

    topk(x, k) -> idx
    x    1-D (n,) or 2-D (rows, n) float32 or float64 array (native byte order)
    idx  int64, shape (k,) or (rows, k): in each row, the indices of the k entries of largest
         |x|, ties broken towards the lower index, listed in ascending index order.

- Magnitude: |x|, so -0.0 equals 0.0 and -inf equals inf.
- NaN counts as larger than every number, inf included; NaNs tie among themselves (lower
  index first). A row of NaNs is therefore selected like a row of equal values.
- k == 0 returns an empty (0,) / (rows, 0) result; k == n returns every index 0..n-1;
  k < 0 or k > n raises ValueError naming k and n; a non-integer k raises TypeError.
- Other dtypes (integers, float16, byte-swapped) raise TypeError; other ranks ValueError.
- A non-contiguous x (a transposed or strided view) is accepted and gives the same result:
  it is first copied to a C-contiguous array, the one case where a call with ``out=``
  allocates. Read-only x is fine. ``out``, when given, must be a writeable C-contiguous
  int64 array of the result's shape (else ValueError); it is filled and returned.

Ascending index order is what the threshold-based kernels produce for free, and what a
sparse backward wants (gathers walk memory forwards); meProp itself only needs the set.

``TopKSelector`` owns the work buffers of every shape it has seen and reuses them, so a call
with ``out=`` allocates no array (as the papers' engine reuses its heap). Dispatch, by shape:

- every row goes to ``topk_filter`` (a vectorised lower bound on the k-th magnitude from
  m lane maxima, then only the few entries above it), with m = ``lanes_for(k)`` (128 for
  k <= 21, else 6 k rounded up to a multiple of 64) but at most n. The papers' bounded
  min-heap (``topk_heap``) was slower on every shape measured (1.5x at k = 20, 8x at
  k = 160 of 500, where each of its many root replacements sifts with unpredictable
  branches), so it is kept as a kernel and a benchmark row, not dispatched to;
- matrices: one thread below ``parallel_from`` entries in all (default ``PARALLEL_FROM``),
  otherwise rows split over the threads, or one thread, whichever is faster (below).

From ``parallel_from`` entries the choice between one thread and all of them, and for one
long vector (``MEASURE_FROM`` entries) between ``topk_filter`` and the parallel
``topk_radix`` (sampled bound, parallel filter, radix select), is made by timing both on the
first call of the shape, and kept up to date by timing the calls and trying the other kernel
now and then (``_Timed``, on ``kernels.timed_choice.TimedChoice``): on a 2-core machine
shared with other work, a parallel region can wait milliseconds for its second thread, and
a choice made while the other core was busy must not stick.

A selector's buffers are shared by its calls. The kernels hold the GIL while they run, so
calls from several Python threads take turns and never use the buffers at the same time.
"""

import operator
import time

import numba
import numpy as np
from numba.core import types

from mesimp_engine.kernels.magnitude_key import KEY_DTYPES
from mesimp_engine.kernels.timed_choice import RECENT, TimedChoice
from mesimp_engine.kernels.topk_filter import filter_work, topk_filter_rows, topk_filter_rows_parallel, topk_filter_vector
from mesimp_engine.kernels.topk_radix import RADIX_BITS, topk_radix_vector
from mesimp_engine.kernels.topk_reference import topk_rows_numpy

PARALLEL_FROM = 20_000
"""Entries (rows * n) from which rows are split over the threads. Below it a parallel
region's start-up costs more than the work it shares. Measured on an idle 2-core machine
(``bench topk``): 100 x 500, k = 20: one thread 54.6 us, rows over two threads 24.9 us.
On a busy machine a parallel region can wait milliseconds for its second core; the engine
runs small BLAS products on one thread (``kernels.blas``) so that its own kernels find the
second core free."""

MEASURE_FROM = 200_000
"""Entries of one vector from which its plan is chosen by timing the candidate kernels on
the call's own data (``measure=True``): filter or radix (a matrix's rows from
``parallel_from``: one thread or all)."""

MAX_PLANS = 64
"""Shapes remembered per selector; beyond it the oldest plans (and buffers) are dropped."""

_INT64 = np.dtype(np.int64)
_empty = np.empty  # bound once: the lookup of np.empty was 35 ns of a 1.2 us call (1 x 500)


def lanes_for(k):
    """Lanes of the filter kernel for a given k: 6 k rounded up to a multiple of 64, at
    least 128 (the caller caps it at n). Measured per row: n = 500, k = 20: 64 lanes 0.88,
    96 lanes 0.74, 128 lanes 0.70 us; k = 40: 192 lanes 0.92, 256 lanes 0.90, 500 lanes
    1.24 us; n = 8192, k = 128: 512 lanes 8.9, 768 lanes 7.8, 8192 lanes 15.6 us."""
    return max(128, -(-6 * k // 64) * 64)


class _Plan:
    """What one (dtype, shape, k) needs: ``kernel(x, k, work, out)`` with its work buffer
    (the compiled entry of a filter kernel of ``mesimp_engine.kernels``, or a small Python
    function of the same signature for the radix kernel and the trivial and one-row cases,
    whose ``work`` is what they need). The kernel returns False, without a result, for a
    non-contiguous x."""

    __slots__ = ("kernel", "work", "out_shape", "name", "dtype")

    def __init__(self, kernel, work, out_shape, name):
        self.kernel = kernel
        self.work = work
        self.out_shape = out_shape
        self.name = name
        self.dtype = None


class TopKSelector:
    """Top-k by magnitude with reused buffers (see the module docstring for the contract).

    ``selector(x, k, out=None)`` returns ``out`` (allocated when None). ``threads`` is the
    number of row blocks of the parallel kernels (default: ``numba.get_num_threads()``);
    matrices of at least ``parallel_from`` entries use them. With ``measure`` (the
    default), the first call on such a matrix, or on a vector of at least ``MEASURE_FROM``
    entries, times the kernels that could serve it (one thread against all threads; for
    one long vector the filter against the parallel radix kernel), ``RECENT`` calls each,
    and from then on runs the one with the lower median of its recent calls, trying the
    other now and then (``_Timed``): a parallel kernel only pays where a second core is
    really free. Results never depend on the choice, only the speed does.
    ``selector.last_kernel`` names the kernel of the last call, or, for a timed shape, the
    kernel it currently prefers (for tests and benchmarks).
    """

    # slots: loading _plans and storing last_kernel are each a few ns faster than through
    # an instance __dict__, on a 1 x 500 call of under 1 us
    __slots__ = ("threads", "parallel_from", "measure", "_plans", "last_kernel")

    def __init__(self, threads=None, parallel_from=PARALLEL_FROM, measure=True):
        self.threads = int(threads) if threads else numba.get_num_threads()
        self.parallel_from = parallel_from
        self.measure = measure
        self._plans = {}
        self.last_kernel = None

    def __call__(self, x, k, out=None):
        """The indices of the k largest |x| in each row of x, into ``out`` (allocated when
        None; else a C-contiguous int64 array of shape x.shape[:-1] + (k,)); see the module
        docstring for the contract."""
        if type(k) is not int:
            k = operator.index(k)
        try:
            plan = self._plans[x.shape, k]
            if x.dtype is not plan.dtype:
                raise KeyError
        except (KeyError, AttributeError):
            x, plan = self._prepare(x, k)
        if out is None:
            out = _empty(plan.out_shape, _INT64)
        elif out.shape != plan.out_shape or out.dtype != _INT64 or not _writable_c(out.flags):
            raise ValueError(
                f"topk: out must be a writeable C-contiguous int64 array of shape "
                f"{plan.out_shape}, got {out.dtype} {out.shape}"
            )
        if not plan.kernel(x, k, plan.work, out):
            plan.kernel(np.ascontiguousarray(x), k, plan.work, out)
        self.last_kernel = plan.name
        return out

    def _prepare(self, x, k):
        x = np.asarray(x)
        if x.dtype not in KEY_DTYPES or not x.dtype.isnative:
            raise TypeError(f"topk: x must be a float32 or float64 array, got {x.dtype}")
        if x.ndim not in (1, 2):
            raise ValueError(f"topk: x must be 1-D or 2-D, got shape {x.shape}")
        n = x.shape[-1]
        if k < 0 or k > n:
            raise ValueError(f"topk: k={k} is outside 0..n={n} (n = entries per row)")
        # keyed by shape and k alone: hashing the dtype was 60 ns, and the strides 80 ns, of
        # a 1 x 500 call of 1.0-1.1 us. The plan names its dtype, and two dtypes of one
        # shape take turns in the entry; the kernels take any layout and decline
        # non-contiguous arrays, which the call then copies.
        key = (x.shape, k)
        plan = self._plans.get(key)
        if plan is None or plan.dtype != x.dtype:
            if plan is None and len(self._plans) >= MAX_PLANS:
                self._plans.pop(next(iter(self._plans)))
            plan = self._plans[key] = self._make_plan(x, k)
            plan.dtype = x.dtype
        return x, plan

    def _make_plan(self, x, k):
        key_dtype = KEY_DTYPES[x.dtype]
        out_shape = x.shape[:-1] + (k,)
        n = x.shape[-1]
        rows = x.shape[0] if x.ndim == 2 else 1
        if k == 0 or k == n or rows == 0:
            return _Plan(_every_index, np.arange(k, dtype=np.int64), out_shape, "trivial")
        x = np.ascontiguousarray(x)  # the plan's measurements run on it
        if x.ndim == 2 and rows == 1:
            inner = self._make_plan(x[0], k)
            return _Plan(_first_row, inner, out_shape, inner.name)
        m = min(lanes_for(k), n)
        if x.ndim == 1:
            plan = _kernel_plan(topk_filter_vector, filter_work(m, n, key_dtype), x, out_shape)
            if self._measuring(n, MEASURE_FROM):
                hist, cand = np.zeros((self.threads + 1, 1 << RADIX_BITS), np.int64), np.zeros((2, n), key_dtype)
                entry = compiled_entry(topk_radix_vector, x, out_shape, hist, cand)
                radix = _Plan(_with_buffers, (entry, hist, cand), out_shape, "topk_radix_vector")
                plan = _fastest([plan, radix], x, k)
            return plan
        serial = parallel = None
        timed = self._measuring(rows * n, self.parallel_from)
        if rows * n < self.parallel_from or timed:
            serial = _kernel_plan(topk_filter_rows, filter_work(m, n, key_dtype), x, out_shape)
        if rows * n >= self.parallel_from:
            work = filter_work(m, n, key_dtype, blocks=self.threads)
            parallel = _kernel_plan(topk_filter_rows_parallel, work, x, out_shape)
        if serial is not None and parallel is not None:
            return _fastest([serial, parallel], x, k)
        return serial or parallel

    def _measuring(self, entries, start):
        return self.measure and self.threads > 1 and entries >= start and not numba.config.DISABLE_JIT


def _fastest(plans, x, k):
    """A plan that runs whichever of ``plans`` has been faster lately (``_Timed``), first
    called once each on x untimed, then timed in turns on x, ``RECENT`` calls each."""
    timed = _Timed(plans)
    plan = _Plan(_timed_call, timed, plans[0].out_shape, None)
    timed.plan = plan
    out = np.empty(plans[0].out_shape, np.int64)
    for choice in plans:
        choice.kernel(x, k, choice.work, out)  # warm-up
    for _ in range(RECENT):
        for choice in range(len(plans)):
            timed.run(choice, x, k, out)
    plan.name = plans[timed.choice.best].name
    return plan


class _Timed:
    """Kernels that can serve one shape, timed on the calls they serve and chosen by a
    ``TimedChoice`` (the kernel whose recent calls were fastest; another one tried now and
    then). ``plan.name`` follows the choice."""

    __slots__ = ("plans", "choice", "plan")

    def __init__(self, plans):
        self.plans = plans
        self.choice = TimedChoice(plans)
        self.plan = None

    def __call__(self, x, k, out):
        done = self.run(self.choice.pick(), x, k, out)
        self.plan.name = self.plans[self.choice.best].name
        return done

    def run(self, choice, x, k, out):
        plan = self.plans[choice]
        start = time.perf_counter()
        done = plan.kernel(x, k, plan.work, out)
        if done:  # a declined (strided) x is no measure of the kernel
            self.choice.record(choice, time.perf_counter() - start)
        return done


def _timed_call(x, k, timed, out):
    return timed(x, k, out)


def _kernel_plan(kernel, work, x, out_shape):
    """The plan that runs the Numba kernel ``kernel(x, k, work, out)`` (named after it) on
    arrays like x, called through its compiled entry point."""
    return _Plan(compiled_entry(kernel, x, out_shape, work), work, out_shape, kernel.__name__)


def compiled_entry(kernel, x, out_shape, *buffers):
    """The compiled entry point of the Numba kernel ``kernel(x, k, *buffers, out)`` for
    arrays of x's ndim and dtype (any layout), a C-contiguous int64 out of out_shape's ndim
    and buffers typed as these, or ``kernel`` itself when it is not a Numba
    dispatcher (every kernel under ``NUMBA_DISABLE_JIT``).

    Calling the entry point skips the dispatcher's typing of the arguments on every
    call: 0.15 us of the 1.0 us a 1 x 500 call took (measured, ``bench topk``). It is safe
    because a plan only ever receives arrays of its own dtype and ndim and an ``out``
    checked to be C-contiguous int64, and because x is compiled as any layout, possibly
    read-only and unaligned, and out as possibly unaligned (the most general array types):
    whatever flags and strides the caller's arrays have, the compiled code assumes nothing
    they break. (The kernels test x's contiguity at run time, and decline strided arrays.)
    The kernel's own buffers are typed as they are."""
    overloads = getattr(kernel, "overloads", None)
    if overloads is None:
        return kernel
    signature = (
        types.Array(numba.from_dtype(x.dtype), x.ndim, "A", readonly=True, aligned=False),
        types.int64,
        *(numba.typeof(buffer) for buffer in buffers),
        types.Array(types.int64, len(out_shape), "C", aligned=False),
    )
    kernel.compile(signature)
    return overloads[signature].entry_point


def _writable_c(flags):
    return flags.c_contiguous and flags.writeable


def _every_index(x, k, every, out):
    out[...] = every
    return True


def _first_row(x, k, inner, out):
    return inner.kernel(x[0], k, inner.work, out[0])


def _with_buffers(x, k, work, out):
    """A kernel of two buffers, ``work`` = (its entry, a, b)."""
    entry, a, b = work
    return entry(x, k, a, b, out)


_DEFAULT_SELECTOR = TopKSelector()

topk = _DEFAULT_SELECTOR.__call__
"""``topk(x, k, out=None)``: the indices of the k largest |x| in each row of x (n,) or
(rows, n), ties to the lower index, ascending index order, int64 (k,) or (rows, k); see
the module docstring for k, NaN, dtypes and layouts. With ``out`` (C-contiguous int64 of
that shape) nothing is allocated. It is the call of one shared ``TopKSelector``, which
holds the buffers (a bound method rather than a function calling it: one Python call less,
0.1 us of the 1.2 us a 1 x 500 call takes)."""


def topk_reference(x, k):
    """The contract in NumPy (a stable sort by descending magnitude key): the validator.
    Same arguments, errors and result as ``topk``, written for clarity, not speed."""
    x = np.asarray(x)
    if x.dtype not in KEY_DTYPES or not x.dtype.isnative:
        raise TypeError(f"topk: x must be a float32 or float64 array, got {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"topk: x must be 1-D or 2-D, got shape {x.shape}")
    k = operator.index(k)
    n = x.shape[-1]
    if k < 0 or k > n:
        raise ValueError(f"topk: k={k} is outside 0..n={n} (n = entries per row)")
    rows = np.ascontiguousarray(x.reshape(-1, n))
    out = np.empty((rows.shape[0], k), np.int64)
    topk_rows_numpy(rows, k, out)
    return out.reshape(x.shape[:-1] + (k,))
