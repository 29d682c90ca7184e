"""``mesimp-engine bench backprop``: backward of one linear layer y = x W^T + b.

Implementations (selection included in the meProp times, dx included since a hidden layer needs
it, db in all):

- ``dense``: NumPy BLAS, ``dy.T @ x`` and ``dy @ W`` on contiguous arrays, db = dy.sum(0);
- ``per_example``: meProp, top-k of |dy| per example, then the sparse kernels;
- ``unified``: meProp, one top-k of the column sums of |dy| for the batch, gathers + BLAS;
- ``dense_1thread`` (MNIST shape only): the dense backward on one BLAS thread, which is the
  faster dense for a tiny product on a busy machine; the notes also give ratios against it.

Every implementation writes dx and dW into the same preallocated buffers (``out=`` for dense),
as a training loop would reuse them. Each is validated against a NumPy reference (the dense
products of dy with the unselected entries zeroed) on sampled rows before it is timed.
Cases: the parser's shape, the MNIST shape and the papers' Table 7 sweep (GPU ratios beside).
"""

import ctypes
import os
import statistics
import time

import numpy as np

from mesimp_engine.bench.harness import document
from mesimp_engine.sparsity import meprop

# Table 7 of the meProp paper: dense / unified backprop time of a 1,024 x 8,192 -> 8,192 product (GPU)
PAPER_TABLE7 = {8: 36.8, 16: 33.6, 32: 27.5, 64: 21.4, 128: 14.5, 256: 8.0, 512: 4.4}


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
    ``one_blas_thread``, also ``dense_1thread`` (the dense backward on one BLAS thread)."""

    def dense():
        dx, dW, db = meprop.backward_dense(x, W, dy, dx_out=dx_out, dW_out=dW_out)
        return dx, None, dW, db

    def per_example():
        idx = meprop.select_per_example(dy, k)
        return meprop.backward_per_example(x, W, dy, idx, dx_out=dx_out, dW_out=dW_out)

    def unified():
        db = np.empty(dy.shape[1], dtype=dy.dtype)
        cols = meprop.select_unified(dy, k, db_out=db)
        return meprop.backward_unified(x, W, dy, cols, db=db, dx_out=dx_out, dW_out=dW_out)

    impls = {"dense": dense, "per_example": per_example, "unified": unified}
    if one_blas_thread and _blas_set_threads is not None:

        def dense_1thread():
            previous = _blas_get_threads()
            _blas_set_threads(1)
            try:
                return dense()
            finally:
                _blas_set_threads(previous)

        impls["dense_1thread"] = dense_1thread
    return impls


def _openblas_thread_control():
    """(set_num_threads, get_num_threads) of the OpenBLAS that NumPy loaded, or (None, None).

    Small products are slower on two BLAS threads than on one when the machine is busy (each
    call waits for its second thread to be scheduled), so the small cases also time the dense
    backward on one BLAS thread, and the notes give our ratios against the faster dense."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line and ".so" in line}
    except OSError:
        return None, None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"), ("openblas", "")):
            setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.argtypes = [ctypes.c_int]
                getter.restype = ctypes.c_int
                return setter, getter
    return None, None


_blas_set_threads, _blas_get_threads = _openblas_thread_control()


def reference_masks(dy, k):
    """The kept entries of dy for each implementation, from a stable sort (ties to the lower index)."""
    B, n_out = dy.shape
    keep = {"dense": np.ones(dy.shape, dtype=bool), "dense_1thread": np.ones(dy.shape, dtype=bool)}
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


def time_round_robin(fns, repeats, min_time=0.1, pause=0.25):
    """Time each of ``fns`` (name -> callable), one sample of each per round, ``repeats`` rounds,
    so that a change in the machine's load hits every implementation alike; each sample starts
    after a ``pause`` (seconds), so that it does not pay for the previous one's spinning threads.
    Each callable was called once already (validated, warm). A sample loops a short call (judged
    by the best of three calls, so one slow wake-up does not decide) to last about ``min_time``.
    Returns name -> {"median_s", "best_s", "repeats", "inner"}."""
    inner = {}
    for name, fn in fns.items():
        once = []
        for _ in range(3):
            start = time.perf_counter()
            fn()
            once.append(time.perf_counter() - start)
        inner[name] = max(1, int(min_time / max(min(once), 1e-9)))
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            # idle BLAS and Numba pool threads keep spinning for a while after a call and slow
            # down whatever runs next on two cores: let them settle before each sample
            time.sleep(pause)
            start = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / inner[name])
    return {
        name: {"median_s": statistics.median(s), "best_s": min(s), "repeats": repeats, "inner": inner[name]}
        for name, s in samples.items()
    }


def run(args):
    quick = getattr(args, "quick", False)
    rng = np.random.default_rng(0)
    results, notes = [], []
    load_before = os.getloadavg()[0]
    for B, n_in, n_out, k, case_repeats in cases(quick):
        case = case_name(B, n_in, n_out, k)
        x = rng.standard_normal((B, n_in), dtype=np.float32)
        W = rng.standard_normal((n_out, n_in), dtype=np.float32) * np.float32(0.05)
        dy = rng.standard_normal((B, n_out), dtype=np.float32)
        dx_out = np.empty((B, n_in), dtype=np.float32)
        dW_out = np.empty((n_out, n_in), dtype=np.float32)
        keep = reference_masks(dy, k)
        impls = implementations(x, W, dy, k, dx_out, dW_out, one_blas_thread=B * n_in * n_out <= 20_000_000)
        for name, fn in impls.items():
            validate(name, fn(), x, W, dy, keep[name], rng)
        repeats = args.repeats or (3 if quick else case_repeats or 7)
        timings = time_round_robin(impls, repeats)
        times = {name: timing["median_s"] for name, timing in timings.items()}
        for name, timing in timings.items():
            row = {"case": case, "impl": name, **timing, "B": B, "n_in": n_in, "n_out": n_out, "k": k}
            if name == "dense":
                row["baseline"] = True
            if name == "unified" and B == 1024 and k in PAPER_TABLE7 and not quick:
                row["paper_speedup_gpu"] = PAPER_TABLE7[k]
            results.append(row)
        line = f"{case}: dense/per_example {times['dense'] / times['per_example']:.1f}x, dense/unified {times['dense'] / times['unified']:.1f}x"
        if "dense_1thread" in times:
            best = min(times["dense"], times["dense_1thread"])
            line += f"; against the faster dense: {best / times['per_example']:.1f}x, {best / times['unified']:.1f}x"
        if B == 1024 and k in PAPER_TABLE7 and not quick:
            line += f" (paper, GPU: {PAPER_TABLE7[k]}x)"
        notes.append(line)
    notes.append(
        "dense = NumPy BLAS dy.T @ x, dy @ W; every impl writes into the same preallocated dx/dW buffers;"
        " selection and db included; implementations timed in turns (round robin), median of the rounds"
    )
    notes.append(f"load average (1 min) {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, on {os.cpu_count()} cpus")
    return document("backprop", results, notes=notes)
