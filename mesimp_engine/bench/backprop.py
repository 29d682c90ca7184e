"""``mesimp-engine bench backprop``: backward of one linear layer y = x W^T + b.

Implementations (selection included in the meProp times, dx included since a hidden layer needs
it, db in all):

- ``dense``: the engine's dense backward (``meprop.backward_dense``): ``dy.T @ x`` and
  ``dy @ W`` through ``kernels.blas.matmul``, which is OpenBLAS except on a few rows, where
  the engine's tiles take them (``kernels.small_products``), db = dy.sum(0);
- ``per_example``: meProp, top-k of |dy| per example, then the sparse kernels (what the
  engine's layer runs: ``meprop.per_example``, one fused call for a small problem);
- ``unified``: meProp, one top-k of the column sums of |dy| for the batch, gathers + BLAS;
- ``dense_blas`` and ``dense_all_threads`` (small products only): the same products by
  NumPy's OpenBLAS, on one thread (the engine's policy below ``SMALL_PRODUCT`` multiply-adds)
  and on all its threads. The notes give meProp's ratios against the fastest dense.

Beside them, ``floor`` (``kernels.stream_floor``): one read of x and dy and one write of dx,
the memory traffic every backward that returns dx must make. It computes nothing useful and
is not validated. Where x and dx do not fit in the caches (the parser's shape), dense / floor
is the largest speed-up any implementation can reach on the machine; the notes give it and
each meProp time over the floor. On cache-sized cases the floor is only a reference.

Every implementation writes dx and dW into the same preallocated buffers (``out=`` for dense),
as a training loop would reuse them. x, W, dy and the buffers are allocated as the engine
allocates a layer's input, weight and gradients (``mesimp_engine.kernels.memory``: 64-byte aligned
when large). Each is validated against a NumPy reference (the dense
products of dy with the unselected entries zeroed) on sampled rows before it is timed.
Cases: the parser's shape, the MNIST shape and the papers' Table 7 sweep (GPU ratios beside).
"""

import os

import numpy as np

from mesimp_engine.bench.harness import document, time_round_robin
from mesimp_engine.kernels.blas import SMALL_PRODUCT, set_blas_threads
from mesimp_engine.kernels.stream_floor import stream_floor
from mesimp_engine.kernels.memory import as_aligned, empty
from mesimp_engine.sparsity import meprop

# Table 7 of the meProp paper: dense / unified backprop time of a 1,024 x 8,192 -> 8,192 product (GPU)
TABLE7_DENSE_MS = 308.00
"""Table 7's baseline: the dense backward of the 1,024 x 8,192 -> 8,192 product on the paper's GPU."""


TABLE7_PUBLISHED = {8: (8.37, 36.8), 16: (9.16, 33.6), 32: (11.20, 27.5), 64: (14.38, 21.4), 128: (21.28, 14.5),
                    256: (38.57, 8.0), 512: (69.95, 4.4)}
"""Table 7: k -> (unified backward ms, speed-up over the dense 308.00 ms), as printed."""

PAPER_TABLE7 = {k: speedup for k, (_, speedup) in TABLE7_PUBLISHED.items()}


FLOOR = "floor (read x, dy; write dx)"


def cases(quick):
    """(B, n_in, n_out, k, repeats) for each case; repeats None means the default."""
    if quick:
        return [(2000, 2400, 500, 20, None), (10, 784, 500, 20, None), (256, 2048, 2048, 8, None), (256, 2048, 2048, 32, None)]
    table7 = [(1024, 8192, 8192, k, 3) for k in PAPER_TABLE7]
    return [(10000, 2400, 500, 20, None), (10, 784, 500, 20, None)] + table7


def case_name(B, n_in, n_out, k):
    return f"{B}x{n_in}->{n_out} k={k}"


def implementations(x, W, dy, k, dx_out, dW_out, one_blas_thread=False):
    """name -> zero-argument callable returning (dx, rows or None, dW, db); with
    ``one_blas_thread`` (a product small enough for the engine to run BLAS on one thread),
    also ``dense_blas`` and ``dense_all_threads``."""

    def dense():
        dx, dW, db = meprop.backward_dense(x, W, dy, dx_out=dx_out, dW_out=dW_out)
        return dx, None, dW, db

    def blas_dense(single):
        def run():
            set_blas_threads(single)
            np.matmul(dy.T, x, out=dW_out)
            np.matmul(dy, W, out=dx_out)
            return dx_out, None, dW_out, dy.sum(axis=0)

        return run

    def per_example():
        # what the engine's meProp layer runs (one fused call for a small problem)
        return meprop.per_example(x, W, dy, k, dx_out=dx_out, dW_out=dW_out)[1:]

    def unified():
        db = np.empty(dy.shape[1], dtype=dy.dtype)
        cols = meprop.select_unified(dy, k, db_out=db)
        return meprop.backward_unified(x, W, dy, cols, db=db, dx_out=dx_out, dW_out=dW_out)

    impls = {"dense": dense, "per_example": per_example, "unified": unified}
    if one_blas_thread:
        impls["dense_blas"] = blas_dense(True)
        impls["dense_all_threads"] = blas_dense(False)
    return impls


