"""Vector passes over magnitude keys, 512 bits at a time, for the top-k filters:

- ``keep_at_least``: compress-store the keys at or above a bound (the candidates pass);
- ``count_at_least``: count them (the bisections' counts);
- ``keep_best_small``: the k best of up to SMALL_CANDIDATES candidates, in registers.

Each is a plain Python function (the twin the tests compare against, and what runs under
``NUMBA_DISABLE_JIT=1``) with a Numba overload built on an ``@intrinsic`` in LLVM vector IR.

``keep_at_least(b, start, stop, bound, keys, idx, c)``: for every i in start..stop-1, in
index order, with key(b[i]) >= bound: keys[c] = key(b[i]), idx[c] = i, c += 1; returns the
final c. ``b`` holds the bits of the floats (``magnitude_bits``); keys and idx are in the
key dtype (int32 for float32, int64 for float64) with room for c + stop - start entries
(the scalar tail stores before it knows whether the entry is kept).

Whole blocks of W = 512 / bits entries (16 float32, 8 float64) are one load, one vector
compare, two compresses in registers (LLVM's ``llvm.experimental.vector.compress``: one
``vpcompressd``/``vpcompressq`` each with AVX-512; targets without it get LLVM's generic
lowering, same results, slower) and two whole-vector stores at the count (lanes past the
kept ones are overwritten later). LLVM's ``llvm.masked.compressstore`` did it in one
instruction per array, but its memory form is microcoded on AMD Zen 4: 10,000 x 500,
k = 20, one thread, 16.4 ms with it, 2.2 ms with the register form (measured, EPYC,
znver4). A scalar loop, branch-free, does the tail. A compiler does not vectorise "append when the test holds" loops by itself; on 500-entry rows with about
22 entries kept, the compress-store pass takes 75 ns where the scalar loop took 470 ns
(measured, 3 GHz Xeon, one core).

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


def _at_least(context, builder, values, bound_arg, bound_type, vector):
    """The i1 vector values >= bound (bound a scalar argument, cast to the element type)."""
    bound = context.cast(builder, bound_arg, bound_type, types.int64)
    bound = builder.trunc(bound, vector.element) if vector.element.width < 64 else bound
    return builder.icmp_signed(">=", values, _splat(builder, bound, vector))


def _intrinsic_function(builder, name, result, arguments):
    """The LLVM intrinsic ``name`` declared in the module being built."""
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(result, arguments), name)


def _compress(builder, values, mask):
    """The lanes of ``values`` (one 512-bit vector) where ``mask`` is set, moved to the front,
    the rest undefined: ``llvm.experimental.vector.compress`` (the module docstring says why
    not ``llvm.masked.compressstore``). LLVM 22 crashes on wider vectors: see
    ``_compress_store``."""
    vector = values.type
    lanes = ir.VectorType(ir.IntType(1), vector.count)
    name = f"llvm.experimental.vector.compress.v{vector.count}i{vector.element.width}"
    compress = _intrinsic_function(builder, name, vector, [vector, lanes, vector])
    return builder.call(compress, [values, mask, ir.Constant(vector, ir.Undefined)])


def _compress_store(builder, values, mask, target):
    """Store the lanes of ``values`` where ``mask`` is set, in order, from ``target`` (a
    pointer to the element type) on; returns their number (i64). Each 512-bit part is
    compressed in a register and stored whole, so up to 512 bits past the last kept lane
    are overwritten: the caller leaves that room."""
    vector = values.type
    width = VECTOR_BITS // vector.element.width
    part_type = ir.VectorType(vector.element, width)
    i64 = ir.IntType(64)
    count = ir.Constant(i64, 0)
    for first in range(0, vector.count, width):
        # lanes first .. first + width - 1 (the identity for a 512-bit vector, folded away)
        lanes = ir.Constant(ir.VectorType(ir.IntType(32), width), list(range(first, first + width)))
        part = builder.shuffle_vector(values, ir.Constant(vector, ir.Undefined), lanes)
        part_mask = builder.shuffle_vector(mask, ir.Constant(mask.type, ir.Undefined), lanes)
        destination = builder.bitcast(builder.gep(target, [count]), part_type.as_pointer())
        builder.store(_compress(builder, part, part_mask), destination, align=1)
        count = builder.add(count, builder.zext(_popcount(builder, part_mask, width), i64))
    return count


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
        data = context.make_array(sig.args[0])(context, builder, b_arg).data
        keys_data = context.make_array(sig.args[3])(context, builder, keys_arg).data
        idx_data = context.make_array(sig.args[4])(context, builder, idx_arg).data
        abs_mask, nan_key = (F32_ABS_MASK, F32_NAN_KEY) if element_bits == 32 else (F64_ABS_MASK, F64_NAN_KEY)

        source = builder.bitcast(builder.gep(data, [start_arg]), vector.as_pointer())
        key = builder.and_(builder.load(source, align=1), ir.Constant(vector, [int(abs_mask)] * width))
        nan = ir.Constant(vector, [int(nan_key)] * width)
        key = builder.select(builder.icmp_signed("<", key, nan), key, nan)
        kept = _at_least(context, builder, key, bound_arg, sig.args[2], vector)

        first = builder.trunc(start_arg, element) if element_bits < 64 else start_arg
        index = builder.add(_splat(builder, first, vector), ir.Constant(vector, list(range(width))))
        # whole-vector stores: the lanes past the kept ones are overwritten by the next
        # block or the scalar tail, or never read
        _compress_store(builder, key, kept, builder.gep(keys_data, [c_arg]))
        return builder.add(c_arg, _compress_store(builder, index, kept, builder.gep(idx_data, [c_arg])))

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


# ---------------------------------------------------------------------------------------------
# counting keys at or above a bound


@njit(cache=True, inline="always")
def _count_scalar(keys, start, stop, bound):
    c = 0
    for i in range(start, stop):
        c += keys[i] >= bound
    return c


def count_at_least(keys, start, stop, bound):
    """The number of i in start..stop-1 with keys[i] >= bound (keys int32 or int64).

    Compiled, whole blocks of W keys are one load, one vector compare and a popcount of its
    mask, with the count kept as a scalar. Left to itself, Numba widens the int32 keys to
    int64 to add the comparisons into its int64 count: 32 compares of 4 keys per 128 keys
    in place of 8 of 16 (the bisection for the filter's bound, 8 counts of 128 lane maxima
    per row, is a chain of such counts)."""
    return _count_scalar(keys, start, stop, bound)


@intrinsic
def _count_block(typingctx, keys, start, bound):
    """The number of keys[start : start + W] >= bound (start + W <= len(keys))."""
    element_bits = keys.dtype.bitwidth
    width = VECTOR_BITS // element_bits
    signature = types.int64(keys, start, bound)

    def codegen(context, builder, sig, args):
        keys_arg, start_arg, bound_arg = args
        element = ir.IntType(element_bits)
        vector = ir.VectorType(element, width)
        data = context.make_array(sig.args[0])(context, builder, keys_arg).data
        source = builder.bitcast(builder.gep(data, [start_arg]), vector.as_pointer())
        kept = _at_least(context, builder, builder.load(source, align=1), bound_arg, sig.args[2], vector)
        return builder.zext(_popcount(builder, kept, width), ir.IntType(64))

    return signature, codegen


def _popcount(builder, mask, width):
    """The number of set lanes of an i1 vector, as an i<width>."""
    mask_int = ir.IntType(width)
    popcount = _intrinsic_function(builder, f"llvm.ctpop.i{width}", mask_int, [mask_int])
    return builder.call(popcount, [builder.bitcast(mask, mask_int)])


@overload(count_at_least, jit_options={"cache": True})
def _count_at_least_jit(keys, start, stop, bound):
    width = VECTOR_BITS // keys.dtype.bitwidth

    def impl(keys, start, stop, bound):
        c = 0
        i = start
        while i + width <= stop:
            c += _count_block(keys, i, bound)
            i += width
        return c + _count_scalar(keys, i, stop, bound)

    return impl


# ---------------------------------------------------------------------------------------------
# the k best of a few candidates

SMALL_CANDIDATES = 32
"""Candidates (at most) that ``keep_best_small`` holds in vector registers."""

REFINE_ABOVE = 7
"""Surplus above which ``keep_best_small`` first narrows the candidates by bisection."""

REFINE_STEPS = 3
"""Bisection steps on the candidates' key range (each a vector compare and a popcount)."""


