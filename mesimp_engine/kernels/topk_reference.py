"""The top-k contract in NumPy: the reference every top-k kernel's twin delegates to.

    out[r] = the indices of the k largest key(x[r, :]) (``magnitude_key``: |x| with NaN above
             inf), ties to the lower index, listed in ascending index order.

A stable sort by descending key puts equal keys in index order, so its first k entries are
the contract's set; sorting them gives the order.
"""

import numpy as np

from mesimp_engine.kernels.magnitude_key import magnitude_keys_numpy


def topk_rows_numpy(x, k, out):
    """x (rows, n) float32/float64, 0 <= k <= n; writes out (rows, k) int64."""
    keys = magnitude_keys_numpy(x)
    order = np.argsort(-keys, axis=1, kind="stable")[:, :k]
    out[...] = np.sort(order, axis=1)
