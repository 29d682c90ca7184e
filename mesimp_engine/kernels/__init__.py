"""Numba kernels: arrays in, arrays out (caller-allocated: ``memory.empty`` gives the
64-byte aligned arrays they run fastest on), no engine imports.

Every kernel ``name`` has a NumPy twin ``name_numpy`` with the same signature; the tests
use the twin as the reference, and the suite also passes with ``NUMBA_DISABLE_JIT=1``.
"""
