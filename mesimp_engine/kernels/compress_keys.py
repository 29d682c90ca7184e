"""Compress-store of the magnitude keys at or above a bound: the candidates pass of the
top-k filters, 512 bits at a time.

``keep_at_least(b, start, stop, bound, keys, idx, c)``: for every i in start..stop-1, in
index order, with key(b[i]) >= bound: keys[c] = key(b[i]), idx[c] = i, c += 1; returns the
final c. ``b`` holds the bits of the floats (``magnitude_bits``); keys and idx are in the
key dtype (int32 for float32, int64 for float64) with room for c + stop - start entries
(the scalar tail stores before it knows whether the entry is kept).

Whole blocks of W = 512 / bits entries (16 float32, 8 float64) are one load, one vector
compare and two masked compress-stores (LLVM's ``llvm.masked.compressstore``: one
``vpcompressd``/``vpcompressq`` each with AVX-512; targets without it get LLVM's scalarised
lowering, same results, slower). A scalar loop, branch-free, does the tail. A compiler does
not vectorise "append when the test holds" loops by itself; on 500-entry rows with about
22 entries kept, the compress-store pass takes 75 ns where the scalar loop took 470 ns
(measured, 3 GHz Xeon, one core).

``keep_at_least`` is a plain Python function (the scalar loop; used as such under
``NUMBA_DISABLE_JIT=1``, and the twin the tests compare against) with a Numba overload.
Without the JIT, ``magnitude_key`` of a NumPy integer scalar gives the same keys.
"""

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from mesimp_engine.kernels.magnitude_key import F32_ABS_MASK, F32_NAN_KEY, F64_ABS_MASK, F64_NAN_KEY, magnitude_key

VECTOR_BITS = 512


@njit(cache=True, inline="always")
def _keep_scalar(b, start, stop, bound, keys, idx, c):
    """``keep_at_least`` one entry at a time, branch-free (an unconditional store, then
    the count moves on only if the entry is kept)."""
    for i in range(start, stop):
        v = magnitude_key(b[i])
        keys[c] = v
        idx[c] = i
        c += v >= bound
    return c


def keep_at_least(b, start, stop, bound, keys, idx, c):
    """See the module docstring. Called from Python (and under ``NUMBA_DISABLE_JIT``) it is
    the scalar loop; compiled code gets the overload below."""
    return _keep_scalar(b, start, stop, bound, keys, idx, c)


def _splat(builder, value, vector_type):
    """A vector of vector_type with every element ``value``."""
    undef = ir.Constant(vector_type, ir.Undefined)
    first = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vector_type.count), [0] * vector_type.count)
    return builder.shuffle_vector(first, undef, zeros)


@intrinsic
def _keep_block(typingctx, b, start, bound, keys, idx, c):
    """One block of W entries from ``start`` (start + W <= len(b)): the compress-stores,
    returning c + the number kept."""
    element_bits = b.dtype.bitwidth
    width = VECTOR_BITS // element_bits
    signature = types.int64(b, start, bound, keys, idx, c)

    def codegen(context, builder, sig, args):
        b_arg, start_arg, bound_arg, keys_arg, idx_arg, c_arg = args
        element = ir.IntType(element_bits)
        vector = ir.VectorType(element, width)
        lanes = ir.VectorType(ir.IntType(1), width)
        data = context.make_array(sig.args[0])(context, builder, b_arg).data
        keys_data = context.make_array(sig.args[3])(context, builder, keys_arg).data
        idx_data = context.make_array(sig.args[4])(context, builder, idx_arg).data
        abs_mask, nan_key = (F32_ABS_MASK, F32_NAN_KEY) if element_bits == 32 else (F64_ABS_MASK, F64_NAN_KEY)

        source = builder.bitcast(builder.gep(data, [start_arg]), vector.as_pointer())
        key = builder.and_(builder.load(source, align=1), ir.Constant(vector, [int(abs_mask)] * width))
        nan = ir.Constant(vector, [int(nan_key)] * width)
        key = builder.select(builder.icmp_signed("<", key, nan), key, nan)
        bound_value = context.cast(builder, bound_arg, sig.args[2], types.int64)
        bound_value = builder.trunc(bound_value, element) if element_bits < 64 else bound_value
        kept = builder.icmp_signed(">=", key, _splat(builder, bound_value, vector))

        store = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [vector, vector.as_pointer(), lanes]),
            f"llvm.masked.compressstore.v{width}i{element_bits}",
        )
        first = builder.trunc(start_arg, element) if element_bits < 64 else start_arg
        index = builder.add(_splat(builder, first, vector), ir.Constant(vector, list(range(width))))
        builder.call(store, [key, builder.bitcast(builder.gep(keys_data, [c_arg]), vector.as_pointer()), kept])
        builder.call(store, [index, builder.bitcast(builder.gep(idx_data, [c_arg]), vector.as_pointer()), kept])

        mask_int = ir.IntType(width)
        popcount = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(mask_int, [mask_int]), f"llvm.ctpop.i{width}"
        )
        count = builder.call(popcount, [builder.bitcast(kept, mask_int)])
        return builder.add(c_arg, builder.zext(count, ir.IntType(64)))

    return signature, codegen


@overload(keep_at_least, jit_options={"cache": True})
def _keep_at_least_jit(b, start, stop, bound, keys, idx, c):
    width = VECTOR_BITS // b.dtype.bitwidth

    def impl(b, start, stop, bound, keys, idx, c):
        i = start
        while i + width <= stop:
            c = _keep_block(b, i, bound, keys, idx, c)
            i += width
        return _keep_scalar(b, i, stop, bound, keys, idx, c)

    return impl
