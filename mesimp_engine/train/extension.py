"""``Extension``: how a method (meSimp, meAct, DropBack, GSM) hooks into the training loop.

The trainer calls, per epoch: ``start_epoch(epoch)`` before its first step (not again when a
run resumes mid-epoch); per step ``before_step(indices)`` with the mini-batch's example
indices, then the training step, then ``after_step(n_examples)``; ``evaluating()`` around
every dev and test evaluation; ``end_epoch(epoch)`` after the epoch's evaluation, whose dict
is added to the epoch's record. ``state()`` (JSON-able) and ``state_arrays()`` (name ->
array) go into every checkpoint and come back through ``load_state``; ``results()`` is
added to ``results.json``. Every hook does nothing by default.
"""

import contextlib


class Extension:
    def start_epoch(self, epoch):
        pass

    def before_step(self, indices):
        pass

    def after_step(self, n_examples):
        pass

    @contextlib.contextmanager
    def evaluating(self):
        yield

    def end_epoch(self, epoch):
        return {}

    def state(self):
        return None

    def state_arrays(self):
        return {}

    def load_state(self, state, arrays):
        pass

    def results(self):
        return {}
