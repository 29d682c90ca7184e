"""Threshold-then-select top-k: a vectorised pass bounds the k-th largest key from below,
and only the few entries above the bound are looked at again.

Per row x (n,), with m lanes (k <= m <= n; lane g holds the entries i = g (mod m)):

1. ``lane_max[g]`` = largest key in lane g: one pass over the row, elementwise maxima of
   consecutive m-blocks, which the compiler vectorises.
2. ``bound`` = the largest t with at least k lane maxima >= t, found by a few branch-free
   bisection steps over the m lane maxima (so bound <= the k-th largest lane maximum).
   k distinct lanes hold an entry >= bound, so the k-th largest key is >= bound: every
   top-k entry has key >= bound.
3. Candidates: the entries with key >= bound, in ascending index order, by one pass of
   vector compress-stores over the row (``compress_keys``; Gaussian data, n = 500,
   k = 20, m = 128: some 22 candidates). It replaced a scalar pass over the lanes whose
   maximum is >= bound, which read a fifth of the row but took three times as long.
4. Up to 64 candidates (``compress_keys.keep_best_small``) are ranked in vector registers:
   one compare of each candidate's key against all of them and a popcount give its rank,
   and the ones ranked below k are compressed into ``out`` (45-55 ns a row at n = 500,
   k = 20, where dropping the surplus one vector minimum at a time took 80-85 ns, and
   the scalar loops before that about 105 ns). More candidates: the surplus is dropped
   one scalar minimum at a time when there are few, otherwise the k-th largest candidate
   key K is found by bisection (vectorised counts), and every candidate above K and the
   first ones equal to K are kept: the answer, in index order.

Rows of a matrix first try a guessed bound (``filter_rows``), and for rows of 64 to 65,536
entries that pass writes only 16-bit positions, 32 entries per compress
(``compress_keys.keep_positions``: 55 against 74 ns for keys and indices side by side, on
500 entries), and the few kept keys are gathered from the row again for the ranks
(``keep_best_at_positions``). 10,000 x 500 float32, k = 20, one thread (EPYC, median of
alternating processes): 1.82 -> 1.71 ms with positions, after 2.14-2.19 -> 1.73-1.82 ms
with the ranks.

The counts of the bisections are ``compress_keys.count_at_least`` (one vector compare and a
popcount per 16 keys): with Numba's own loop the int32 keys were widened to int64, four
times the compares; 8 bisection steps over 128 lane maxima went from 110 to 33 ns.

Contract as in ``topk_heap``: for 1 <= k <= m <= n, ``out`` gets the indices of the k
largest keys, ties to the lower index, in ascending index order. The kernels take one work
buffer (the caller's, reused; ``filter_work`` makes it), in the key dtype (int32 for
float32, int64 for float64): GUESS_STATE slots of the row-bound guess (``filter_rows``)
and m, then the m lane maxima, the n candidate keys and the n candidate indices, each
region starting on a cache line. One array rather than three: every array argument of a
compiled call costs about 40 ns to unbox, a fifth of the kernel's own time on a 500-entry
vector. The guess state stays in the buffer from one
call to the next, so successive calls on alike data (the rows of one gradient, a vector
after the previous one) start from a guessed bound. A zeroed state means "no guess yet";
results never depend on the state, only the time does.
"""

import numpy as np
from numba import njit, prange

from mesimp_engine.kernels.compress_keys import (
    POSITION_LIMIT,
    POSITION_MIN,
    SMALL_CANDIDATES,
    count_at_least,
    keep_at_least,
    keep_best_at_positions,
    keep_best_small,
    keep_positions,
)
from mesimp_engine.kernels.magnitude_key import magnitude_bits, magnitude_key
from mesimp_engine.kernels.topk_radix import emit_top
from mesimp_engine.kernels.topk_reference import topk_rows_numpy

