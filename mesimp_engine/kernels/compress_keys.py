"""Vector passes over magnitude keys, 512 bits at a time, for the top-k filters:

- ``keep_at_least``: compress-store the keys at or above a bound (the candidates pass);
- ``count_at_least``: count them (the bisections' counts);
- ``keep_best_small``: the k best of up to SMALL_CANDIDATES candidates, ranked in registers;
- ``keep_positions`` and ``keep_best_at_positions``: the same two steps for a filter's
  guessed bound, by 16-bit positions (one compress per 32 entries) and keys gathered back.

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

import numpy as np
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


def _vector_key(builder, bits):
    """key(x) of a vector of float bits: the sign cleared, every NaN one key above inf."""
    vector = bits.type
    abs_mask, nan_key = (F32_ABS_MASK, F32_NAN_KEY) if vector.element.width == 32 else (F64_ABS_MASK, F64_NAN_KEY)
    key = builder.and_(bits, ir.Constant(vector, [int(abs_mask)] * vector.count))
    nan = ir.Constant(vector, [int(nan_key)] * vector.count)
    return builder.select(builder.icmp_signed("<", key, nan), key, nan)


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


def _compress_store(builder, values, mask, target, exact=False):
    """Store the lanes of ``values`` where ``mask`` is set, in order, from ``target`` (a
    pointer to the element type) on; returns their number (i64). Each 512-bit part is
    compressed in a register and stored whole, so up to 512 bits past the last kept lane
    are overwritten: the caller leaves that room. With ``exact``, each part is stored with
    a mask of its kept lanes (``llvm.masked.store``), and nothing past them is written."""
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
        kept = _popcount(builder, part_mask, width)
        if exact:
            _prefix_store(builder, _compress(builder, part, part_mask), destination, kept, width)
        else:
            builder.store(_compress(builder, part, part_mask), destination, align=1)
        count = builder.add(count, builder.zext(kept, i64))
    return count


def _prefix_store(builder, values, destination, n, width):
    """Store lanes 0 .. n-1 of ``values`` (n an i<width>) to ``destination`` and nothing else."""
    mask_int = ir.IntType(width)
    prefix = builder.sub(builder.shl(ir.Constant(mask_int, 1), n), ir.Constant(mask_int, 1))
    lanes = builder.bitcast(prefix, ir.VectorType(ir.IntType(1), width))
    store = _intrinsic_function(builder, f"llvm.masked.store.v{width}i{values.type.element.width}.p0",
                                ir.VoidType(), [values.type, destination.type, ir.IntType(32), lanes.type])
    builder.call(store, [values, destination, ir.Constant(ir.IntType(32), 1), lanes])


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
        source = builder.bitcast(builder.gep(data, [start_arg]), vector.as_pointer())
        key = _vector_key(builder, builder.load(source, align=1))
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

SMALL_CANDIDATES = 64
"""Candidates (at most) that ``keep_best_small`` ranks in vector registers."""

RANK_LANES = (32, 64)
"""The register widths (in keys) of ``keep_best_small``'s compiled forms: c <= 32
candidates are ranked in a vector of 32 lanes, more in one of 64."""


def keep_best_small(keys, idx, c, k, out):
    """out[:k] = the idx of the k best candidates of keys[:c] (larger key first, then the
    lower position), in candidate order; 1 <= k <= c <= len(keys), len(idx). Returns the
    k-th largest key (the smallest kept). Fast for c <= SMALL_CANDIDATES (and buffers of at
    least 32 or 64 entries); beyond, a scalar loop of c^2 steps.

    Compiled, by ranks: the c keys are one register-held vector of 32 (or 64) lanes, lanes
    from c on held at -1, below every key. For each candidate p, one vector compare against
    the keys, plus a constant vector (``before[p]``: 1 in the lanes q < p) that makes the
    lower position win a tie, gives the mask of the candidates that beat p, and its popcount
    is p's rank; p is kept when its rank is below k. The kept indices, widened to int64, are
    compressed in registers and stored under a mask of exactly k lanes into ``out``, and the
    k-th largest key is the minimum over the kept lanes. Every candidate's rank is
    independent of the others', so the work runs at the machine's throughput rather than
    through a chain of latencies: 10,000 x 500 float32, k = 20, about 25 candidates a row,
    45-55 ns a call, where dropping the c - k smallest one vector minimum at a time took
    80-85 ns (and the scalar loops of before, about 105 ns).
    """
    best = sorted(range(c), key=lambda p: (-int(keys[p]), p))[:k]
    for o, p in enumerate(sorted(best)):
        out[o] = idx[p]
    return int(keys[best[-1]])


def _rank_and_keep(context, builder, held, indices, c64, k64, out_pointer):
    """The core of ``keep_best_small``: ``held`` the candidates' keys (a vector of L lanes,
    -1 from lane c on), ``indices`` their indices (L x i64); stores the k kept indices to
    ``out_pointer`` and returns the k-th largest key (i64)."""
    vector = held.type
    lanes_n, element_bits = vector.count, vector.element.width
    i64 = ir.IntType(64)
    mask_int = ir.IntType(lanes_n)
    # the keys also in memory, for one scalar load (and broadcast) per candidate
    held_slot = cgutils.alloca_once(builder, vector)
    builder.store(held, held_slot)
    keys_data = builder.bitcast(held_slot, vector.element.as_pointer())
    # before[p], lane q: 1 for q < p. Candidate q beats p when key_q > key_p, or
    # key_q == key_p and q < p: when key_q + before[p][q] > key_p.
    table = ir.Constant(ir.ArrayType(vector, lanes_n),
                        [ir.Constant(vector, [int(q < p) for q in range(lanes_n)]) for p in range(lanes_n)])
    before = cgutils.global_constant(builder, f"_keep_best_before_{lanes_n}x{element_bits}", table)
    kept_slot = cgutils.alloca_once_value(builder, ir.Constant(mask_int, 0))
    k_rank = builder.trunc(k64, mask_int) if lanes_n < 64 else k64
    with cgutils.for_range(builder, c64) as loop:
        p = loop.index
        adjusted = builder.add(held, builder.load(builder.gep(before, [ir.Constant(i64, 0), p])))
        beaten_by = builder.icmp_signed(">", adjusted, _splat(builder, builder.load(builder.gep(keys_data, [p])), vector))
        kept_p = builder.icmp_signed("<", _popcount(builder, beaten_by, lanes_n), k_rank)
        position = builder.trunc(p, mask_int) if lanes_n < 64 else p
        bit = builder.shl(builder.zext(kept_p, mask_int), position)
        builder.store(builder.or_(builder.load(kept_slot), bit), kept_slot)
    kept = builder.bitcast(builder.load(kept_slot), ir.VectorType(ir.IntType(1), lanes_n))
    _compress_store(builder, indices, kept, out_pointer, exact=True)
    largest = ir.Constant(vector, [(1 << (element_bits - 1)) - 1] * lanes_n)
    minimum = _intrinsic_function(builder, f"llvm.vector.reduce.smin.v{lanes_n}i{element_bits}", vector.element, [vector])
    kth = builder.call(minimum, [builder.select(kept, held, largest)])
    return builder.sext(kth, i64) if element_bits < 64 else kth


def _valid_lanes(builder, c64, lanes_n):
    """The i1 vector lane < c (c <= lanes_n)."""
    lanes = ir.VectorType(ir.IntType(64), lanes_n)
    return builder.icmp_signed("<", ir.Constant(lanes, list(range(lanes_n))), _splat(builder, c64, lanes))


def _stored_candidates(context, builder, sig, args, lanes_n, valid):
    """(held, indices) of ``keep_best_small``: keys and indices as stored in two buffers."""
    keys_type, idx_type = sig.args[0], sig.args[1]
    vector = ir.VectorType(ir.IntType(keys_type.dtype.bitwidth), lanes_n)
    keys_data = context.make_array(keys_type)(context, builder, args[0]).data
    idx_data = context.make_array(idx_type)(context, builder, args[1]).data
    loaded = builder.load(builder.bitcast(keys_data, vector.as_pointer()), align=1)
    held = builder.select(valid, loaded, ir.Constant(vector, [-1] * lanes_n))
    indices = builder.load(builder.bitcast(idx_data, vector.as_pointer()), align=1)
    if vector.element.width < 64:
        indices = builder.sext(indices, ir.VectorType(ir.IntType(64), lanes_n))
    return held, indices


def _gathered_candidates(context, builder, sig, args, lanes_n, valid):
    """(held, indices) of ``keep_best_at_positions``: the 16-bit positions in keys' memory,
    the keys gathered from the row b at them (masked: lanes from c on hold stale
    positions, never read)."""
    b_type = sig.args[0]
    element_bits = b_type.dtype.bitwidth
    i64 = ir.IntType(64)
    vector = ir.VectorType(ir.IntType(element_bits), lanes_n)
    wide = ir.VectorType(i64, lanes_n)
    chunk = ir.VectorType(ir.IntType(16), lanes_n)
    pointer = _position_pointer(context, builder, sig.args[1], args[1])
    positions = builder.zext(builder.load(builder.bitcast(pointer, chunk.as_pointer()), align=1), wide)
    data = context.make_array(b_type)(context, builder, args[0]).data
    address = builder.add(_splat(builder, builder.ptrtoint(data, i64), wide),
                          builder.mul(positions, ir.Constant(wide, [element_bits // 8] * lanes_n)))
    pointers = builder.inttoptr(address, ir.VectorType(data.type, lanes_n))
    gather = _intrinsic_function(builder, f"llvm.masked.gather.v{lanes_n}i{element_bits}.v{lanes_n}p0", vector,
                                 [pointers.type, ir.IntType(32), valid.type, vector])
    bits = builder.call(gather, [pointers, ir.Constant(ir.IntType(32), element_bits // 8), valid,
                                 ir.Constant(vector, [0] * lanes_n)])
    held = builder.select(valid, _vector_key(builder, bits), ir.Constant(vector, [-1] * lanes_n))
    return held, positions


def _keep_best_intrinsic(lanes_n, candidates):
    """A compiled keep-best over vectors of ``lanes_n`` candidates (c <= lanes_n), their
    keys and indices given by ``candidates`` (``_stored_candidates`` or
    ``_gathered_candidates``); arguments (first, second, c, k, out) as the Python function's."""

    @intrinsic
    def keep_best(typingctx, first, second, c, k, out):
        signature = types.int64(first, second, c, k, out)

        def codegen(context, builder, sig, args):
            c64 = context.cast(builder, args[2], sig.args[2], types.int64)
            k64 = context.cast(builder, args[3], sig.args[3], types.int64)
            held, indices = candidates(context, builder, sig, args, lanes_n, _valid_lanes(builder, c64, lanes_n))
            out_data = context.make_array(sig.args[4])(context, builder, args[4]).data
            return _rank_and_keep(context, builder, held, indices, c64, k64, out_data)

        return signature, codegen

    return keep_best


