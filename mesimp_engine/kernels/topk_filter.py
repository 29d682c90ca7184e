"""Threshold-then-heap top-k: a vectorised pass finds a lower bound on the k-th largest key,
and only the few entries above it reach the heap.

Per row x (n,), with m lanes (k <= m <= n; lane g holds the entries i = g (mod m)):

1. ``lane_max[g]`` = largest key in lane g: one pass over the row, elementwise maxima of
   consecutive m-blocks, which the compiler vectorises.
2. ``bound`` <= the k-th largest lane maximum (bisection on the lane maxima, a few
   vectorised counts). k distinct lanes hold an entry >= bound, so the k-th largest key
   is >= bound: every top-k entry has key >= bound.
3. Candidates: the entries with key >= bound, read only from the lanes whose maximum is
   >= bound, block by block, so they come out in ascending index order (for Gaussian data,
   n = 500, k = 20, m = 64: about 22 of 64 lanes, some 25 candidates).
4. Among the candidates, the k with fewest better ones (rank counting, vectorised) or,
   when there are many (ties, large k), those at least as good as the k-th best (key,
   index) from the heap of ``topk_heap``: the answer, already in index order.

Contract as in ``topk_heap``: for 1 <= k <= m <= n, m a multiple of LANE_CHUNK (64), ``out`` gets the indices of the k largest
keys, ties to the lower index, in ascending index order. Buffers (caller's, reused):
``lanes`` (2, m) and ``cand`` (4, n) in the key dtype (int32 for float32, int64 for
float64): lanes[0] lane maxima, lanes[1] selected lanes; cand[0] keys, cand[1] indices,
cand[2] ranks or heap keys, cand[3] heap indices.
"""

from numba import njit, prange

from mesimp_engine.kernels.magnitude_key import magnitude_bits, magnitude_key
from mesimp_engine.kernels.topk_heap import heap_threshold
from mesimp_engine.kernels.topk_reference import topk_rows_numpy

BISECT_STEPS = 12
"""Bisection steps for the bound: each halves the gap to the k-th largest lane maximum."""

DROP_UP_TO = 8
"""When at most this many candidates are surplus, they are dropped one minimum at a time
(c scans of a few dozen entries); otherwise the heap picks the k."""


@njit(cache=True)
def _filter_rows(bits, r0, r1, k, lanes, cand, out):
    """Rows r0..r1-1 of bits (rows, n) into out; lanes (2, m), cand (4, n) of one thread.
    Indexes 2-D arrays directly: no array views (and no reference counting) per row."""
    n = bits.shape[1]
    m = lanes.shape[1]
    blocks = n // m
    for r in range(r0, r1):
        # 1. lane maxima: lanes[0, g] = max key over i = g (mod m)
        for g in range(m):
            lanes[0, g] = magnitude_key(bits[r, g])
        for base in range(m, n - m + 1, m):
            for g in range(m):
                v = magnitude_key(bits[r, base + g])
                w = lanes[0, g]
                lanes[0, g] = v if v > w else w
        for g in range(n - blocks * m):
            v = magnitude_key(bits[r, blocks * m + g])
            w = lanes[0, g]
            lanes[0, g] = v if v > w else w
        # 2. bound: largest t (by bisection) with count(lane maxima >= t) >= k
        lo = lanes[0, 0]
        hi = lanes[0, 0]
        for g in range(m):
            v = lanes[0, g]
            lo = v if v < lo else lo
            hi = v if v > hi else hi
        for _ in range(BISECT_STEPS):
            if lo >= hi:
                break
            mid = lo + (hi - lo + 1) // 2
            count = 0
            for g in range(m):
                count += lanes[0, g] >= mid
            if count >= k:
                lo = mid
            else:
                hi = mid - 1
        bound = lo
        # 3. candidates (key >= bound) from the selected lanes, in index order
        s = 0
        for g in range(m):
            if lanes[0, g] >= bound:
                lanes[1, s] = g
                s += 1
        c = 0
        for base in range(0, n, m):
            for q in range(s):
                i = base + lanes[1, q]
                if i >= n:
                    break
                v = magnitude_key(bits[r, i])
                cand[0, c] = v
                cand[1, c] = i
                c += v >= bound
        # 4. keep the k best candidates
        _keep_best(cand, c, k, out[r])


@njit(cache=True)
def _keep_best(cand, c, k, out):
    """out = the indices cand[1, :c] of the k best (key, -index) of cand[0, :c], in order."""
    if c - k <= DROP_UP_TO:
        for _ in range(c - k):
            # drop the worst left: the smallest key, the last one among equals
            worst = -1
            for p in range(c):
                v = cand[0, p]
                if v >= 0 and (worst < 0 or v <= cand[0, worst]):
                    worst = p
            cand[0, worst] = -1
        o = 0
        for p in range(c):
            if cand[0, p] >= 0:
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
