"""Weight initialisation from an explicit ``numpy.random.Generator`` (reproducible)."""

import numpy as np


def authors_normal(rng, shape, dtype=np.float32):
    """N(0, s^2), s = sqrt(6 / (fan_in + fan_out)): the meProp authors' C# ``GlorotNormalInit``,
    whose standard deviation is Glorot's *uniform* bound (so about 1.7x Glorot normal's, and about
    3x PyTorch's default for a 784 -> 500 layer). Shape (fan_out, fan_in)."""
    fan_out, fan_in = shape[0], shape[1]
    return rng.normal(0.0, np.sqrt(6.0 / (fan_in + fan_out)), size=shape).astype(dtype)


def lecun_normal(rng, shape, dtype=np.float32):
    """N(0, 1 / fan_in): Chainer's default for ``L.Linear`` weights (``LeCunNormal``), the
    framework of the DropBack authors' code. Shape (fan_out, fan_in)."""
    return rng.normal(0.0, 1.0 / np.sqrt(shape[1]), size=shape).astype(dtype)


def uniform(rng, shape, bound, dtype=np.float32):
    """U(-bound, bound)."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def as_rng(seed_or_rng):
    """A Generator from a seed, or the Generator itself."""
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)