def keep_best_small(keys, idx, c, k, out):
    """out[:k] = the idx of the k best candidates of keys[:c] (larger key first, then the
    lower position), in candidate order; k <= c <= SMALL_CANDIDATES <= len(keys), len(idx).
    Returns the k-th largest key (the smallest kept).

    Compiled, the c keys are one register-held vector of SMALL_CANDIDATES lanes (lanes from c
    on held at the largest integer, above every key). Each of the c - k surplus candidates is
    dropped by a vector minimum, a compare and a count of leading zeros of its mask (the
    last equal lane goes first: ties go to the lower index), and set to the largest integer;
    the kept indices, widened to int64, are compressed (``_compress_store``) and k copied
    out. With more than REFINE_ABOVE surplus candidates, REFINE_STEPS bisection steps on their key range come
    first (a compare and a popcount each; drop every key below the largest bound that
    keeps k): one drop costs 8-13 ns, the three steps about 40 ns. The loops in scalar code
    (a minimum, a backward scan and a compaction per row) took about 105 ns per 500-entry
    row with k = 20 and 22 candidates."""
    best = sorted(range(c), key=lambda p: (-int(keys[p]), p))[:k]
    for o, p in enumerate(sorted(best)):
        out[o] = idx[p]
    return int(keys[best[-1]])


