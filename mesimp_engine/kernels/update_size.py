"""The size of an optimizer step: sum |w - previous| over a parameter, in the pass that
also brings the copy up to date (the meSimp paper's average absolute update, meAct's figure)."""

import numpy as np
from numba import njit


@njit(cache=True)
def abs_change_(w, previous):
    """sum |w - previous| over two C-contiguous 1-D arrays of one dtype, accumulated in
    float64; then previous[:] = w. One read of each and one write of ``previous``."""
    total = 0.0
    for i in range(w.shape[0]):
        total += abs(np.float64(w[i]) - np.float64(previous[i]))
        previous[i] = w[i]
    return total


def abs_change_numpy_(w, previous):
    """NumPy twin of ``abs_change_``."""
    total = float(np.abs(w.astype(np.float64) - previous.astype(np.float64)).sum())
    previous[...] = w
    return total