_keep_best_32, _keep_best_64 = (_keep_best_intrinsic(lanes, _stored_candidates) for lanes in RANK_LANES)
_gathered_32, _gathered_64 = (_keep_best_intrinsic(lanes, _gathered_candidates) for lanes in RANK_LANES)





@njit(cache=True, inline="always")
def _keep_best_scalar(keys, idx, c, k, out):
    """``keep_best_small`` by the same ranks, one pair at a time: for buffers shorter than
    the vector (the vector forms load a whole one)."""
    kth = keys[0]
    o = 0
    for p in range(c):
        rank = 0
        for q in range(c):
            rank += keys[q] > keys[p] or (keys[q] == keys[p] and q < p)
        if rank < k:
            out[o] = idx[p]
            o += 1
            kth = keys[p] if o == 1 or keys[p] < kth else kth
    return kth


@overload(keep_best_small, jit_options={"cache": True})
def _keep_best_small_jit(keys, idx, c, k, out):
    def impl(keys, idx, c, k, out):
        room = min(keys.shape[0], idx.shape[0])
        if c <= 32 and room >= 32:
            return _keep_best_32(keys, idx, c, k, out)
        if c <= 64 and room >= 64:
            return _keep_best_64(keys, idx, c, k, out)
        return np.int64(_keep_best_scalar(keys, idx, c, k, out))

    return impl