@intrinsic
def _keep_best_vector(typingctx, keys, idx, c, k, out):
    element_bits = keys.dtype.bitwidth
    lanes_n = SMALL_CANDIDATES
    signature = types.int64(keys, idx, c, k, out)

    def codegen(context, builder, sig, args):
        keys_arg, idx_arg, c_arg, k_arg, out_arg = args
        element = ir.IntType(element_bits)
        vector = ir.VectorType(element, lanes_n)
        lane_type = ir.VectorType(ir.IntType(32), lanes_n)
        mask_int = ir.IntType(lanes_n)
        largest = ir.Constant(vector, [(1 << (element_bits - 1)) - 1] * lanes_n)
        lane_ids = ir.Constant(lane_type, list(range(lanes_n)))

        def data(position, arg):
            return context.make_array(sig.args[position])(context, builder, arg).data

        count = builder.trunc(context.cast(builder, c_arg, sig.args[2], types.int64), ir.IntType(32))
        valid = builder.icmp_signed("<", lane_ids, _splat(builder, count, lane_type))
        loaded = builder.load(builder.bitcast(data(0, keys_arg), vector.as_pointer()), align=1)
        state = cgutils.alloca_once(builder, vector)
        builder.store(builder.select(valid, loaded, largest), state)

        minimum = _intrinsic_function(builder, f"llvm.vector.reduce.smin.v{lanes_n}i{element_bits}", element, [vector])
        maximum = _intrinsic_function(builder, f"llvm.vector.reduce.smax.v{lanes_n}i{element_bits}", element, [vector])
        leading = _intrinsic_function(builder, f"llvm.ctlz.i{lanes_n}", mask_int, [mask_int, ir.IntType(1)])
        c64 = context.cast(builder, c_arg, sig.args[2], types.int64)
        k64 = context.cast(builder, k_arg, sig.args[3], types.int64)
        i64 = ir.IntType(64)

        def present(current):
            """The lanes still held (unused and dropped lanes hold ``largest``)."""
            return builder.icmp_signed("!=", current, largest)

        def held(lanes):
            return builder.zext(_popcount(builder, lanes, lanes_n), i64)

        many = builder.icmp_signed(">", builder.sub(c64, k64), ir.Constant(i64, REFINE_ABOVE))
        with builder.if_then(many, likely=False):
            # bisection on the key range: drop every key below the largest t that keeps k
            current = builder.load(state)
            lo = builder.call(minimum, [current])
            hi = builder.call(maximum, [builder.select(present(current), current, ir.Constant(vector, [-1] * lanes_n))])
            one = ir.Constant(element, 1)
            for _ in range(REFINE_STEPS):
                mid = builder.add(lo, builder.ashr(builder.add(builder.sub(hi, lo), one), one))
                at_least = builder.and_(builder.icmp_signed(">=", current, _splat(builder, mid, vector)), present(current))
                enough = builder.icmp_signed(">=", held(at_least), k64)
                current = builder.select(enough, builder.select(at_least, current, largest), current)
                lo = builder.select(enough, mid, lo)
                hi = builder.select(enough, hi, builder.sub(mid, one))
            builder.store(current, state)

        with cgutils.for_range(builder, builder.sub(held(present(builder.load(state))), k64)):
            current = builder.load(state)
            lowest = builder.call(minimum, [current])
            equal = builder.bitcast(builder.icmp_signed("==", current, _splat(builder, lowest, vector)), mask_int)
            zeros = builder.call(leading, [equal, ir.Constant(ir.IntType(1), 0)])
            last = builder.sub(ir.Constant(mask_int, lanes_n - 1), zeros)
            last = builder.trunc(last, ir.IntType(32)) if lanes_n > 32 else builder.zext(last, ir.IntType(32)) if lanes_n < 32 else last
            drop = builder.icmp_signed("==", lane_ids, _splat(builder, last, lane_type))
            builder.store(builder.select(drop, largest, current), state)

        final = builder.load(state)
        kept = present(final)
        wide = ir.VectorType(ir.IntType(64), lanes_n)
        indices = builder.load(builder.bitcast(data(1, idx_arg), vector.as_pointer()), align=1)
        indices = builder.sext(indices, wide) if element_bits < 64 else indices
        # compressed into a stack buffer with a vector's room to spare, then k copied to out
        packed = cgutils.alloca_once(builder, ir.ArrayType(ir.IntType(64), lanes_n + VECTOR_BITS // 64))
        start = builder.bitcast(packed, ir.IntType(64).as_pointer())
        _compress_store(builder, indices, kept, start)
        cgutils.raw_memcpy(builder, data(4, out_arg), start, k64, 8)
        kth = builder.call(minimum, [final])
        return builder.sext(kth, ir.IntType(64)) if element_bits < 64 else kth

    return signature, codegen


@overload(keep_best_small, jit_options={"cache": True})
def _keep_best_small_jit(keys, idx, c, k, out):
    def impl(keys, idx, c, k, out):
        return _keep_best_vector(keys, idx, c, k, out)

    return impl
