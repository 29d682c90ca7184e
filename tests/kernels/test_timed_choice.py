"""``TimedChoice``: options giving the same result, chosen by the time of the calls they serve."""

import time

import pytest

from mesimp_engine.kernels import timed_choice
from mesimp_engine.kernels.timed_choice import (
    MAX_RETRY_EVERY, RECENT, RETRY_EVERY, RETRY_SHARE, TimedChoice, TimedChoices, forced,
)


class Options:
    """Two options returning the same value; ``slow`` (an index) sleeps ``delay`` seconds
    (a parallel kernel waiting for a busy core)."""

    def __init__(self, slow):
        self.slow, self.delay, self.ran = slow, 0.002, []

    def option(self, i):
        def run(x):
            self.ran.append(i)
            if i == self.slow:
                time.sleep(self.delay)
            return 2 * x
        return run


def _choice(slow):
    options = Options(slow)
    return options, TimedChoice([options.option(0), options.option(1)])


def test_it_goes_round_the_options_then_keeps_the_faster():
    options, choice = _choice(slow=0)
    assert [choice(x) for x in range(2 * RECENT)] == [2 * x for x in range(2 * RECENT)]
    assert options.ran == [0, 1] * RECENT and choice.best == 1
    options.ran.clear()
    for x in range(RETRY_EVERY - 1):
        assert choice(x) == 2 * x
    assert options.ran == [1] * (RETRY_EVERY - 1)


def _drive(choice, seconds, calls):
    """``calls`` picks, each recorded as taking ``seconds[option]``: the options' indices."""
    ran = []
    for _ in range(calls):
        i = choice.pick()
        choice.record(i, seconds[i])
        ran.append(i)
    return ran


def _gaps(ran, option, start):
    runs = [n for n, i in enumerate(ran) if i == option and n >= start]
    return [b - a for a, b in zip(runs, runs[1:])]


def test_retries_grow_apart_while_the_choice_stands():
    choice = TimedChoice([abs, abs])
    # a retry of option 0 costs 1.2 calls of option 1: the next may come 60 calls later
    ran = _drive(choice, [1.2, 1.0], 2 * RECENT + 2 * MAX_RETRY_EVERY + 1100)
    assert _gaps(ran, 0, 2 * RECENT)[:7] == [60, 64, 128, 256, 512, 1024, 1024]
    assert set(_gaps(ran, 0, 2 * RECENT)[6:]) == {MAX_RETRY_EVERY}
    assert choice.best == 1 and choice.interval == MAX_RETRY_EVERY


def test_a_slow_retry_waits_until_it_is_a_small_share_of_the_time():
    """A parallel kernel beside a busy process: a retry waits for a core, 100 times the
    chosen kernel's time; the next comes after calls that took 1 / RETRY_SHARE times that."""
    choice = TimedChoice([abs, abs])
    ran = _drive(choice, [100.0, 1.0], 2 * RECENT + 3 * round(100 / RETRY_SHARE) + 10)
    gaps = _gaps(ran, 0, 2 * RECENT)
    assert gaps == [round(100 / RETRY_SHARE)] * 2 and choice.best == 1


def test_a_choice_that_turned_slow_is_left_at_once():
    options, choice = _choice(slow=0)
    for x in range(2 * RECENT + 3 * RETRY_EVERY):
        choice(x)
    assert choice.best == 1
    options.slow, options.delay = 1, 0.006  # the machine got busy: the chosen option waits longer
    options.ran.clear()                       # than the other was last timed
    for x in range(RECENT):
        choice(x)
    assert options.ran[:RECENT // 2 + 1] == [1] * (RECENT // 2 + 1)  # its median passes the other's
    assert choice.best == 0
    options.ran.clear()
    for x in range(RETRY_EVERY - 1):
        choice(x)
    assert set(options.ran) == {0}


def test_a_retry_that_is_faster_brings_the_next_one_soon():
    choice = TimedChoice([abs, abs])
    _drive(choice, [1.2, 1.0], 2 * RECENT + 200)
    assert choice.best == 1 and choice.interval > RETRY_EVERY
    ran = []
    while not ran or ran[-1] != 0:
        ran += _drive(choice, [0.5, 1.0], 1)  # the machine got idle: the retry is faster
    assert choice.interval == RETRY_EVERY and choice.best == 1  # one fast timing of five
    ran = _drive(choice, [0.5, 1.0], 4 * RETRY_EVERY)
    assert _gaps([0] + ran, 0, 0)[:2] == [RETRY_EVERY, RETRY_EVERY]  # two more confirm it ...
    assert choice.best == 0  # ... and their median is now the lower
    ran = _drive(choice, [0.5, 1.0], RETRY_EVERY - 1)
    assert set(ran) == {0}


def test_forced_runs_one_option_untimed():
    options, choice = _choice(slow=None)
    with forced(1):
        assert [choice(x) for x in range(5)] == [0, 2, 4, 6, 8]
    assert options.ran == [1] * 5 and all(len(t) == 0 for t in choice.times)
    assert timed_choice._forced is None


def test_no_options_is_an_error():
    with pytest.raises(ValueError, match="at least one option"):
        TimedChoice([])


def test_choices_are_kept_per_key_up_to_a_limit():
    made = []
    choices = TimedChoices(lambda key: made.append(key) or TimedChoice([abs]), limit=2)
    first = choices("a")
    assert choices("a") is first and made == ["a"]
    choices("b"), choices("c")  # "a", the oldest, is dropped
    assert list(choices.choices) == ["b", "c"] and choices("a") is not first
