"""Weighted sums of gathered rows, one register tile of columns at a time: the inner loop
of meProp's per-example backward.

``row_tile_sum(out, o, src, rows, scales, p0, p1, col, accumulate, stream)``:

    out[o : o + TILE] = (out[o : o + TILE] if accumulate else 0)
                        + sum_{p0 <= p < p1} scales[p] * src[rows[p], col : col + TILE]

with TILE = TILE_BYTES / itemsize columns (256 float32, 128 float64); ``row_vector_sum`` is
the same for VECTOR_BYTES (one 512-bit vector: 16 float32, 8 float64). out is 1-D (a
flattened output), src 2-D C-contiguous, rows int64 and scales of src's dtype 1-D.

Compiled, the tile is TILE_VECTORS 512-bit accumulators held in registers for the whole sum:
each term is one load of the row index, one of the scale and TILE_VECTORS vector loads and
fused multiply-adds; out is read (when accumulating) and written once. The loops written in
Numba over the whole output row (four rows per pass, sparse_linear's ``_dx_by_example``)
load and store the output once per four terms instead, and took 18 ms where the tile takes
8.6 ms for dx of the parser's layer (10,000 x 2,400 -> 500, k = 20, 1,152 columns, one
thread, AMD EPYC Zen 4, rows 64-byte aligned, streaming stores).

Alignment matters as much: a 512-bit load or store that straddles two cache lines costs
two. NumPy's large arrays start 16 bytes past a page boundary (glibc's mmap chunks), so
every vector of their rows straddles; the same tile on such rows took 12-15 ms. The engine
allocates its large arrays 64-byte aligned (``mesimp_engine.aligned``), and callers start
the tiles at a 64-byte column boundary.

``stream=True`` writes out with non-temporal stores (LLVM ``!nontemporal``): the written
lines go to memory without first being read into the cache, which saves the read of an
output far larger than the caches (dx of the parser's layer, 96 MB: 12.0 -> 8.6 ms above).
It needs out + o 64-byte aligned (the caller checks; ``stream_ok``) and a ``store_fence()``
before another thread reads what was written.

Each is a plain Python function (the twin the tests compare against, and what runs under
``NUMBA_DISABLE_JIT=1``) with a Numba overload built on an ``@intrinsic`` in LLVM vector IR.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from mesimp_engine.kernels.compress_keys import _intrinsic_function, _splat

VECTOR_BYTES = 64
"""Bytes of one vector register (512 bits)."""

TILE_VECTORS = 16
"""Vector accumulators of a ``row_tile_sum`` (of the 32 AVX-512 registers; 8 measured 40%
slower on the parser's dx: more passes over the row indices and scales)."""

TILE_BYTES = TILE_VECTORS * VECTOR_BYTES

VECTOR_COUNTS = (16, 8, 4, 2, 1)
"""The tile widths, in vectors: whole tiles of TILE_VECTORS, then one each of the smaller
widths as the columns left over need (11 vectors: 8 + 2 + 1, three passes over the terms
where single vectors would take eleven)."""


def row_sum(out, o, src, rows, scales, p0, p1, col, accumulate, stream, vectors):
    """See the module docstring (``vectors`` in VECTOR_COUNTS)."""
    width = vectors * VECTOR_BYTES // src.itemsize
    total = out[o : o + width].copy() if accumulate else np.zeros(width, out.dtype)
    for p in range(p0, p1):
        total += scales[p] * src[rows[p], col : col + width]
    out[o : o + width] = total


def store_fence():
    """Order the streaming stores before what follows (a no-op in Python)."""


@njit(cache=True)
def stream_ok(out, o):
    """Whether out[o:] may be written with streaming stores (64-byte aligned)."""
    return (out.ctypes.data + o * out.itemsize) % VECTOR_BYTES == 0


def _tile_intrinsic(n_vectors, streaming):
    """The intrinsic summing ``n_vectors`` vectors of columns, with streaming stores or not."""

    @intrinsic
    def tile(typingctx, out, o, src, stride, rows, scales, p0, p1, col, accumulate):
        signature = types.void(out, o, src, stride, rows, scales, p0, p1, col, accumulate)

        def codegen(context, builder, sig, args):
            out_arg, o_arg, src_arg, stride_arg, rows_arg, scales_arg, p0_arg, p1_arg, col_arg, accumulate_arg = args
            i64 = ir.IntType(64)

            def data(position):
                return context.make_array(sig.args[position])(context, builder, args[position]).data

            def index(position):
                return context.cast(builder, args[position], sig.args[position], types.int64)

            element_bytes = sig.args[2].dtype.bitwidth // 8
            lanes = VECTOR_BYTES // element_bytes
            vector = ir.VectorType(context.get_value_type(sig.args[2].dtype), lanes)
            fma = _intrinsic_function(builder, f"llvm.fma.v{lanes}f{8 * element_bytes}", vector, [vector] * 3)

            def vector_at(base, v):
                return builder.bitcast(builder.gep(base, [ir.Constant(i64, v * lanes)]), vector.as_pointer())

            target = builder.gep(data(0), [index(1)])
            sums = [cgutils.alloca_once(builder, vector) for _ in range(n_vectors)]
            with builder.if_else(accumulate_arg) as (then, otherwise):
                with then:
                    for v, s in enumerate(sums):
                        builder.store(builder.load(vector_at(target, v), align=element_bytes), s)
                with otherwise:
                    for s in sums:
                        builder.store(ir.Constant(vector, None), s)
            first, stride, column = index(6), index(3), index(8)
            rows_data, scales_data, src_data = data(4), data(5), data(2)
            with cgutils.for_range(builder, builder.sub(index(7), first)) as loop:
                p = builder.add(first, loop.index)
                row = builder.load(builder.gep(rows_data, [p]))
                scale = _splat(builder, builder.load(builder.gep(scales_data, [p])), vector)
                base = builder.gep(src_data, [builder.add(builder.mul(row, stride), column)])
                for v, s in enumerate(sums):
                    term = builder.load(vector_at(base, v), align=element_bytes)
                    builder.store(builder.call(fma, [scale, term, builder.load(s)]), s)
            for v, s in enumerate(sums):
                store = builder.store(builder.load(s), vector_at(target, v), align=VECTOR_BYTES if streaming else element_bytes)
                if streaming:
                    store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
            return context.get_dummy_value()

        return signature, codegen

    return tile


_SUMS = {(n, streaming): _tile_intrinsic(n, streaming) for n in VECTOR_COUNTS for streaming in (False, True)}
_s16, _s8, _s4, _s2, _s1 = (_SUMS[n, False] for n in VECTOR_COUNTS)
_t16, _t8, _t4, _t2, _t1 = (_SUMS[n, True] for n in VECTOR_COUNTS)


@overload(row_sum, jit_options={"cache": True})
def _row_sum_jit(out, o, src, rows, scales, p0, p1, col, accumulate, stream, vectors):
    def impl(out, o, src, rows, scales, p0, p1, col, accumulate, stream, vectors):
        n = src.shape[1]
        if stream:
            if vectors == 16:
                _t16(out, o, src, n, rows, scales, p0, p1, col, accumulate)
            elif vectors == 8:
                _t8(out, o, src, n, rows, scales, p0, p1, col, accumulate)
            elif vectors == 4:
                _t4(out, o, src, n, rows, scales, p0, p1, col, accumulate)
            elif vectors == 2:
                _t2(out, o, src, n, rows, scales, p0, p1, col, accumulate)
            else:
                _t1(out, o, src, n, rows, scales, p0, p1, col, accumulate)
        elif vectors == 16:
            _s16(out, o, src, n, rows, scales, p0, p1, col, accumulate)
        elif vectors == 8:
            _s8(out, o, src, n, rows, scales, p0, p1, col, accumulate)
        elif vectors == 4:
            _s4(out, o, src, n, rows, scales, p0, p1, col, accumulate)
        elif vectors == 2:
            _s2(out, o, src, n, rows, scales, p0, p1, col, accumulate)
        else:
            _s1(out, o, src, n, rows, scales, p0, p1, col, accumulate)

    return impl


@intrinsic
def _fence(typingctx):
    def codegen(context, builder, sig, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


@overload(store_fence, jit_options={"cache": True})
def _store_fence_jit():
    def impl():
        _fence()

    return impl


def prefetch(a, i):
    """Ask for the cache line holding a.flat[i] (into all cache levels); a no-op in Python."""


@intrinsic
def _prefetch(typingctx, a, i):
    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [context.cast(builder, args[1], sig.args[1], types.int64)]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fetch = _intrinsic_function(builder, "llvm.prefetch.p0", ir.VoidType(), [address.type, i32, i32, i32])
        builder.call(fetch, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(a, i), codegen


@overload(prefetch, jit_options={"cache": True})
def _prefetch_jit(a, i):
    def impl(a, i):
        _prefetch(a, i)

    return impl
