"""DropBack and GSM in the training loop: what they keep, reported each epoch, and GSM's
final magnitude cut applied to what dev and test score.

Both train every weight of the model's arrays but keep a budget of k: DropBack keeps k
entries away from their (regenerated) initial values, GSM lets k weights receive the loss
gradient and, at the end, keeps the k of largest magnitude (``optim.gsm.magnitude_cut_``).

Choice for GSM: the paper cuts once, after training. Here every evaluation (each epoch's
end and ``--evals-per-epoch`` points) scores the cut model (a cut copy of the weights;
training goes on from the uncut ones), so the dev selection picks among models that could
be deployed, and the test score reported is the cut model's. The checkpoint keeps the
uncut weights: resuming continues the same training.
"""

import contextlib

import numpy as np

from mesimp_engine.optim.gsm import is_weight, magnitude_cut_, weight_count
from mesimp_engine.train.extension import Extension


class WeightBudget(Extension):
    """The report (and, for GSM, the cut at evaluation) of a DropBack or GSM run."""

    def __init__(self, method, optimizer, log=print):
        self.method, self.optimizer, self.log = method, optimizer, log
        self.params = optimizer.params
        if method == "dropback":
            self.k, self.total = optimizer.k, optimizer.total
        else:
            self.k, self.total = optimizer.q, weight_count(self.params)

    # DropBack and GSM act in their optimizers: no step hooks, no state of their own
    @contextlib.contextmanager
    def evaluating(self):
        """GSM: the weights cut to the k largest while dev and test are scored."""
        if self.method != "gsm":
            yield
            return
        saved = [p.value.copy() for p in self.params]
        magnitude_cut_(self.params, self.k)
        try:
            yield
        finally:
            for p, value in zip(self.params, saved):
                p.value[...] = value

    def end_epoch(self, epoch):
        """DropBack: the entries away from their initial values (at most k). GSM: the share
        of the weights' L1 mass the cut removes (it falls as the unselected weights decay)."""
        if self.method == "dropback":
            kept = self.optimizer.moved_entries()
            self.log(f"  dropback: {kept:,} of {self.total:,} weights away from their initial values "
                     f"({self.total / max(kept, 1):.1f}x)")
            return {"kept_weights": kept}
        before = self._weight_mass()
        with self.evaluating():
            after = self._weight_mass()
        removed = 1 - after / before if before else 0.0
        self.log(f"  gsm: the cut to {self.k:,} of {self.total:,} weights ({self.total / self.k:.1f}x) removes "
                 f"{100 * removed:.2f}% of their L1 mass")
        return {"kept_weights": self.k, "cut_removes_l1_share": removed}

    def _weight_mass(self):
        return sum(float(np.abs(p.value).sum()) for p in self.params if is_weight(p))

    def results(self):
        return {"weight_budget": self.k, "weights_counted": self.total, "compression": self.total / self.k}
