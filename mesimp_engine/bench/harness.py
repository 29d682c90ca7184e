"""What every benchmark shares: timing, the environment record, the table and the JSON.

A benchmark is a list of cases; each case has named implementations that are first
validated against a reference on the case's data, then timed: ``warmup`` calls excluded,
then ``repeats`` timed calls, of which the median (and the best) are reported. Ratios are
computed between rows of the same case in the same run, never across runs.
"""

import os
import platform
import statistics
import sys
import time

import numpy as np

from mesimp_engine import atomic_file


def time_call(fn, repeats=7, warmup=1, min_time=0.0):
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed calls.

    When one call is shorter than ``min_time`` seconds, each timed sample runs ``fn``
    enough times in a loop to last about ``min_time`` and reports the time per call, so
    microsecond calls are not lost in the timer's resolution. Returns a dict with
    ``median_s``, ``best_s``, ``repeats`` and ``inner`` (calls per sample).
    """
    for _ in range(warmup):
        fn()
    inner = 1
    if min_time > 0:
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        inner = max(1, int(min_time / max(once, 1e-9)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return {
        "median_s": statistics.median(samples),
        "best_s": min(samples),
        "repeats": repeats,
        "inner": inner,
    }


def environment():
    """Versions, CPU and threads: what a reader needs to judge the numbers."""
    env = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        import numba

        env["numba"] = numba.__version__
        env["numba_threads"] = numba.get_num_threads()
        env["numba_disable_jit"] = bool(numba.config.DISABLE_JIT)
    except ImportError:
        env["numba"] = None
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:
        env["torch"] = None
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        if var in os.environ:
            env[var] = os.environ[var]
    return env


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def document(name, results, **extra):
    """The JSON document of SPEC section 5: ``{"bench", "environment", "results", ...}``."""
    return {"bench": name, "environment": environment(), "results": results, **extra}


def ratio(results, case, slow_impl, fast_impl):
    """median_s(slow_impl) / median_s(fast_impl) for two rows of the same case."""
    times = {r["impl"]: r["median_s"] for r in results if r["case"] == case}
    return times[slow_impl] / times[fast_impl]


def print_table(doc, file=None):
    """Print the results grouped by case: time per implementation and its ratio to the
    case's baseline (the row flagged ``baseline``, else the first row of the case)."""
    file = file or sys.stdout
    results = doc["results"]
    print(f"# bench {doc['bench']}", file=file)
    env = doc["environment"]
    print(
        f"# {env.get('cpu')} | {env.get('cpu_count')} cpus | numpy {env.get('numpy')}"
        f" | numba {env.get('numba')} | torch {env.get('torch')}",
        file=file,
    )
    header = f"{'case':<28} {'impl':<26} {'median':>12} {'best':>12} {'vs baseline':>12}"
    print(header, file=file)
    print("-" * len(header), file=file)
    cases = []
    for r in results:
        if r["case"] not in cases:
            cases.append(r["case"])
    for case in cases:
        rows = [r for r in results if r["case"] == case]
        base = next((r for r in rows if r.get("baseline")), rows[0])
        for r in rows:
            speedup = base["median_s"] / r["median_s"] if r["median_s"] > 0 else float("inf")
            print(
                f"{case:<28} {r['impl']:<26} {_fmt(r['median_s']):>12} {_fmt(r.get('best_s', r['median_s'])):>12}"
                f" {speedup:>11.2f}x",
                file=file,
            )
    for line in doc.get("notes", []):
        print(f"# {line}", file=file)


def _fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def write_json(doc, path):
    """Write the document atomically (never a half-written file)."""
    atomic_file.write_json(doc, path)
