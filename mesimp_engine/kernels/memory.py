"""Arrays whose data start on a 64-byte boundary (a cache line, one AVX-512 vector).

NumPy's large arrays start 16 bytes past a page boundary on Linux (glibc serves them from
mmap chunks with a 16-byte header), so a row of 2,400 float32 has every 512-bit vector
straddling two cache lines, and the vector kernels pay for two accesses per vector
(``kernels.row_tiles``). The engine allocates its large arrays (parameters, the outputs of
products, lookups and concatenations, meProp's gradients) with ``empty``; any array works
everywhere, aligned ones run faster.
"""

import math

import numpy as np

ALIGNMENT = 64

ALIGN_FROM_BYTES = 1 << 16
"""Size from which ``empty`` aligns: below it an array is cache-resident anyway and the
alignment (a few microseconds of Python) would cost more than it saves."""


def _count(shape):
    """Entries of an array of ``shape`` (a tuple, or an int): ``math.prod`` for a tuple, as
    ``np.prod`` takes 1-2 us to make an array of it (``empty`` runs for every product)."""
    return math.prod(shape) if isinstance(shape, tuple) else int(np.prod(shape, dtype=np.int64))


def aligned_empty(shape, dtype=np.float32):
    """An uninitialised C-contiguous array whose data start on an ALIGNMENT-byte boundary."""
    dtype = np.dtype(dtype)
    count = _count(shape)
    raw = np.empty(count * dtype.itemsize + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + count * dtype.itemsize].view(dtype).reshape(shape)


def is_aligned(a):
    """Whether a's data start on an ALIGNMENT-byte boundary."""
    return a.ctypes.data % ALIGNMENT == 0


def empty(shape, dtype=np.float32):
    """The engine's allocation: ``aligned_empty`` from ALIGN_FROM_BYTES, else ``np.empty``."""
    dtype = np.dtype(dtype)
    if _count(shape) * dtype.itemsize >= ALIGN_FROM_BYTES:
        return aligned_empty(shape, dtype)
    return np.empty(shape, dtype)


def as_aligned(a):
    """a as a C-contiguous array, copied to an ``empty`` one when it is large and not aligned."""
    a = np.ascontiguousarray(a)
    if a.nbytes >= ALIGN_FROM_BYTES and not is_aligned(a):
        out = aligned_empty(a.shape, a.dtype)
        out[...] = a
        return out
    return a


def zeros_like(a):
    """Zeros of a's shape and dtype, allocated by ``empty``."""
    out = empty(a.shape, a.dtype)
    out[...] = 0
    return out
