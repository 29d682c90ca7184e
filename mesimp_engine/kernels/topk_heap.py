"""The papers' top-k selector: a bounded min-heap of k magnitude keys, O(n log k), O(k) space.

Heapify the first k keys, scan the rest, and replace the root when a strictly larger key
arrives (a later index never wins a tie, so "strictly" is the tie rule). The heap orders
entries by (key, -index): the root is the worst entry kept, i.e. among the smallest keys
the one with the highest index. Its buffers (``heap_key``, ``heap_idx``) belong to the
caller and are reused on every call, as in the papers' engine.

Contract of every kernel here (see ``topk_reference``): for 1 <= k <= n, ``out`` receives the
indices of the k largest ``magnitude_key`` values, ties to the lower index, in ascending
index order. The heap leaves its k entries in heap order, so a last pass over the data
emits, in index order, every entry at least as good as the root: exactly the k kept.
"""

from numba import njit, prange

from mesimp_engine.kernels.magnitude_key import magnitude_bits, magnitude_key
from mesimp_engine.kernels.topk_reference import topk_rows_numpy


@njit(cache=True)
def heap_sift_down(heap_key, heap_idx, size, pos):
    """Restore the min-heap property below ``pos``; (key_a, idx_a) is worse than (key_b,
    idx_b) when key_a < key_b, or key_a == key_b and idx_a > idx_b."""
    key = heap_key[pos]
    idx = heap_idx[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and (
            heap_key[right] < heap_key[child]
            or (heap_key[right] == heap_key[child] and heap_idx[right] > heap_idx[child])
        ):
            child = right
        if heap_key[child] > key or (heap_key[child] == key and heap_idx[child] < idx):
            break
        heap_key[pos] = heap_key[child]
        heap_idx[pos] = heap_idx[child]
        pos = child
    heap_key[pos] = key
    heap_idx[pos] = idx


@njit(cache=True)
def heap_threshold(keys, idx, count, k, heap_key, heap_idx):
    """The k-th best (key, index) of the first ``count`` >= k entries of (keys, idx), which
    must be in ascending index order. Returns (key, index) of the heap's root."""
    for j in range(k):
        heap_key[j] = keys[j]
        heap_idx[j] = idx[j]
    for pos in range(k // 2 - 1, -1, -1):
        heap_sift_down(heap_key, heap_idx, k, pos)
    for j in range(k, count):
        if keys[j] > heap_key[0]:
            heap_key[0] = keys[j]
            heap_idx[0] = idx[j]
            heap_sift_down(heap_key, heap_idx, k, 0)
    return heap_key[0], heap_idx[0]


@njit(cache=True)
def _heap_row(x, k, heap_key, heap_idx, out):
    """The heap selector on one row x (n,); heap_key/heap_idx (>= k,); out (k,)."""
    b = magnitude_bits(x)
    n = b.shape[0]
    for j in range(k):
        heap_key[j] = magnitude_key(b[j])
        heap_idx[j] = j
    for pos in range(k // 2 - 1, -1, -1):
        heap_sift_down(heap_key, heap_idx, k, pos)
    root = heap_key[0]
    for j in range(k, n):
        v = magnitude_key(b[j])
        if v > root:
            heap_key[0] = v
            heap_idx[0] = j
            heap_sift_down(heap_key, heap_idx, k, 0)
            root = heap_key[0]
    last, last_idx = heap_key[0], heap_idx[0]
    c = 0
    for j in range(n):
        v = magnitude_key(b[j])
        if v > last or (v == last and j <= last_idx):
            out[c] = j
            c += 1


@njit(cache=True)
def topk_heap_vector(x, k, heap_key, heap_idx, out):
    """Top-k of one vector. x (n,) float32/float64, 1 <= k <= n; heap_key (>= k,) int32 for
    float32 / int64 for float64; heap_idx (>= k,) int64; out (k,) int64."""
    _heap_row(x, k, heap_key, heap_idx, out)


def topk_heap_vector_numpy(x, k, heap_key, heap_idx, out):
    """NumPy twin of ``topk_heap_vector`` (the buffers are unused)."""
    topk_rows_numpy(x[None, :], k, out[None, :])


@njit(cache=True, parallel=True)
def topk_heap_rows_parallel(x, k, heap_key, heap_idx, out):
    """Top-k of every row, rows split into T = heap_key.shape[0] contiguous blocks run in
    parallel, block t using heap buffers t. x (rows, n), heap_key (T, >= k) int32/int64,
    heap_idx (T, >= k) int64, out (rows, k) int64."""
    blocks = heap_key.shape[0]
    rows = x.shape[0]
    for t in prange(blocks):
        for r in range(t * rows // blocks, (t + 1) * rows // blocks):
            _heap_row(x[r], k, heap_key[t], heap_idx[t], out[r])


def topk_heap_rows_parallel_numpy(x, k, heap_key, heap_idx, out):
    """NumPy twin of ``topk_heap_rows_parallel`` (the buffers are unused)."""
    topk_rows_numpy(x, k, out)
