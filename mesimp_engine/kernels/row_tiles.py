"""Sums of rows into tiles of accumulators held in registers: the inner loops of meProp's
backward (``sparse_linear``).

``row_sum(out, o, src, rows, scales, p0, p1, col, accumulate, stream, vectors)``, the
weighted sum of gathered rows (per-example dx and dW):

    out[o : o + w] = (out[o : o + w] if accumulate else 0)
                     + sum_{p0 <= p < p1} scales[p] * src[rows[p], col : col + w]

with w = vectors * VECTOR_BYTES / itemsize columns (``vectors`` in VECTOR_COUNTS; 16 vectors
are 256 float32 or 128 float64 columns). out and rows (int64) and scales (src's dtype) are
1-D, src 2-D C-contiguous.

``outer_sum(out, r, col, g, u0, src, b0, b1, accumulate, units, vectors, stream=False)``, a
block of the product g^T src (unified dW = dy[:, kept]^T x, with g = dy[:, kept]; unified
dx = dy[:, kept] W[kept], with g = dy[:, kept]^T and src = W[kept]):

    out[r + u, col : col + w] = (... if accumulate else 0)
                                + sum_{b0 <= b < b1} g[b, u0 + u] * src[b, col : col + w]

for u < units (in UNIT_COUNTS), w as above for ``vectors`` in OUTER_VECTORS; out, g and src
2-D C-contiguous.

Compiled, ``row_sum``'s tile is up to TILE_VECTORS 512-bit accumulators held in registers
for the whole sum: each term is one load of the row index, one of the scale and a vector
load and fused multiply-add per vector; out is read (when accumulating) and written once. The loops written in
Numba over the whole output row (four rows per pass, sparse_linear's ``_dx_by_example``)
load and store the output once per four terms instead, and took 18 ms where the tile takes
8.6 ms for dx of the parser's layer (10,000 x 2,400 -> 500, k = 20, 1,152 columns, one
thread, AMD EPYC Zen 4, rows 64-byte aligned, streaming stores).

Alignment matters as much: a 512-bit load or store that straddles two cache lines costs
two. NumPy's large arrays start 16 bytes past a page boundary (glibc's mmap chunks), so
every vector of their rows straddles; the same tile on such rows took 12-15 ms. The engine
allocates its large arrays 64-byte aligned (``mesimp_engine.kernels.memory``), and callers start
the tiles at a 64-byte column boundary.

``stream=True`` writes out with non-temporal stores (LLVM ``!nontemporal``): the written
lines go to memory without first being read into the cache, which saves the read of an
output far larger than the caches (dx of the parser's layer, 96 MB: 12.0 -> 8.6 ms above).
It needs out + o 64-byte aligned (the caller checks; ``stream_ok``) and a ``store_fence()``
before another thread reads what was written.

Each is a plain Python function (the twin the tests compare against, and what runs under
``NUMBA_DISABLE_JIT=1``) with a Numba overload built on an ``@intrinsic`` in LLVM vector IR,
which emits one loop per width (``vectors``, ``units``) and runs the one asked for.
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
"""The widest ``row_sum`` tile, in vectors (of the 32 AVX-512 registers; 8 measured 40%
slower on the parser's dx: more passes over the row indices and scales)."""

UNIT_COUNTS = (4, 2, 1)
"""Output rows of an ``outer_sum`` tile: 4 while they last, then 2 and 1."""

OUTER_VECTORS = (4, 2, 1)
"""Vectors of columns of an ``outer_sum`` tile (4 x 4 accumulators: per term 4 vector loads
and 4 broadcasts feed 16 fused multiply-adds)."""

VECTOR_COUNTS = (16, 8, 4, 2, 1)
"""The ``row_sum`` widths, in vectors: whole tiles of TILE_VECTORS, then one each of the
smaller widths as the columns left over need (11 vectors: 8 + 2 + 1, three passes over the
terms where single vectors would take eleven)."""


def row_sum(out, o, src, rows, scales, p0, p1, col, accumulate, stream, vectors):
    """See the module docstring (``vectors`` in VECTOR_COUNTS)."""
    width = vectors * VECTOR_BYTES // src.itemsize
    total = out[o : o + width].copy() if accumulate else np.zeros(width, out.dtype)
    for p in range(p0, p1):
        total += scales[p] * src[rows[p], col : col + width]
    out[o : o + width] = total


def outer_sum(out, r, col, g, u0, src, b0, b1, accumulate, units, vectors, stream=False):
    """See the module docstring (``units`` in UNIT_COUNTS, ``vectors`` in OUTER_VECTORS)."""
    width = vectors * VECTOR_BYTES // src.itemsize
    total = out[r : r + units, col : col + width].copy() if accumulate else np.zeros((units, width), out.dtype)
    for b in range(b0, b1):
        total += g[b, u0 : u0 + units, None] * src[b, col : col + width]
    out[r : r + units, col : col + width] = total


def store_fence():
    """Order the streaming stores before what follows (a no-op in Python)."""


@njit(cache=True)
def stream_ok(out, o):
    """Whether out[o:] may be written with streaming stores (64-byte aligned)."""
    return (out.ctypes.data + o * out.itemsize) % VECTOR_BYTES == 0


class _Emitter:
    """LLVM IR helpers for one intrinsic call: array data, int64 arguments, vectors."""

    def __init__(self, context, builder, sig, args, dtype):
        self.context, self.builder, self.sig, self.args = context, builder, sig, args
        self.element_bytes = dtype.bitwidth // 8
        self.lanes = VECTOR_BYTES // self.element_bytes
        self.vector = ir.VectorType(context.get_value_type(dtype), self.lanes)
        self.fma = _intrinsic_function(builder, f"llvm.fma.v{self.lanes}f{dtype.bitwidth}", self.vector, [self.vector] * 3)

    def data(self, position):
        return self.context.make_array(self.sig.args[position])(self.context, self.builder, self.args[position]).data

    def index(self, position):
        return self.context.cast(self.builder, self.args[position], self.sig.args[position], types.int64)

    def at(self, pointer, offset):
        """pointer + offset elements, as a vector pointer (offset an int or an i64 value)."""
        if isinstance(offset, int):
            offset = ir.Constant(ir.IntType(64), offset)
        return self.builder.bitcast(self.builder.gep(pointer, [offset]), self.vector.as_pointer())

    def load(self, pointer, offset):
        return self.builder.load(self.at(pointer, offset), align=self.element_bytes)

    def store(self, value, pointer, offset, streaming=False):
        store = self.builder.store(value, self.at(pointer, offset), align=VECTOR_BYTES if streaming else self.element_bytes)
        if streaming:
            store.set_metadata("nontemporal", self.builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))

    def accumulators(self, count, accumulate, initial):
        """``count`` register-held vectors, loaded by initial(i) when accumulate, else zero."""
        sums = [cgutils.alloca_once(self.builder, self.vector) for _ in range(count)]
        with self.builder.if_else(accumulate) as (then, otherwise):
            with then:
                for i, s in enumerate(sums):
                    self.builder.store(initial(i), s)
            with otherwise:
                for s in sums:
                    self.builder.store(ir.Constant(self.vector, None), s)
        return sums

    def fma_into(self, total, scale, term):
        self.builder.store(self.builder.call(self.fma, [scale, term, self.builder.load(total)]), total)

    def cases(self, value, options):
        """For each option, a block run when value (an i64) equals it: yields the option."""
        for option in options:
            with self.builder.if_then(self.builder.icmp_signed("==", value, ir.Constant(ir.IntType(64), option))):
                yield option


