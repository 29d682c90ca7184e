"""Memory: arrays whose data start on a 64-byte boundary, and large arrays kept in the
process's heap from one training step to the next (``keep_freed_memory``).

NumPy's large arrays start 16 bytes past a page boundary on Linux (glibc serves them from
mmap chunks with a 16-byte header), so a row of 2,400 float32 has every 512-bit vector
straddling two cache lines, and the vector kernels pay for two accesses per vector
(``kernels.row_tiles``). The engine allocates its large arrays (parameters, the outputs of
products, lookups and concatenations, meProp's gradients) with ``empty``; any array works
everywhere, aligned ones run faster.
"""

import ctypes
import math
import os

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


KEEP_FREED_BYTES = 1 << 30
"""``keep_freed_memory``'s mmap threshold: arrays up to this size come from the heap."""

kept_freed_memory = False
"""Whether ``keep_freed_memory`` has changed this process's allocator (``environment()``
records it)."""


def keep_freed_memory():
    """Make glibc serve arrays of up to ``KEEP_FREED_BYTES`` from its heap and keep the memory
    they free for the next ones, instead of mapping each large array from the kernel and
    unmapping it when freed. Returns whether it did (glibc only; nothing is changed when
    the user set glibc's own ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_``).

    Why: every training step makes the same large arrays again (the parser's mini-batch of
    10,000 transitions: a 96 MB input, 20 MB hidden layers). glibc maps each array above 32 MB
    (and smaller ones until its adaptive threshold grows) from the kernel, and unmaps it when
    freed, so the next step's array is fresh memory again: a page fault and a page of zeros
    from the kernel for every 4 KB touched. Kept in the heap, the next step reuses the same
    pages. The command line calls this before any work (``cli.main``); results do not
    change, only where the arrays live. Measured on the 2-core Ice Lake with ``train --task
    parse --epochs 1 --limit-train 300000`` (30 mini-batches of 10,000 transitions), the two
    settings in turns (the other one set through ``MALLOC_MMAP_THRESHOLD_=131072``): meProp
    11.9 s against 17.8 s an epoch in all three pairs (its linear backward 3.0-3.1 s against
    6.2-6.7 s), dense 15.3-18.4 s against 17.4-24.6 s (two pairs); the POS tagger 1.07x
    (600 sentences). The parser's process keeps its peak memory: 946 MB against 862 MB.
    """
    global kept_freed_memory
    if kept_freed_memory or "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return kept_freed_memory
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    kept_freed_memory = bool(mallopt(m_mmap_threshold, KEEP_FREED_BYTES)) and bool(
        mallopt(m_trim_threshold, 2 * KEEP_FREED_BYTES - 1))
    return kept_freed_memory
