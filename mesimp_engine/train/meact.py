"""meAct (minimal effort activation, from the meSimp paper) in the training loop.

For each training example and each hidden layer, the absolute gradient of every unit's
output is accumulated over the passes in which the example is seen. From epoch
``start_epoch`` on, a unit whose accumulated gradient is a small share of the layer's is
inactive for that example: it is not updated through that example (no gradient) and it
outputs the value it had the last time the example was seen. At test time the forward pass
is computed normally (the active paths of unseen examples are unknown).

Choices where the paper's text is vague (it has lost its numbers):

- The threshold rule. Unit j is inactive for example e when its accumulated absolute
  gradient G[e, j] is below ``threshold`` times the layer's mean for that example,
  i.e. its share G[e, j] / sum_j G[e, j] is below threshold / n_units. threshold = 1 keeps
  the units with at least an average share.
- Accumulation runs in every epoch, including the first ``start_epoch - 1`` epochs that
  train normally; an inactive unit accumulates nothing more (the paper: a deactivated
  neuron's gradients are zeros), so once inactive for an example it stays inactive for
  it: the layer's mean can only grow.
- The cached outputs are kept in the model's dtype; the accumulated gradients in float32.
- "Not computed": this implementation computes the layer for all units and then replaces
  the inactive ones (``sparsity.active_path``); the result and the gradients are exactly
  meAct's, the forward cost is not reduced. The report gives the share of units active.
"""

import numpy as np

from mesimp_engine.sparsity.active_path import active_path
from mesimp_engine.train.extension import Extension


class MeAct(Extension):
    """meAct's active paths on an MLP's hidden layers (see the module docstring)."""

    def __init__(self, model, n_train, threshold=1.0, start_epoch=2, log=print):
        if not hasattr(model, "activation_hooks"):
            raise ValueError(f"meAct needs an MLP-style model; {type(model).__name__} has no activation hooks")
        widths = model.hidden_sizes()
        dtype = model.output.weight.dtype
        self.threshold, self.start, self.log = threshold, start_epoch, log
        self.grad_sum = [np.zeros((n_train, w), dtype=np.float32) for w in widths]
        self.cache = [np.zeros((n_train, w), dtype=dtype) for w in widths]
        self.ids = None
        self.applying = False
        self.active = self.total = 0
        self.history = []
        model.activation_hooks = [self._hook(i) for i in range(len(widths))]

    def _hook(self, layer):
        def replace_inactive(h):
            ids = self.ids
            sums = self.grad_sum[layer]
            if self.applying:
                g = sums[ids]
                active = g >= self.threshold * g.mean(axis=1, keepdims=True)
                cached = self.cache[layer][ids]
            else:
                active = np.ones(h.shape, dtype=bool)
                cached = np.zeros(h.shape, dtype=h.dtype)
            self.active += int(active.sum())
            self.total += active.size

            def accumulate(dh):
                sums[ids] += np.abs(dh)  # what each unit receives: 0 where inactive

            out = active_path(h, active, cached, accumulate)
            self.cache[layer][ids] = out.value
            return out

        return replace_inactive

    def start_epoch(self, epoch):
        self.applying = epoch >= self.start
        if epoch == self.start:
            self.log(f"epoch {epoch}: meAct on (threshold {self.threshold} x the layer's mean accumulated gradient)")

    def before_step(self, indices):
        self.ids = np.asarray(indices)

    def end_epoch(self, epoch):
        share = self.active / self.total if self.total else 1.0
        self.history.append({"epoch": epoch, "active_share": share, "applied": self.applying})
        self.active = self.total = 0
        return {"active_share": share}

    # ------------------------------------------------------------------ checkpoint
    def state(self):
        return {"history": self.history, "active": self.active, "total": self.total, "applying": self.applying}

    def state_arrays(self):
        arrays = {f"grad_sum/{i}": g for i, g in enumerate(self.grad_sum)}
        arrays.update({f"cache/{i}": c for i, c in enumerate(self.cache)})
        return arrays

    def load_state(self, state, arrays):
        self.history, self.active, self.total = state["history"], state["active"], state["total"]
        self.applying = state["applying"]  # a resume mid-epoch does not call start_epoch again
        for i in range(len(self.grad_sum)):
            self.grad_sum[i] = arrays[f"grad_sum/{i}"]
            self.cache[i] = arrays[f"cache/{i}"]

    def results(self):
        applied = [h["active_share"] for h in self.history if h["applied"]]
        return {"meact": {"threshold": self.threshold, "start_epoch": self.start, "epochs": self.history,
                          "active_share": float(np.mean(applied)) if applied else None}}