@intrinsic
def _row_sum(typingctx, out, o, src, stride, rows, scales, p0, p1, col, accumulate, stream, vectors):
    signature = types.void(out, o, src, stride, rows, scales, p0, p1, col, accumulate, stream, vectors)

    def codegen(context, builder, sig, args):
        e = _Emitter(context, builder, sig, args, sig.args[2].dtype)
        target = builder.gep(e.data(0), [e.index(1)])
        first, stride, column = e.index(6), e.index(3), e.index(8)
        rows, scales, src_data = e.data(4), e.data(5), e.data(2)
        for n_vectors in e.cases(e.index(11), VECTOR_COUNTS):
            sums = e.accumulators(n_vectors, args[9], lambda v: e.load(target, v * e.lanes))
            with cgutils.for_range(builder, builder.sub(e.index(7), first)) as loop:
                p = builder.add(first, loop.index)
                row = builder.load(builder.gep(rows, [p]))
                scale = _splat(builder, builder.load(builder.gep(scales, [p])), e.vector)
                base = builder.gep(src_data, [builder.add(builder.mul(row, stride), column)])
                for v, total in enumerate(sums):
                    e.fma_into(total, scale, e.load(base, v * e.lanes))
            with builder.if_else(args[10]) as (streaming, plain):
                for mode, block in ((True, streaming), (False, plain)):
                    with block:
                        for v, total in enumerate(sums):
                            e.store(builder.load(total), target, v * e.lanes, streaming=mode)
        return context.get_dummy_value()

    return signature, codegen


