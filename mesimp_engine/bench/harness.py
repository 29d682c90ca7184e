"""What every benchmark shares: timing, the document (with ``environment()``) and the table.

A benchmark is a list of cases; each case has named implementations that are first
validated against a reference on the case's data, then timed: ``warmup`` calls excluded,
then ``repeats`` timed calls, of which the median (and the best) are reported. Ratios are
computed between rows of the same case in the same run, never across runs.
"""

import statistics
import sys
import time


from mesimp_engine.environment import environment


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


def time_round_robin(fns, repeats, min_time=0.1, pause=0.25):
    """Time each of ``fns`` (name -> callable), one sample of each per round, ``repeats`` rounds,
    so that a change in the machine's load hits every implementation alike; each sample starts
    after a ``pause`` (seconds), so that it does not pay for the previous one's spinning threads.
    Each callable should have been called once already (validated, warm). A sample loops a short
    call (judged by the best of three calls, so one slow wake-up does not decide) to last about
    ``min_time`` (min_time <= 0: one call per sample, nothing called beforehand; for long
    calls such as a training epoch). Returns name -> {"median_s", "best_s", "repeats", "inner"}."""
    inner = {name: 1 for name in fns}
    for name, fn in (fns.items() if min_time > 0 else ()):
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


def document(name, results, **extra):
    """The JSON document of SPEC section 5: ``{"bench", "environment", "results", ...}``."""
    return {"bench": name, "environment": environment(), "results": results, **extra}


def ratio(results, case, slow_impl, fast_impl):
    """median_s(slow_impl) / median_s(fast_impl) for two rows of the same case."""
    times = {r["impl"]: r["median_s"] for r in results if r["case"] == case}
    return times[slow_impl] / times[fast_impl]


def print_table(doc, file=None):
    """Print the results grouped by case: time per implementation and its speed-up over the
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
    # columns as wide as the longest case and implementation name (at least 28 and 26)
    cw = max([28] + [len(r["case"]) for r in results])
    iw = max([26] + [len(r["impl"]) for r in results])
    header = f"{'case':<{cw}} {'impl':<{iw}} {'median':>12} {'best':>12} {'speed-up':>12}"
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
            cell = "-" if len(rows) == 1 else "baseline" if r is base else f"{speedup:.2f}x"
            print(
                f"{case:<{cw}} {r['impl']:<{iw}} {_fmt(r['median_s']):>12} {_fmt(r.get('best_s', r['median_s'])):>12}"
                f" {cell:>12}",
                file=file,
            )
    print("# speed-up: the case's baseline row's median time / this row's (above 1x: faster than the baseline)",
          file=file)
    for line in doc.get("notes", []):
        print(f"# {line}", file=file)


def _fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"