BISECT_STEPS = 8
"""Bisection steps for the bound: it ends within (max - min) / 256 of the k-th largest lane
maximum (measured on 500-wide rows, k = 20: 6 steps 0.78, 8 steps 0.70, 12 steps 0.75 us
per row: fewer steps leave more candidates to drop)."""

HINT_WINDOW = 16
"""Width, in units of the bisection's tolerance, of the window around the previous row's
bound that is tested first (one pass, two counts): rows of one gradient are alike, and a
window that holds the bound leaves 4 bisection steps instead of 8."""

SMALL_LANES = 128
"""The lane count of every k <= 21 (``sparsity.topk.lanes_for``), compiled as a constant."""

LANE_CHUNK = 2048
"""Lanes whose maxima are updated together across all blocks (8 KiB of int32 keys)."""

GUESS_SURPLUS = 4
"""Candidates beyond k that the guessed bound aims at (``filter_rows``)."""

GUESS_AVERAGE = 3
"""The running mean of the k-th largest keys moves 1 / 2^GUESS_AVERAGE of the way per row."""

GUESS_MAX_WAIT = 64
"""Most rows a failed guess makes the next one wait."""

DROP_UP_TO = 8
"""When at most this many candidates are surplus, they are dropped one minimum at a time
(c scans of a few dozen entries); otherwise the k-th largest is found by bisection."""


@njit(cache=True, inline="always")
def _max_keys_into(lane_max, b):
    """lane_max[g] = max(lane_max[g], key(b[g])) for g < len(b) (<= len(lane_max))."""
    for g in range(b.shape[0]):
        v = magnitude_key(b[g])
        w = lane_max[g]
        lane_max[g] = v if v > w else w


@njit(cache=True, inline="always")
def _lane_maxima(b, lane_max, m):
    """lane_max[g] = max key(b[i]) over i = g (mod m), m = len(lane_max) <= len(b). Many
    lanes are done LANE_CHUNK at a time, so that their maxima stay in the L1 cache."""
    n = b.shape[0]
    tail = n // m * m
    if m <= LANE_CHUNK:
        for g in range(m):
            lane_max[g] = 0
        for base in range(0, tail, m):
            for g in range(m):
                v = magnitude_key(b[base + g])
                w = lane_max[g]
                lane_max[g] = v if v > w else w
        _max_keys_into(lane_max, b[tail:])
        return
    for c0 in range(0, m, LANE_CHUNK):
        chunk = lane_max[c0 : c0 + LANE_CHUNK]
        chunk[:] = 0
        for base in range(c0, tail, m):
            _max_keys_into(chunk, b[base : base + chunk.shape[0]])
        if tail + c0 < n:
            _max_keys_into(chunk, b[tail + c0 : min(tail + c0 + chunk.shape[0], n)])


@njit(cache=True, inline="always")
def _lane_bound(lane_max, m, k, hint):
    """The largest t with count(lane_max >= t) >= k, to within tol = (max - min) /
    2^BISECT_STEPS below it, by branch-free bisection. ``hint`` (the previous row's bound,
    or -1) first brackets it in a window of HINT_WINDOW * tol when rows are alike."""
    lo, hi = _key_range(lane_max, m)
    tol = (hi - lo) >> BISECT_STEPS
    half = HINT_WINDOW // 2 * tol
    if hint - lo > half and hi - hint > half:
        below = hint - half
        above = hint + half
        count_below = count_at_least(lane_max, 0, m, below)
        count_above = count_at_least(lane_max, 0, m, above)
        lo = below if count_below >= k else lo
        hi = hi if count_below >= k else below - 1
        lo = above if count_above >= k else lo
        hi = hi if count_above >= k else above - 1
    return _bisect_kth(lane_max, m, k, lo, hi, tol)


@njit(cache=True, inline="always")
def _key_range(keys, c):
    """(min, max) of keys[:c], c >= 1."""
    lo = keys[0]
    hi = keys[0]
    for p in range(c):
        v = keys[p]
        lo = v if v < lo else lo
        hi = v if v > hi else hi
    return lo, hi


