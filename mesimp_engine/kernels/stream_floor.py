"""The memory floor of a linear layer's backward: one read of x and dy, one write of dx.

Whatever a backward does with dW (k rows or all of them), when the layer needs dx it must
read every entry of x (for dW), read dy, and write every entry of dx. At the parser's shape
(10,000 x 2,400 float32, 96 MB each for x and dx) that traffic, not the arithmetic, bounds
the sparse backward; ``bench backprop`` times this kernel as the ``floor`` row, so the best
speed-up any implementation could reach on the machine (dense / floor) is measured in the
same run as the others.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def stream_floor(x, dy, dx):
    """dx[b] = x[b] * s_b with s_b = sum(dy[b]): reads x and dy once, writes dx once, rows
    split over the threads (x, dx (B, n_in); dy (B, n_out); C-contiguous, one dtype)."""
    for b in prange(x.shape[0]):
        s = dy[b, 0] * 0
        for j in range(dy.shape[1]):
            s += dy[b, j]
        xb = x[b]
        dxb = dx[b]
        for i in range(xb.shape[0]):
            dxb[i] = xb[i] * s


def stream_floor_numpy(x, dy, dx):
    """NumPy twin of ``stream_floor``."""
    np.multiply(x, dy.sum(axis=1, keepdims=True), out=dx)