def reference_masks(dy, k):
    """The kept entries of dy for each implementation, from a stable sort (ties to the lower index)."""
    B, n_out = dy.shape
    keep = {name: np.ones(dy.shape, dtype=bool) for name in ("dense", "dense_blas", "dense_all_threads")}
    per = np.zeros(dy.shape, dtype=bool)
    np.put_along_axis(per, np.argsort(-np.abs(dy), axis=1, kind="stable")[:, :k], True, axis=1)
    keep["per_example"] = per
    uni = np.zeros(dy.shape, dtype=bool)
    uni[:, np.argsort(-np.abs(dy).sum(axis=0, dtype=np.float64), kind="stable")[:k]] = True
    keep["unified"] = uni
    return keep


def validate(name, result, x, W, dy, keep, rng):
    """Compare sampled rows of dx and dW with the dense products of the masked dy."""
    dx, rows, dW, db = result
    masked = np.where(keep, dy, 0).astype(np.float64)
    expected_rows = np.flatnonzero(keep.any(axis=0))
    if rows is not None:
        if not np.array_equal(rows, expected_rows):
            raise AssertionError(f"{name}: wrong set of updated rows")
    else:
        dW = dW[expected_rows]
    ex = rng.choice(x.shape[0], size=min(64, x.shape[0]), replace=False)
    units = rng.choice(expected_rows.size, size=min(64, expected_rows.size), replace=False)
    checks = [
        ("dx", dx[ex], masked[ex] @ W),
        ("dW", dW[units], masked[:, expected_rows[units]].T @ x),
        ("db", db, dy.sum(axis=0, dtype=np.float64)),
    ]
    for what, got, want in checks:
        scale = np.abs(want).max() + 1e-30
        err = np.abs(got - want).max() / scale
        if err > 1e-4:
            raise AssertionError(f"{name}: {what} differs from the NumPy reference (rel. err {err:.2e})")


def measure_case(B, n_in, n_out, k, repeats, rng):
    """Validate every implementation on one case's random data, then time them in turns
    (``repeats`` rounds, the floor too): name -> {"median_s", "best_s", ...}."""
    x = as_aligned(rng.standard_normal((B, n_in), dtype=np.float32))
    W = as_aligned(rng.standard_normal((n_out, n_in), dtype=np.float32) * np.float32(0.05))
    dy = as_aligned(rng.standard_normal((B, n_out), dtype=np.float32))
    # allocated as the engine allocates a layer's input, weight and gradients
    dx_out = empty((B, n_in), np.float32)
    dW_out = empty((n_out, n_in), np.float32)
    keep = reference_masks(dy, k)
    impls = implementations(x, W, dy, k, dx_out, dW_out, one_blas_thread=B * n_in * n_out < SMALL_PRODUCT)
    for name, fn in impls.items():
        validate(name, fn(), x, W, dy, keep[name], rng)
    impls[FLOOR] = lambda: stream_floor(x, dy, dx_out)
    return time_round_robin(impls, repeats)


def run(args):
    quick = getattr(args, "quick", False)
    rng = np.random.default_rng(0)
    results, notes = [], []
    load_before = os.getloadavg()[0]
    for B, n_in, n_out, k, case_repeats in cases(quick):
        case = case_name(B, n_in, n_out, k)
        timings = measure_case(B, n_in, n_out, k, args.repeats or (3 if quick else case_repeats or 7), rng)
        times = {name: timing["median_s"] for name, timing in timings.items()}
        for name, timing in timings.items():
            row = {"case": case, "impl": name, **timing, "B": B, "n_in": n_in, "n_out": n_out, "k": k}
            if name == "dense":
                row["baseline"] = True
            if name == "unified" and B == 1024 and k in PAPER_TABLE7 and not quick:
                row["paper_speedup_gpu"] = PAPER_TABLE7[k]
            results.append(row)
        line = f"{case}: dense/per_example {times['dense'] / times['per_example']:.1f}x, dense/unified {times['dense'] / times['unified']:.1f}x"
        if "dense_all_threads" in times:
            best = min(times["dense"], times["dense_blas"], times["dense_all_threads"])
            line += (f"; OpenBLAS / the engine's dense {times['dense_blas'] / times['dense']:.2f}x (one thread),"
                     f" {times['dense_all_threads'] / times['dense']:.2f}x (all); against the fastest dense:"
                     f" {best / times['per_example']:.1f}x, {best / times['unified']:.1f}x")
        if B == 1024 and k in PAPER_TABLE7 and not quick:
            line += f" (paper, GPU: {PAPER_TABLE7[k]}x)"
        floor = times[FLOOR]
        line += (f"; memory floor: dense/floor {times['dense'] / floor:.1f}x,"
                 f" per_example/floor {times['per_example'] / floor:.1f}x, unified/floor {times['unified'] / floor:.1f}x")
        notes.append(line)
    notes.append(
        "float32; dense = the engine's dy.T @ x, dy @ W (OpenBLAS, on one thread below SMALL_PRODUCT multiply-adds "
        "and on all above; the engine's tiles on a few rows); dense_blas, dense_all_threads: NumPy's OpenBLAS on "
        "one thread and on all; every impl writes into the same "
        "preallocated dx/dW buffers; selection and db included; implementations timed in turns (round robin), "
        "median of the rounds"
    )
    notes.append("floor: one read of x and dy and one write of dx; it bounds the speed-up only where they do not "
                 "fit in the caches (the parser's shape), elsewhere it is a reference")
    notes.append(f"load average (1 min) {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, on {os.cpu_count()} cpus")
    return document("backprop", results, notes=notes)
