"""Magnitude keys: the integer image of |x| that every top-k kernel compares.

For an IEEE float, clearing the sign bit leaves a non-negative integer that orders exactly
like |x|: ``-0.0`` and ``0.0`` both map to 0, ``-inf`` and ``inf`` to the same key, and every
NaN above inf. NaN payloads are collapsed to one key (``inf + 1``), so all NaNs tie and the
lower index wins among them, as among any equal magnitudes::

    key(x) = min(bits(x) & abs_mask, nan_key)
    float32: bits int32, abs_mask 0x7FFFFFFF,          nan_key 0x7F800001
    float64: bits int64, abs_mask 0x7FFFFFFFFFFFFFFF,  nan_key 0x7FF0000000000001

Integer keys make the comparisons exact and cheap (no NaN rules in the inner loops) and
let the vectoriser work on them. ``magnitude_bits`` and ``magnitude_key`` are plain Python
functions (used as such under ``NUMBA_DISABLE_JIT=1``) with Numba overloads, so a kernel
can take the float array itself and view it without creating a Python object.
"""

import numpy as np
from numba import types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload

F32_ABS_MASK = np.int32(0x7FFFFFFF)
F32_NAN_KEY = np.int32(0x7F800001)
F64_ABS_MASK = np.int64(0x7FFFFFFFFFFFFFFF)
F64_NAN_KEY = np.int64(0x7FF0000000000001)

KEY_DTYPES = {np.dtype(np.float32): np.dtype(np.int32), np.dtype(np.float64): np.dtype(np.int64)}


def magnitude_bits(x):
    """The signed-integer view of a float32 (int32) or float64 (int64) array, same shape."""
    return x.view(np.int32 if x.dtype == np.float32 else np.int64)


def magnitude_key(b):
    """key(x) from bits(x), one scalar: int32 for float32 bits, int64 for float64 bits."""
    if b.dtype == np.int32:
        return min(b & F32_ABS_MASK, F32_NAN_KEY)
    return min(b & F64_ABS_MASK, F64_NAN_KEY)


def key_bit_width(keys):
    """Bits a key can use: 31 for int32 keys, 63 for int64 keys."""
    return 31 if keys.dtype == np.int32 else 63


def magnitude_keys_numpy(x):
    """key(x) for a whole float32/float64 array (NumPy); int32/int64, same shape."""
    if x.dtype == np.float32:
        return np.minimum(x.view(np.int32) & F32_ABS_MASK, F32_NAN_KEY)
    return np.minimum(x.view(np.int64) & F64_ABS_MASK, F64_NAN_KEY)


@intrinsic
def _as_c_layout(typingctx, x):
    """x retyped as a C-contiguous array (same data, shape and strides): for an array typed
    with any layout that the caller has found C-contiguous at run time."""
    if not isinstance(x, types.Array):
        return None

    def codegen(context, builder, sig, args):
        return impl_ret_borrowed(context, builder, sig.return_type, args[0])

    return x.copy(layout="C")(x), codegen


@overload(magnitude_bits, jit_options={"cache": True})
def _magnitude_bits_jit(x):
    """Arrays typed with layout "A" must be C-contiguous at run time (the kernels check
    ``x.flags.c_contiguous`` first): the view is then typed "C", so the loops over it are
    compiled for unit strides."""
    bits = np.int32 if x.dtype == types.float32 else np.int64
    if x.layout == "C":
        return lambda x: x.view(bits)
    return lambda x: _as_c_layout(x).view(bits)


@overload(magnitude_key, jit_options={"cache": True})
def _magnitude_key_jit(b):
    if b == types.int32:
        def key32(b):
            v = np.int32(b & F32_ABS_MASK)
            return v if v < F32_NAN_KEY else F32_NAN_KEY

        return key32

    def key64(b):
        v = np.int64(b & F64_ABS_MASK)
        return v if v < F64_NAN_KEY else F64_NAN_KEY

    return key64


@overload(key_bit_width, jit_options={"cache": True})
def _key_bit_width_jit(keys):
    width = 31 if keys.dtype == types.int32 else 63
    return lambda keys: width
