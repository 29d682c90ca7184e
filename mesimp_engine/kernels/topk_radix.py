"""Top-k of one long vector with large k (1,000,000 entries, k = 10,000): sample, filter in
parallel, then radix-select among the few survivors.

1. Sample every ``SAMPLE_STRIDE``-th key into a histogram of its top ``RADIX_BITS`` bits and
   pick the bin edge ``bound`` above which the sample predicts ``MARGIN`` * k keys.
2. In parallel over T chunks, copy every (key, index) with key >= bound into the chunk's
   own region of ``cand`` (in index order) and count them. Fewer than k survivors means the
   sample misled us: the pass is repeated with bound = 0 (every entry survives), so the
   result never depends on the sample, only the speed does.
3. Radix select on the survivors (moved into one run): histograms of successive 12-bit
   digits, from the top, find the exact k-th largest key K and how many entries equal to
   K are needed (``kth_largest_key``).
4. One pass over the survivors in index order emits every key > K and the first entries
   == K: ties to the lower index, ascending index order (``emit_top``).

Contract as in ``topk_heap`` (1 <= k <= n). Buffers (caller's, reused): ``hist``
(T + 1, 2^RADIX_BITS) int64 (rows 0..T-1 per chunk, row T merged); ``cand`` (2, n) in the
key dtype: cand[0] keys, cand[1] indices.
"""

from numba import njit, prange

from mesimp_engine.kernels.compress_keys import keep_at_least
from mesimp_engine.kernels.magnitude_key import key_bit_width, magnitude_bits, magnitude_key
from mesimp_engine.kernels.topk_reference import topk_rows_numpy

RADIX_BITS = 12
SAMPLE_STRIDE = 16
MARGIN = 1.25


@njit(cache=True)
def _sample_bound(b, k, shift, counts):
    """The largest top-digit edge d << shift whose sampled count of keys >= it predicts at
    least MARGIN * k keys in the whole vector; 0 when the sample is too thin to tell."""
    n = b.shape[0]
    bins = counts.shape[0]
    for d in range(bins):
        counts[d] = 0
    for i in range(0, n, SAMPLE_STRIDE):
        counts[magnitude_key(b[i]) >> shift] += 1
    wanted = MARGIN * k * ((n + SAMPLE_STRIDE - 1) // SAMPLE_STRIDE) / n
    above = 0
    for d in range(bins - 1, -1, -1):
        above += counts[d]
        if above >= wanted and above >= 8:
            return d << shift
    return 0


@njit(cache=True, parallel=True)
def _survivors(b, bound, hist, cand):
    """Copy (key, index) with key >= bound into cand, chunk t from offset t*n//T;
    hist[t, 0] = how many chunk t kept. Returns the total."""
    n = b.shape[0]
    chunks = hist.shape[0] - 1
    for t in prange(chunks):
        start = t * n // chunks
        c = keep_at_least(b, start, (t + 1) * n // chunks, bound, cand[0], cand[1], start)
        hist[t, 0] = c - start
    total = 0
    for t in range(chunks):
        total += hist[t, 0]
    return total


@njit(cache=True)
def kth_largest_key(keys, count, k, counts):
    """Radix select: the k-th largest of keys[:count] (1 <= k <= count) and how many entries
    equal to it are among the k largest. ``counts`` (>= 2^RADIX_BITS) is scratch. Digits
    of RADIX_BITS bits from the top; each level counts the keys sharing the prefix found
    so far."""
    need = k
    prefix = 0
    shift = key_bit_width(keys)
    while shift > 0:
        low = max(shift - RADIX_BITS, 0)
        bins = 1 << (shift - low)
        for d in range(bins):
            counts[d] = 0
        for p in range(count):
            v = keys[p]
            if v >> shift == prefix:
                counts[(v >> low) & (bins - 1)] += 1
        d = bins - 1
        while counts[d] < need:
            need -= counts[d]
            d -= 1
        prefix = (prefix << (shift - low)) | d
        shift = low
    return prefix, need


@njit(cache=True)
def emit_top(keys, idx, count, last, need, out):
    """out = idx[p] for the entries p < count with keys[p] > last, and the first ``need``
    with keys[p] == last, in the order of p."""
    o = 0
    for p in range(count):
        v = keys[p]
        if v > last or (v == last and need > 0):
            need -= v == last
            out[o] = idx[p]
            o += 1


@njit(cache=True)
def topk_radix_vector(x, k, hist, cand, out):
    """Top-k of one vector. x (n,) float32/float64, 1 <= k <= n; hist (T + 1, 4096) int64;
    cand (2, n) int32 for float32 / int64 for float64; out (k,) int64. Returns False
    without a result when x is not contiguous, else True."""
    if not x.flags.c_contiguous:
        return False
    b = magnitude_bits(x)
    n = b.shape[0]
    chunks = hist.shape[0] - 1
    bound = _sample_bound(b, k, key_bit_width(cand) - RADIX_BITS, hist[chunks])
    if _survivors(b, bound, hist, cand) < k:
        _survivors(b, 0, hist, cand)
    # the chunks' survivors, moved down into one run (in index order)
    count = 0
    for t in range(chunks):
        start = t * n // chunks
        for p in range(start, start + hist[t, 0]):
            cand[0, count] = cand[0, p]
            cand[1, count] = cand[1, p]
            count += 1
    last, need = kth_largest_key(cand[0], count, k, hist[chunks])
    emit_top(cand[0], cand[1], count, last, need, out)
    return True


def topk_radix_vector_numpy(x, k, hist, cand, out):
    """NumPy twin of ``topk_radix_vector`` (the buffers are unused)."""
    if not x.flags.c_contiguous:
        return False
    topk_rows_numpy(x[None, :], k, out[None, :])
    return True
