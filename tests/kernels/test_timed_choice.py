"""``TimedChoice``: options giving the same result, chosen by the time of the calls they serve."""

import time

import pytest

from mesimp_engine.kernels import timed_choice
from mesimp_engine.kernels.timed_choice import MAX_RETRY_EVERY, RECENT, RETRY_EVERY, TimedChoice, TimedChoices, forced


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


def test_retries_grow_apart_while_the_choice_stands():
    options, choice = _choice(slow=0)
    calls = 2 * RECENT + 2 * MAX_RETRY_EVERY + 1100
    for x in range(calls):
        choice(x)
    retries = [n for n, i in enumerate(options.ran) if i == 0 and n >= 2 * RECENT]
    gaps = [b - a for a, b in zip(retries, retries[1:])]
    assert gaps[:6] == [32, 64, 128, 256, 512, 1024] and set(gaps[6:]) <= {1024}
    assert choice.best == 1 and choice.interval == MAX_RETRY_EVERY


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
    options, choice = _choice(slow=0)
    for x in range(2 * RECENT + 200):
        choice(x)
    assert choice.best == 1 and choice.interval > RETRY_EVERY
    options.slow = 1  # the chosen option now waits ...
    choice.medians[1] = choice.medians[0] = 1.0  # ... but no call of it has been timed since
    options.ran.clear()
    while not options.ran or options.ran[-1] != 0:
        choice(0)
    assert choice.interval == RETRY_EVERY


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