# ---------------------------------------------------------------------------------------------
# the guessed path of a filter: 16-bit positions, keys gathered again for the few kept

POSITION_CHUNK = 32
"""Entries whose kept positions one 16-bit compress writes (``keep_positions``)."""

POSITION_LIMIT = 1 << 16
"""Rows longer than this have positions that do not fit 16 bits."""

POSITION_MIN = 64
"""Rows shorter than this are not filtered by positions (the vector forms read 64 of them)."""


def keep_positions(b, n, bound, keys):
    """The positions i < n, in order, with key(b[i]) >= bound, written into ``keys`` (which
    serves as their buffer); returns their number. POSITION_MIN <= n <= POSITION_LIMIT and
    len(keys) >= n. Compiled, they are 16-bit integers packed from the start of keys' memory,
    POSITION_CHUNK entries a compress (one 512-bit load per 16 or 8 entries, one compress
    and one store per 32: a quarter of the compresses and stores of ``keep_at_least``,
    which writes each kept key and its index); ``keep_best_at_positions`` reads them."""
    c = 0
    for i in range(n):
        keys[c] = i
        c += magnitude_key(b[i]) >= bound
    return c


def _position_pointer(context, builder, array_type, array):
    """keys' memory as 16-bit integers."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(data, ir.IntType(16).as_pointer())


def _positions_chunk_intrinsic(tail):
    """The compiled chunk of ``keep_positions``: positions start .. start + POSITION_CHUNK - 1
    whose key is >= bound, compressed into the 16-bit positions of keys from the c-th (one
    whole store); returns c + their number. With ``tail``, only the first ``remaining``
    (< POSITION_CHUNK) entries exist: masked loads, and the lanes past them never kept."""

    @intrinsic
    def keep_positions_chunk(typingctx, b, start, bound, keys, c, remaining):
        element_bits = b.dtype.bitwidth
        width = VECTOR_BITS // element_bits
        signature = types.int64(b, start, bound, keys, c, remaining)

        def codegen(context, builder, sig, args):
            b_arg, start_arg, bound_arg, keys_arg, c_arg, remaining_arg = args
            vector = ir.VectorType(ir.IntType(element_bits), width)
            data = context.make_array(sig.args[0])(context, builder, b_arg).data
            lane_ids = ir.VectorType(ir.IntType(64), width)
            masks = []
            for part in range(POSITION_CHUNK // width):
                first = builder.add(start_arg, ir.Constant(start_arg.type, part * width))
                source = builder.bitcast(builder.gep(data, [first]), vector.as_pointer())
                if tail:
                    present = builder.icmp_signed("<", ir.Constant(lane_ids, list(range(part * width, (part + 1) * width))),
                                                  _splat(builder, remaining_arg, lane_ids))
                    load = _intrinsic_function(builder, f"llvm.masked.load.v{width}i{element_bits}.p0", vector,
                                               [source.type, ir.IntType(32), present.type, vector])
                    bits = builder.call(load, [source, ir.Constant(ir.IntType(32), 1), present, ir.Constant(vector, [0] * width)])
                    kept = builder.and_(present, _at_least(context, builder, _vector_key(builder, bits), bound_arg, sig.args[2], vector))
                else:
                    bits = builder.load(source, align=1)
                    kept = _at_least(context, builder, _vector_key(builder, bits), bound_arg, sig.args[2], vector)
                masks.append(kept)
            while len(masks) > 1:  # the parts' masks, concatenated pairwise
                both = list(range(2 * masks[0].type.count))
                masks = [builder.shuffle_vector(masks[j], masks[j + 1], ir.Constant(ir.VectorType(ir.IntType(32), len(both)), both))
                         for j in range(0, len(masks), 2)]
            chunk = ir.VectorType(ir.IntType(16), POSITION_CHUNK)
            positions = builder.add(_splat(builder, builder.trunc(start_arg, ir.IntType(16)), chunk),
                                    ir.Constant(chunk, list(range(POSITION_CHUNK))))
            target = builder.gep(_position_pointer(context, builder, sig.args[3], keys_arg), [c_arg])
            builder.store(_compress(builder, positions, masks[0]), builder.bitcast(target, chunk.as_pointer()), align=1)
            return builder.add(c_arg, builder.zext(_popcount(builder, masks[0], POSITION_CHUNK), ir.IntType(64)))

        return signature, codegen

    return keep_positions_chunk


_positions_chunk, _positions_tail = _positions_chunk_intrinsic(False), _positions_chunk_intrinsic(True)


@overload(keep_positions, jit_options={"cache": True})
def _keep_positions_jit(b, n, bound, keys):
    def impl(b, n, bound, keys):
        c = 0
        i = 0
        while i + POSITION_CHUNK <= n:
            c = _positions_chunk(b, i, bound, keys, c, POSITION_CHUNK)
            i += POSITION_CHUNK
        if i < n:
            c = _positions_tail(b, i, bound, keys, c, n - i)
        return c

    return impl


def keep_best_at_positions(b, keys, c, k, out):
    """``keep_best_small`` for the c positions of ``keep_positions`` (k <= c <=
    SMALL_CANDIDATES): out[:k] = the k of them with the largest key(b[i]) (ties to the lower
    position), ascending; returns the k-th largest key. Compiled, the candidates' keys are
    gathered from b (one gather per 512 bits) and ranked as in ``keep_best_small``."""
    ranked = sorted(range(c), key=lambda p: (-int(magnitude_key(b[keys[p]])), p))[:k]
    for o, p in enumerate(sorted(ranked)):
        out[o] = keys[p]
    return int(magnitude_key(b[keys[ranked[-1]]]))


@overload(keep_best_at_positions, jit_options={"cache": True})
def _keep_best_at_positions_jit(b, keys, c, k, out):
    def impl(b, keys, c, k, out):
        if c <= 32:
            return _gathered_32(b, keys, c, k, out)
        return _gathered_64(b, keys, c, k, out)

    return impl
