"""The backward's memory-floor kernel matches its NumPy twin."""

import numpy as np

from mesimp_engine.kernels.stream_floor import stream_floor, stream_floor_numpy


def test_stream_floor_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 101)).astype(np.float32)
    dy = rng.standard_normal((37, 13)).astype(np.float32)
    ours, ref = np.full_like(x, np.nan), np.full_like(x, np.nan)
    stream_floor(x, dy, ours)
    stream_floor_numpy(x, dy, ref)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
