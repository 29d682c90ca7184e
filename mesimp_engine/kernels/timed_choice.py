"""Choose among kernels that compute the same thing by timing the calls they serve.

Why: a Numba parallel region waits for all its threads. On a machine whose other cores are
busy (another training run, a test suite, a second user), a thread of the region waits for
a core for a scheduler time slice, milliseconds, however small its share of the work. The
papers' MNIST MLP on 2 cores with another process on each (measured, Ice Lake): one Adam
step of the six parameters took 45 ms with the parallel update against 1.2 ms on one
thread, the whole training step 47 ms against 2.8 ms; the POS tagger's update 123 ms
against 4.2 ms a sentence. On an idle machine the parallel kernel is the faster one for
large arrays. Neither choice is right for good, so the engine measures.

``TimedChoice(options)``: each option is a callable giving the same result. The first
calls go round the options until each has ``RECENT`` timings; from then on every call runs
the option with the lowest median of its last ``RECENT`` timings. The chosen option is left
as soon as its median passes another's (the machine got busy: a parallel kernel's calls
slow down at once). A call every so often runs another option (a retry), so that a choice
made while the machine was busy is revisited when it is idle again. The retries start
``RETRY_EVERY`` calls apart; while they find nothing faster their distance doubles, up to
``MAX_RETRY_EVERY``, and it starts again at ``RETRY_EVERY`` when a retry is faster than the
choice's median (to confirm it soon) or changes the choice. A retry that was slower also
waits until the calls since it have taken ``1 / RETRY_SHARE`` times its time (at the choice's
median): under lasting contention a retry of a parallel kernel waits for a core, a
scheduler time slice of milliseconds, 100 times the 50 us its call takes on an idle machine,
so that one in 1,024 calls would cost a tenth of the kernel's time. Measured (Zen 4, the
MNIST meProp step beside a busy process, 4,000 steps): each of the step's seven choices
retried 8-17 times, a parallel retry waiting 4-6 ms; with the share, 1-3 times, and the
whole step's time, against always one thread, went from 0.82-0.85x to 0.91-0.96x (6,000
steps). Results never depend on the choice.

``forced(i)`` makes every choice run option i (a benchmark's "always parallel" baseline). The
engine's choices between threads list the parallel kernel first: ``forced(0)`` runs them all
in parallel, ``forced(1)`` all on one thread.
``TimedChoices`` keeps one choice per key (an array size, a problem's shape).
"""

import collections
import contextlib
import math
import time

import numba

RECENT = 5
"""Timings per option whose median is the option's time."""

RETRY_EVERY = 16
"""Calls between retries of another option, after a retry that changed the choice."""

MAX_RETRY_EVERY = 1024
"""The longest distance in calls between retries (reached after six retries that changed
nothing), unless ``RETRY_SHARE`` asks for more."""

RETRY_SHARE = 0.02
"""The largest share of a choice's time its slow retries may take: after a retry slower than
the choice, the next waits until the calls since have taken ``1 / RETRY_SHARE`` times as long."""

_forced = None


@contextlib.contextmanager
def forced(index):
    """Every ``TimedChoice`` runs option ``index`` inside the block (none is timed)."""
    global _forced
    saved, _forced = _forced, index
    try:
        yield
    finally:
        _forced = saved


class TimedChoice:
    """Options that compute the same thing, timed on the calls they serve (see the module
    docstring). ``choice(*args)`` runs one and returns its result, ``choice.run(call)`` gives
    ``call`` the option instead; ``pick()`` and
    ``record(i, seconds)`` do the same for a caller that times its own calls (and may skip
    recording one that is no measure of the kernel). ``best`` is the current choice."""

    __slots__ = ("options", "times", "medians", "best", "calls", "next_retry", "interval", "retrying")

    def __init__(self, options):
        if len(options) < 1:
            raise ValueError("TimedChoice needs at least one option")
        self.options = list(options)
        self.times = [collections.deque(maxlen=RECENT) for _ in self.options]
        self.medians = [float("inf")] * len(self.options)
        self.best = 0
        self.calls = 0
        self.next_retry = None  # None: still going round the options
        self.interval = RETRY_EVERY
        self.retrying = None

    def __call__(self, *args):
        return self.run(lambda option: option(*args))

    def run(self, call):
        """``call(option)`` for the option ``pick`` gives, timed and recorded: for options
        that are not callables themselves (a kernel's parameter, say)."""
        i = self.pick()
        start = time.perf_counter()
        result = call(self.options[i])
        self.record(i, time.perf_counter() - start)
        return result

    def pick(self):
        """The option the next call should run (the forced one inside ``forced``)."""
        if _forced is not None:
            return min(_forced, len(self.options) - 1)
        self.calls += 1
        if self.next_retry is None:
            counts = [len(times) for times in self.times]
            return counts.index(min(counts))  # going round: the least timed
        if self.calls < self.next_retry or len(self.options) == 1:
            return self.best
        retries = self.calls // RETRY_EVERY
        self.retrying = (self.best + 1 + retries % (len(self.options) - 1)) % len(self.options)
        return self.retrying

    def record(self, i, seconds):
        """Keep a timing of option ``i``; choose again when the options have all been timed
        ``RECENT`` times, after each retry, and when the chosen option's median passes
        another's."""
        if _forced is not None:
            return
        times = self.times[i]
        times.append(seconds)
        self.medians[i] = sorted(times)[len(times) // 2]
        if self.next_retry is None:
            if all(len(times) == RECENT for times in self.times):
                self.choose()
                self.next_retry = self.calls + self.interval
            return
        if i == self.retrying:
            self.retrying = None
            before = self.best
            self.choose()
            if self.best != before or seconds < self.medians[before]:  # promising: confirm soon
                self.interval = RETRY_EVERY
                self.next_retry = self.calls + self.interval
            else:
                self.interval = min(2 * self.interval, MAX_RETRY_EVERY)
                affordable = seconds / (RETRY_SHARE * max(self.medians[self.best], 1e-9))
                self.next_retry = self.calls + max(self.interval, math.ceil(affordable))
        elif i == self.best and self.medians[i] > min(self.medians):
            self.choose()

    def choose(self):
        """Make ``best`` the option with the lowest median of its recent timings."""
        self.best = self.medians.index(min(self.medians))


class TimedChoices:
    """``TimedChoice`` objects by key (a call site's shape, dtype, ...), each made on its
    first use by ``make(key)``; at most ``limit`` are kept, the oldest dropped first."""

    __slots__ = ("make", "limit", "choices")

    def __init__(self, make, limit=256):
        self.make, self.limit, self.choices = make, limit, {}

    def __call__(self, key):
        choice = self.choices.get(key)
        if choice is None:
            if len(self.choices) >= self.limit:
                del self.choices[next(iter(self.choices))]
            choice = self.choices[key] = self.make(key)
        return choice


THREADS = TimedChoices(lambda key: TimedChoice([True, False]))
"""Per key (a kernel's name, its problem's shape and dtype, the thread count), whether the
kernel has been faster lately on all of Numba's threads (True) or on this one (False)."""


def on_threads(key, call, worth_threads=True):
    """``call(parallel, threads)`` for a kernel that can run on all of Numba's ``threads``
    (``parallel``) or on this one: on this one when there is only one or the problem is too
    small to be ``worth_threads``, else whichever has been faster lately for ``key`` (the
    kernel's name, shape and dtype; ``THREADS``)."""
    threads = numba.get_num_threads()
    if threads == 1 or not worth_threads:
        return call(False, 1)
    return THREADS((*key, threads)).run(lambda parallel: call(parallel, threads))