@overload(row_sum, jit_options={"cache": True})
def _row_sum_jit(out, o, src, rows, scales, p0, p1, col, accumulate, stream, vectors):
    def impl(out, o, src, rows, scales, p0, p1, col, accumulate, stream, vectors):
        _row_sum(out, o, src, src.shape[1], rows, scales, p0, p1, col, accumulate, stream, vectors)

    return impl


@intrinsic
def _outer_sum(typingctx, out, out_stride, r, col, g, g_stride, u0, src, src_stride, b0, b1, accumulate, units, vectors, stream):
    signature = types.void(out, out_stride, r, col, g, g_stride, u0, src, src_stride, b0, b1, accumulate, units, vectors, stream)

    def codegen(context, builder, sig, args):
        e = _Emitter(context, builder, sig, args, sig.args[7].dtype)
        column = e.index(3)
        target = builder.gep(e.data(0), [builder.add(builder.mul(e.index(2), e.index(1)), column)])
        out_stride, g_stride, src_stride, first = e.index(1), e.index(5), e.index(8), e.index(9)
        g_data = builder.gep(e.data(4), [e.index(6)])
        src_data = builder.gep(e.data(7), [column])
        for n_units in e.cases(e.index(12), UNIT_COUNTS):
            for n_vectors in e.cases(e.index(13), OUTER_VECTORS):

                def offset(u, v):
                    return builder.add(builder.mul(ir.Constant(ir.IntType(64), u), out_stride), ir.Constant(ir.IntType(64), v * e.lanes))

                sums = e.accumulators(n_units * n_vectors, args[11], lambda i: e.load(target, offset(*divmod(i, n_vectors))))
                with cgutils.for_range(builder, builder.sub(e.index(10), first)) as loop:
                    b = builder.add(first, loop.index)
                    row = builder.gep(src_data, [builder.mul(b, src_stride)])
                    terms = [e.load(row, v * e.lanes) for v in range(n_vectors)]
                    weights = builder.gep(g_data, [builder.mul(b, g_stride)])
                    for u in range(n_units):
                        weight = builder.load(builder.gep(weights, [ir.Constant(ir.IntType(64), u)]))
                        scale = _splat(builder, weight, e.vector)
                        for v in range(n_vectors):
                            e.fma_into(sums[u * n_vectors + v], scale, terms[v])
                with builder.if_else(args[14]) as (streaming, plain):
                    for mode, block in ((True, streaming), (False, plain)):
                        with block:
                            for i, total in enumerate(sums):
                                e.store(builder.load(total), target, offset(*divmod(i, n_vectors)), streaming=mode)
        return context.get_dummy_value()

    return signature, codegen


@overload(outer_sum, jit_options={"cache": True})
def _outer_sum_jit(out, r, col, g, u0, src, b0, b1, accumulate, units, vectors, stream=False):
    def impl(out, r, col, g, u0, src, b0, b1, accumulate, units, vectors, stream=False):
        _outer_sum(out, out.shape[1], r, col, g, g.shape[1], u0, src, src.shape[1], b0, b1, accumulate, units, vectors, stream)

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
