"""Threshold-then-select top-k: a vectorised pass bounds the k-th largest key from below,
and only the few entries above the bound are looked at again.

Per row x (n,), with m lanes (k <= m <= n; lane g holds the entries i = g (mod m)):

1. ``lane_max[g]`` = largest key in lane g: one pass over the row, elementwise maxima of
   consecutive m-blocks, which the compiler vectorises.
2. ``bound`` = the largest t with at least k lane maxima >= t, found by a few branch-free
   bisection steps over the m lane maxima (so bound <= the k-th largest lane maximum).
   k distinct lanes hold an entry >= bound, so the k-th largest key is >= bound: every
   top-k entry has key >= bound.
3. Candidates: the entries with key >= bound, read only from the lanes whose maximum is
   >= bound, block by block, so they come out in ascending index order (Gaussian data,
   n = 500, k = 20, m = 128: about 22 of 128 lanes, some 24 candidates).
4. The surplus candidates are dropped one minimum at a time (the last among equal keys
   first) when there are few; otherwise the heap of ``topk_heap`` finds the k-th best
   (key, index) and the candidates at least as good are kept: the answer, in index order.

Contract as in ``topk_heap``: for 1 <= k <= m <= n, ``out`` gets the indices of the k
largest keys, ties to the lower index, in ascending index order. Buffers (caller's,
reused): ``lanes`` (2, m) and ``cand`` (4, n) in the key dtype (int32 for float32, int64
for float64): lanes[0] lane maxima, lanes[1] selected lanes; cand[0] keys, cand[1]
indices, cand[2:4] the heap. Rows are indexed through views made once per row.
"""

from numba import njit, prange

from mesimp_engine.kernels.magnitude_key import magnitude_bits, magnitude_key
from mesimp_engine.kernels.topk_heap import heap_threshold
from mesimp_engine.kernels.topk_reference import topk_rows_numpy

BISECT_STEPS = 8
"""Bisection steps for the bound: it ends within (max - min) / 256 of the k-th largest lane
maximum (measured on 500-wide rows, k = 20: 6 steps 0.78, 8 steps 0.70, 12 steps 0.75 us
per row: fewer steps leave more candidates to drop)."""

DROP_UP_TO = 8
"""When at most this many candidates are surplus, they are dropped one minimum at a time
(c scans of a few dozen entries); otherwise the heap picks the k."""


@njit(cache=True, inline="always")
def _lane_maxima(b, lane_max):
    """lane_max[g] = max key(b[i]) over i = g (mod m), m = len(lane_max) <= len(b)."""
    n = b.shape[0]
    m = lane_max.shape[0]
    for g in range(m):
        lane_max[g] = magnitude_key(b[g])
    for base in range(m, n - m + 1, m):
        for g in range(m):
            v = magnitude_key(b[base + g])
            w = lane_max[g]
            lane_max[g] = v if v > w else w
    base = n // m * m
    for g in range(n - base):
        v = magnitude_key(b[base + g])
        w = lane_max[g]
        lane_max[g] = v if v > w else w


@njit(cache=True, inline="always")
def _lane_bound(lane_max, k):
    """The largest t with count(lane_max >= t) >= k, to within (max - min) / 2^BISECT_STEPS
    below it, by branch-free bisection (which half is kept is unpredictable)."""
    lo = lane_max[0]
    hi = lane_max[0]
    for g in range(lane_max.shape[0]):
        v = lane_max[g]
        lo = v if v < lo else lo
        hi = v if v > hi else hi
    for _ in range(BISECT_STEPS):
        mid = lo + (hi - lo + 1) // 2
        count = 0
        for g in range(lane_max.shape[0]):
            count += lane_max[g] >= mid
        enough = count >= k
        lo = mid if enough else lo
        hi = hi if enough else mid - 1
    return lo