@njit(cache=True, inline="always")
def _bisect_kth(keys, c, k, lo, hi, tol):
    """Narrow [lo, hi] around the largest t with count(keys[:c] >= t) >= k until it is at
    most ``tol`` wide (0: exact), by branch-free bisection; returns the lower end."""
    while hi - lo > tol:
        mid = lo + (hi - lo + 1) // 2
        enough = count_at_least(keys, 0, c, mid) >= k
        lo = mid if enough else lo
        hi = hi if enough else mid - 1
    return lo


GUESS_STATE = 5
"""Slots at the head of a work buffer: the running k-th largest key (0: no guess yet), the
guess's margin, the rows the next guess waits, the backoff, and the last full row's bound
(the lane bisection's hint). The slot after them holds m, the lane count."""

ALIGN = 16
"""Entries (of either key width: 64 or 128 bytes) to which each region of a work buffer is
aligned: the lane maxima, the candidate keys and indices start on cache-line boundaries.
Unaligned (at offsets of 5 + 128 entries), the rows kernel was 10-12% slower per row."""


@njit(cache=True, inline="always")
def _aligned(entries):
    """entries rounded up to a multiple of ALIGN."""
    return -(-entries // ALIGN) * ALIGN


def filter_work(m, n, key_dtype, blocks=None):
    """A zeroed work buffer for rows of n entries with m lanes, in the key dtype: the guess
    state and m, then m lane maxima, n candidate keys and n candidate indices, each region
    starting on a cache line; one such row per block, (blocks, size), for
    ``topk_filter_rows_parallel``."""
    size = _aligned(GUESS_STATE + 1) + _aligned(m) + 2 * _aligned(n)
    entries = size * (blocks or 1)
    itemsize = np.dtype(key_dtype).itemsize
    raw = np.zeros(entries + 64 // itemsize, key_dtype)
    skip = (-raw.ctypes.data % 64) // itemsize  # the first region on a cache line too
    work = raw[skip : skip + entries].reshape((size,) if blocks is None else (blocks, size))
    work[..., GUESS_STATE] = m
    return work


@njit(cache=True, inline="always")
def _split_work(work, n):
    """(state, lanes, keys, idx): the views of a work buffer for rows of n entries."""
    m = work[GUESS_STATE]
    lanes = _aligned(GUESS_STATE + 1)
    keys = lanes + _aligned(m)
    idx = keys + _aligned(n)
    return work[:GUESS_STATE], work[lanes : lanes + m], work[keys : keys + n], work[idx : idx + n]


@njit(cache=True, inline="always")
def _filter_row(b, k, m, lane_max, keys, idx, out, hint):
    """One row b (n,) into out (k,) with m lanes; returns the bound (the next row's hint)
    and the row's k-th largest key (-1 when the candidates were too many to tell it
    cheaply)."""
    _lane_maxima(b, lane_max, m)
    bound = _lane_bound(lane_max, m, k, hint)
    c = keep_at_least(b, 0, b.shape[0], bound, keys, idx, 0)
    return bound, _keep_best(keys, idx, c, k, out)


@njit(cache=True, inline="always")
def _filter_row_lanes(b, k, lanes, keys, idx, out, hint):
    """``_filter_row`` with m = len(lanes). With m == SMALL_LANES the lane loops get a
    constant trip count (unrolled, in registers)."""
    if lanes.shape[0] == SMALL_LANES:
        return _filter_row(b, k, SMALL_LANES, lanes, keys, idx, out, hint)
    return _filter_row(b, k, lanes.shape[0], lanes, keys, idx, out, hint)


@njit(cache=True)
def filter_rows(bits, r0, r1, k, work, out):
    """Rows r0..r1-1 of bits (rows, n) into out, with one thread's work buffer.

    Once a row's k-th largest key is known, each row tries a guessed bound first, below the
    running mean of the earlier rows' k-th largest keys by an adapted margin
    (``GUESS_SURPLUS``): a candidates pass with it that finds between k and
    SMALL_CANDIDATES entries holds the whole top-k (at least k entries are >= the bound,
    so the k-th largest is), and the lane maxima and the bisection are skipped. A guess that finds too few or too many falls back to the
    full row; a second failure in a row makes the next guess wait 1 row, a third 2, ... up
    to 64, so unlike rows cost at most one extra pass in 64. The state carries over from
    call to call in ``work``. On 10,000 x 500 Gaussian rows, k = 20, 71% of the rows take
    the guess (the guesses fail about as often with too few candidates as with too many),
    and one thread went from 406-419 to 242-247 ns per row (best of 25, alternating with
    the code before the vector counts, the register keep-best and the guesses;
    0.59-0.60x). Aiming at 6 or 4 surplus candidates, with or without
    ``keep_best_small``'s bisection: within 3% of each other."""
    n = bits.shape[1]
    state, lanes, keys, idx = _split_work(work, n)
    kth, margin, wait, backoff, bound = _load_state(state)
    # (the loop keeps this state in locals: the same steps as an inline function returning
    # the state tuple took 10-12% longer per row)
    guessing = k <= SMALL_CANDIDATES
    by_positions = POSITION_MIN <= n <= POSITION_LIMIT
    for r in range(r0, r1):
        b = bits[r]
        if guessing and kth > 0 and wait == 0:
            # (written out here: an inline helper returning (c, key) took 8% longer per row)
            if by_positions:
                c = keep_positions(b, n, max(kth - margin, 1), keys)
            else:
                c = keep_at_least(b, 0, n, max(kth - margin, 1), keys, idx, 0)
            if k <= c <= SMALL_CANDIDATES:
                if by_positions:
                    key = keep_best_at_positions(b, keys, c, k, out[r])
                else:
                    key = keep_best_small(keys, idx, c, k, out[r])
                key = np.int64(key)
                kth += (key - kth) >> GUESS_AVERAGE
                margin = _adapt_margin(margin, c - k, kth)
                backoff = 0
                continue
            margin = margin + min((margin >> 1) + 1, kth - margin) if c < k else margin - (margin >> 2)
            wait = backoff
            backoff = min(2 * backoff, GUESS_MAX_WAIT) if backoff else 1
        elif wait > 0:
            wait -= 1
        bound, key = _filter_row_lanes(b, k, lanes, keys, idx, out[r], bound)
        bound, key = np.int64(bound), np.int64(key)  # (int32 keys: the margin needs 33 bits)
        if key > 0:
            if kth <= 0:
                kth = key
                margin = (key - bound) + min(key - bound + 1, bound)  # min(2 (key - bound) + 1, key)
            else:
                kth += (key - kth) >> GUESS_AVERAGE
    _store_state(state, kth, margin, wait, backoff, bound)


@njit(cache=True, inline="always")
def _load_state(state):
    """The guess state as int64 scalars (the buffer holds keys of either width)."""
    return np.int64(state[0]), np.int64(state[1]), np.int64(state[2]), np.int64(state[3]), np.int64(state[4])


@njit(cache=True, inline="always")
def _store_state(state, kth, margin, wait, backoff, bound):
    state[0] = kth
    state[1] = margin
    state[2] = wait
    state[3] = backoff
    state[4] = bound


@njit(cache=True, inline="always")
def _adapt_margin(margin, surplus, kth):
    """The guess's margin after a row that found ``surplus`` candidates beyond k: wider when
    it found fewer than GUESS_SURPLUS // 2 (never past kth: the margin is a distance below
    the running k-th largest key, so it fits the key dtype and its sums do not overflow),
    narrower above twice GUESS_SURPLUS."""
    if surplus < GUESS_SURPLUS // 2:
        return margin + min((margin >> 3) + 1, kth - margin)
    if surplus > 2 * GUESS_SURPLUS:
        return margin - (margin >> 3)
    return margin


@njit(cache=True, inline="always")
def _keep_best(keys, idx, c, k, out):
    """out = the indices idx[:c] of the k best (key, -index) of keys[:c], in order; returns
    the k-th largest key, or -1 (the few-surplus scalar path does not tell it)."""
    if c <= SMALL_CANDIDATES:
        return keep_best_small(keys, idx, c, k, out)
    if c - k <= DROP_UP_TO:
        # drop the worst left, one at a time: the smallest key (a vectorised minimum), the
        # last one among equals (a short backward scan); a dropped key becomes ``gone``,
        # above every key. (One scan keeping both the minimum and its position was twice
        # as slow: a two-step dependency chain per entry.)
        top = keys[0]
        for p in range(c):
            top = max(top, keys[p])
        gone = top + 1
        for _ in range(c - k):
            lowest = gone
            for p in range(c):
                lowest = min(lowest, keys[p])
            p = c - 1
            while keys[p] != lowest:
                p -= 1
            keys[p] = gone
        o = 0
        for p in range(c):
            idx[o] = idx[p]
            o += keys[p] != gone
        for o in range(k):
            out[o] = idx[o]
        return -1
    last = _kth_largest(keys, c, k)
    above = count_at_least(keys, 0, c, last + 1)
    emit_top(keys, idx, c, last, k - above, out)
    return last


@njit(cache=True)
def _kth_largest(keys, c, k):
    """The k-th largest of keys[:c], by branch-free bisection over the key range: about
    log2(max - min) counting passes of c entries, vectorised."""
    lo, hi = _key_range(keys, c)
    return _bisect_kth(keys, c, k, lo, hi, 0)


@njit(cache=True)
def topk_filter_vector(x, k, work, out):
    """Top-k of one vector. x (n,) float32/float64; 1 <= k <= m <= n; work from
    ``filter_work(m, n, ...)``; out (k,) int64. The guess state in work carries over to
    the next call. Returns True, or False without a result when x is not contiguous (so
    that a caller may pass any array and copy only those)."""
    if not x.flags.c_contiguous:
        return False
    filter_rows(magnitude_bits(x)[None, :], 0, 1, k, work, out[None, :])
    return True


def topk_filter_vector_numpy(x, k, work, out):
    """NumPy twin of ``topk_filter_vector`` (the work buffer is unused)."""
    if not x.flags.c_contiguous:
        return False
    topk_rows_numpy(x[None, :], k, out[None, :])
    return True


@njit(cache=True)
def topk_filter_rows(x, k, work, out):
    """Top-k of every row, one thread. x (rows, n); work from ``filter_work(m, n, ...)``;
    out (rows, k). Returns False without a result when x is not C-contiguous, else True."""
    if not x.flags.c_contiguous:
        return False
    filter_rows(magnitude_bits(x), 0, x.shape[0], k, work, out)
    return True


def topk_filter_rows_numpy(x, k, work, out):
    """NumPy twin of ``topk_filter_rows`` (the work buffer is unused)."""
    if not x.flags.c_contiguous:
        return False
    topk_rows_numpy(x, k, out)
    return True


@njit(cache=True, parallel=True)
def topk_filter_rows_parallel(x, k, work, out):
    """Top-k of every row, rows split into T = work.shape[0] contiguous blocks run in
    parallel, block t using work[t] (``filter_work(m, n, ..., blocks=T)``). out (rows, k).
    Returns False without a result when x is not C-contiguous, else True."""
    if not x.flags.c_contiguous:
        return False
    blocks = work.shape[0]
    rows = x.shape[0]
    bits = magnitude_bits(x)
    for t in prange(blocks):
        filter_rows(bits, t * rows // blocks, (t + 1) * rows // blocks, k, work[t], out)
    return True


def topk_filter_rows_parallel_numpy(x, k, work, out):
    """NumPy twin of ``topk_filter_rows_parallel`` (the work buffer is unused)."""
    return topk_filter_rows_numpy(x, k, work, out)
