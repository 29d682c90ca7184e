"""Train a table's runs several at a time: ``mesimp-engine reproduce TABLE --jobs N``.

Each run trains in a worker process of its own (``spawn``: a fresh interpreter, no thread
pool inherited through ``fork``) with the machine's cores shared out: with N jobs on C cores
each worker gets max(1, C // N) threads, for Numba's kernels and for BLAS, through the
environment it starts with (``NUMBA_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``). A run's lines (one per epoch, and a progress
line a minute within an epoch: ``HEARTBEAT_S``) go to
``train.log`` in its folder; the caller's log gets them too, prefixed with the row's number,
as the workers write them (a finished run is read by a worker too, in a few seconds).

Why processes and not a bigger thread pool: the papers' models are small (a mini-batch of
10 MNIST images, one sentence of the tagger), so one run cannot keep two cores busy; two
runs at a time on 2 cores finish a table in about half the time, and each run's numbers do
not depend on the number of its threads (the engine's kernels sum in the same order
whatever the thread count, ``sparsity.meprop._chunk``). Epoch times measured while other
runs share the machine are longer than alone; the table says how its runs were trained.

A run that fails stops the table: no new run starts, the running ones finish (their work is
kept), and the error names the failed run and its log. An interrupted call (Ctrl-C) leaves
each run at its last checkpoint; repeating the call goes on from there.
"""

import concurrent.futures
import multiprocessing
import os
import time

from mesimp_engine.bench.harness import cores

LOG_NAME = "train.log"
"""The file in a run's folder that gets the run's lines when it trains in a worker."""

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

HEARTBEAT_S = 60.0
"""Seconds between a worker's progress lines within an epoch (there is no progress bar)."""

POLL_S = 2.0
"""Seconds between looks at the running workers' logs."""


def threads_per_job(jobs):
    """Threads each of ``jobs`` workers gets: the cores shared out, at least one."""
    return max(1, cores() // jobs)


class RunFailed(RuntimeError):
    """A run trained in a worker raised: names the run, its log and the error."""


def train_runs(train, runs, jobs, log):
    """Train ``runs`` (a list of (label, settings)) with ``train(settings, log)`` (a function
    of a module: the workers import it), ``jobs`` at a time; return their results documents
    in the order given. Runs with the same folder (``settings.out``) are trained once."""
    todo, folders = [], set()
    for i, (label, settings) in enumerate(runs, 1):
        if settings.out not in folders:
            folders.add(settings.out)
            todo.append((i, label, settings))
    docs = {}
    _train_in_workers(train, todo, len(runs), jobs, log, docs)
    return [docs[settings.out] for _, settings in runs]


def _train_in_workers(train, todo, total, jobs, log, docs):
    threads = threads_per_job(jobs)
    log(f"{len(todo)} run(s), {min(jobs, len(todo))} at a time with {threads} thread(s) each; "
        f"each run's lines also go to {LOG_NAME} in its folder")
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})  # the workers' environment
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context)
    try:
        _run_pool(pool, train, todo, total, log, docs)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    pool.shutdown()


def _run_pool(pool, train, todo, total, log, docs):
    """Submit every run, forward their log lines as they come, collect the documents; on a
    failure cancel the runs not started, let the running ones finish, then raise."""
    running = {}
    for i, label, settings in todo:
        path = os.path.join(settings.out, LOG_NAME)
        future = pool.submit(_train_logged, train, settings, path)
        running[future] = _Tail(i, total, label, settings, path, log)
    failed = []
    while running:
        done, _ = concurrent.futures.wait(running, timeout=POLL_S, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
            tail = running.pop(future)
            tail.forward()
            if future.cancelled():
                continue
            error = future.exception()
            if error is not None:
                failed.append((tail, error))
                for other in running:
                    other.cancel()
                continue
            doc = future.result()
            docs[tail.settings.out] = doc
            log(f"[{tail.i}/{total}] {tail.label}: dev {doc['dev']:.2f}  test {doc['test']:.2f}  "
                f"({time.perf_counter() - tail.start:.0f} s)")
        for tail in running.values():
            tail.forward()
    if failed:
        tail, error = failed[0]
        raise RunFailed(f"run {tail.settings.out} ({tail.label}) failed: {type(error).__name__}: {error} "
                        f"(its lines: {tail.path}; repeat the command to go on from the runs' checkpoints)")


def _train_logged(train, settings, path):
    """In a worker: train one run, its lines appended to ``path`` (the first says where it
    runs: the caller takes it as the run's start)."""
    os.makedirs(settings.out, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        def log(line):
            f.write(line + "\n")
            f.flush()

        import numba

        log(f"process {os.getpid()}, {numba.get_num_threads()} Numba thread(s)")
        return train(settings, log)


class _Tail:
    """A worker's log file, read on from where it was last read: its new lines go to the
    caller's log with the row's number; the first one marks the run started."""

    def __init__(self, i, total, label, settings, path, log):
        self.i, self.total, self.label, self.settings, self.path, self.log = i, total, label, settings, path, log
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0  # earlier calls' lines
        self.start = None

    def forward(self):
        if self.start is None and _started(self.path, self.offset):
            self.start = time.perf_counter()
            self.log(f"[{self.i}/{self.total}] {self.label}: {self.settings.epochs} epoch(s) -> {self.settings.out}")
        if self.start is None:
            return
        with open(self.path, encoding="utf-8") as f:
            f.seek(self.offset)
            text = f.read()
        complete = text[: text.rfind("\n") + 1]  # a line being written waits for its end
        self.offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            self.log(f"      [{self.i}] {line}")


def _started(path, offset):
    return os.path.exists(path) and os.path.getsize(path) > offset
