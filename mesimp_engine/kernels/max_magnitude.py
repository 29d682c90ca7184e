"""The largest magnitude key of an array: one read pass, the floor a top-k selector is
measured against (``bench topk``), since any selector must read every entry once."""

from numba import njit, prange

from mesimp_engine.kernels.magnitude_key import magnitude_bits, magnitude_key, magnitude_keys_numpy


@njit(cache=True)
def max_magnitude_key(x):
    """max key(x) over a C-contiguous 1-D float32/float64 x (n >= 1), one thread."""
    b = magnitude_bits(x)
    best = magnitude_key(b[0])
    for i in range(b.shape[0]):
        v = magnitude_key(b[i])
        best = v if v > best else best
    return best


def max_magnitude_key_numpy(x):
    """NumPy twin of ``max_magnitude_key``."""
    return magnitude_keys_numpy(x).max()


@njit(cache=True, parallel=True)
def max_magnitude_key_chunks(x, partial):
    """partial[t] = max key over chunk t of T = len(partial) equal chunks of the 1-D x,
    chunks read in parallel (T <= n)."""
    n = x.shape[0]
    chunks = partial.shape[0]
    for t in prange(chunks):
        # each chunk through the one-thread kernel: the same loop written in the prange body
        # (or over bits taken outside it) was not vectorised (on 5,000,000 float32, two
        # threads took 3.6 ms, one 0.3 ms)
        partial[t] = max_magnitude_key(x[t * n // chunks : (t + 1) * n // chunks])


def max_magnitude_key_chunks_numpy(x, partial):
    """NumPy twin of ``max_magnitude_key_chunks``."""
    keys = magnitude_keys_numpy(x)
    n = keys.shape[0]
    chunks = partial.shape[0]
    for t in range(chunks):
        partial[t] = keys[t * n // chunks : (t + 1) * n // chunks].max()
