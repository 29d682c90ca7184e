"""Train a table's runs several at a time: ``mesimp-engine reproduce TABLE --jobs N``.

Each run trains in a process of its own (``spawn``: a fresh interpreter, no thread pool
inherited through ``fork``), at most N at a time, with the machine's cores shared out: on
C cores each gets max(1, C // N) threads, for Numba's kernels and for BLAS, through the
environment it starts with (``NUMBA_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``). A run's lines (one per epoch, and a progress line
a minute within an epoch: ``HEARTBEAT_S``) go to ``train.log`` in its folder; the caller's
log gets them too, prefixed with the row's number, as they are written. A finished run is
read by a process of its own too, in a few seconds.

Why processes and not a bigger thread pool: the papers' models are small (a mini-batch of
10 MNIST images, one sentence of the tagger), so one run cannot keep two cores busy. Each
run's numbers do not depend on its thread count (the engine's kernels sum in the same order
whatever the thread count, ``sparsity.meprop._chunk``; a test checks Table 1's runs against
one-at-a-time runs). Epoch times measured while other runs share the machine are longer
than alone; the table says how its runs were trained.

A run that fails stops the table: no new run starts, the running ones finish (their work is
kept), and the error names the failed run and its log. An interrupted call (Ctrl-C) stops
every run at once; each keeps its last checkpoint (written atomically), and repeating the
call goes on from there.
"""

import multiprocessing
import multiprocessing.connection
import os
import time

from mesimp_engine.environment import cores

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
    context = multiprocessing.get_context("spawn")
    waiting, running, failed = list(todo), [], []
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})  # what the workers start with
    try:
        while running or (waiting and not failed):
            while waiting and len(running) < jobs and not failed:
                running.append(_Worker(context, train, *waiting.pop(0), total, log))
            multiprocessing.connection.wait([w.process.sentinel for w in running], timeout=POLL_S)
            for worker in list(running):
                outcome = worker.poll()
                if outcome is None:
                    continue
                running.remove(worker)
                if outcome[0] == "done":
                    doc = docs[worker.settings.out] = outcome[1]
                    log(f"[{worker.i}/{total}] {worker.label}: {finished_line(doc, worker.start)}")
                else:
                    failed.append((worker, outcome[1]))
    except BaseException:  # Ctrl-C, or an error here: stop every worker (checkpoints are atomic)
        for worker in running:
            worker.process.terminate()
        for worker in running:
            worker.process.join()
        raise
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if failed:
        worker, error = failed[0]
        raise RunFailed(f"run {worker.settings.out} ({worker.label}) failed: {error} (its lines: {worker.path}; "
                        f"repeat the command to go on from the runs' checkpoints)")


def started_line(i, total, label, settings):
    """The line that announces run i of total (here and when runs train one at a time)."""
    return f"[{i}/{total}] {label}: {settings.epochs} epoch(s) -> {settings.out}"


def finished_line(doc, start):
    """The scores of a run's results document and the seconds since ``start``."""
    return f"dev {doc['dev']:.2f}  test {doc['test']:.2f}  ({time.perf_counter() - start:.0f} s)"


class _Worker:
    """One run in a process of its own: its log file read on from where it was last read
    (new lines go to the caller's log with the row's number) and its outcome."""

    def __init__(self, context, train, i, label, settings, total, log):
        self.i, self.label, self.settings, self.log = i, label, settings, log
        self.path = os.path.join(settings.out, LOG_NAME)
        self.offset = os.path.getsize(self.path) if os.path.exists(self.path) else 0  # earlier calls' lines
        self.conn, child = context.Pipe(duplex=False)
        self.process = context.Process(target=_work, args=(train, settings, self.path, child), daemon=True)
        log(started_line(i, total, label, settings))
        self.start = time.perf_counter()
        self.process.start()
        child.close()

    def poll(self):
        """Forward the run's new lines; its outcome once it has one: ("done", document) or
        ("failed", message), else None."""
        self.forward()
        if self.conn.poll():
            try:
                outcome = self.conn.recv()
            except EOFError:  # the process ended without a word
                outcome = None
            else:
                self.process.join()
                self.forward()
                return outcome
        if self.process.exitcode is None:
            return None
        self.forward()
        return "failed", f"its process ended with exit code {self.process.exitcode}"

    def forward(self):
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            f.seek(self.offset)
            text = f.read()
        complete = text[: text.rfind("\n") + 1]  # a line being written waits for its end
        self.offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            self.log(f"      [{self.i}] {line}")


def _work(train, settings, path, conn):
    """A worker process: train one run, send its outcome to the caller."""
    import threading

    from tqdm import tqdm

    # tqdm's default lock holds a multiprocessing semaphore, which a worker stopped by
    # Ctrl-C would leave for the resource tracker to warn about; a worker needs no such lock
    tqdm.set_lock(threading.RLock())
    try:
        conn.send(("done", _train_logged(train, settings, path)))
    except KeyboardInterrupt:
        pass  # the caller was interrupted too: it stops
    except Exception as error:
        conn.send(("failed", f"{type(error).__name__}: {error}"))
    finally:
        conn.close()


def _train_logged(train, settings, path):
    """Train one run, its lines appended to ``path``, the first saying where it runs."""
    os.makedirs(settings.out, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        def log(line):
            f.write(line + "\n")
            f.flush()

        import numba

        log(f"process {os.getpid()}, {numba.get_num_threads()} Numba thread(s)")
        return train(settings, log)
