"""Arrays whose data start on a 64-byte boundary (a cache line, one AVX-512 vector).

NumPy's large arrays start 16 bytes past a page boundary on Linux (glibc serves them from
mmap chunks with a 16-byte header), so a row of 2,400 float32 has every 512-bit vector
straddling two cache lines, and the vector kernels pay for two accesses per vector
(``kernels.row_tiles``). The engine allocates its large arrays (parameters, activations,
gradients) with ``aligned_empty``; any array works everywhere, aligned ones run faster.
"""

import numpy as np

ALIGNMENT = 64


def aligned_empty(shape, dtype=np.float32):
    """An uninitialised C-contiguous array whose data start on an ALIGNMENT-byte boundary."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(count * dtype.itemsize + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + count * dtype.itemsize].view(dtype).reshape(shape)


def aligned_zeros(shape, dtype=np.float32):
    """``aligned_empty`` filled with zeros."""
    out = aligned_empty(shape, dtype)
    out[...] = 0
    return out


def is_aligned(a):
    """Whether a's data start on an ALIGNMENT-byte boundary."""
    return a.ctypes.data % ALIGNMENT == 0