@njit(cache=True, inline="always")
def _candidates(b, lane_max, selected, bound, keys, idx):
    """(key, index) of the entries with key >= bound into keys, idx, in index order, read
    from the lanes whose maximum is >= bound (listed into ``selected``); returns how many."""
    n = b.shape[0]
    m = lane_max.shape[0]
    s = 0
    for g in range(m):
        selected[s] = g
        s += lane_max[g] >= bound
    c = 0
    for base in range(0, n - m + 1, m):
        for q in range(s):
            i = base + selected[q]
            v = magnitude_key(b[i])
            keys[c] = v
            idx[c] = i
            c += v >= bound
    base = n // m * m
    for q in range(s):
        i = base + selected[q]
        if i >= n:
            break
        v = magnitude_key(b[i])
        keys[c] = v
        idx[c] = i
        c += v >= bound
    return c


@njit(cache=True)
def _filter_rows(bits, r0, r1, k, lanes, cand, out):
    """Rows r0..r1-1 of bits (rows, n) into out; lanes (2, m), cand (4, n) of one thread."""
    lane_max, selected = lanes[0], lanes[1]
    keys, idx = cand[0], cand[1]
    for r in range(r0, r1):
        b = bits[r]
        _lane_maxima(b, lane_max)
        bound = _lane_bound(lane_max, k)
        c = _candidates(b, lane_max, selected, bound, keys, idx)
        _keep_best(cand, c, k, out[r])


@njit(cache=True)
def _keep_best(cand, c, k, out):
    """out = the indices cand[1, :c] of the k best (key, -index) of cand[0, :c], in order."""
    if c - k <= DROP_UP_TO:
        keys = cand[0]
        for _ in range(c - k):
            # drop the worst left (dropped ones are marked -1): the smallest key, the last
            # one among equals; branch-free, as which entry is worst is unpredictable
            worst_key = keys[0]
            worst = 0
            for p in range(c):
                v = keys[p]
                take = (v >= 0) & ((v <= worst_key) | (worst_key < 0))
                worst_key = v if take else worst_key
                worst = p if take else worst
            keys[worst] = -1
        o = 0
        for p in range(c):
            if keys[p] >= 0:
                out[o] = cand[1, p]
                o += 1
        return
    last, last_idx = heap_threshold(cand[0], cand[1], c, k, cand[2], cand[3])
    o = 0
    for p in range(c):
        if cand[0, p] > last or (cand[0, p] == last and cand[1, p] <= last_idx):
            out[o] = cand[1, p]
            o += 1


@njit(cache=True)
def topk_filter_vector(x, k, lanes, cand, out):
    """Top-k of one vector. x (n,) float32/float64; 1 <= k <= m <= n; lanes (2, m) and
    cand (4, n) in the key dtype; out (k,) int64."""
    _filter_rows(magnitude_bits(x).reshape(1, x.shape[0]), 0, 1, k, lanes, cand, out.reshape(1, k))


def topk_filter_vector_numpy(x, k, lanes, cand, out):
    """NumPy twin of ``topk_filter_vector`` (the buffers are unused)."""
    topk_rows_numpy(x[None, :], k, out[None, :])


@njit(cache=True)
def topk_filter_rows(x, k, lanes, cand, out):
    """Top-k of every row, one thread. x (rows, n); lanes (2, m), cand (4, n); out (rows, k)."""
    _filter_rows(magnitude_bits(x), 0, x.shape[0], k, lanes, cand, out)


def topk_filter_rows_numpy(x, k, lanes, cand, out):
    """NumPy twin of ``topk_filter_rows`` (the buffers are unused)."""
    topk_rows_numpy(x, k, out)


@njit(cache=True, parallel=True)
def topk_filter_rows_parallel(x, k, lanes, cand, out):
    """Top-k of every row, rows split into T = lanes.shape[0] contiguous blocks run in
    parallel, block t using lanes[t] (2, m) and cand[t] (4, n). out (rows, k)."""
    blocks = lanes.shape[0]
    rows = x.shape[0]
    bits = magnitude_bits(x)
    for t in prange(blocks):
        _filter_rows(bits, t * rows // blocks, (t + 1) * rows // blocks, k, lanes[t], cand[t], out)


def topk_filter_rows_parallel_numpy(x, k, lanes, cand, out):
    """NumPy twin of ``topk_filter_rows_parallel`` (the buffers are unused)."""
    topk_rows_numpy(x, k, out)
