"""``--record-update``: the meSimp paper's average absolute parameter update.

The paper (its meAct passage) reports, per epoch, the mean over parameters and iterations
of |w_t - w_(t-1)|: the change the optimizer made, not the gradient (Adam's step is not the
gradient). ``UpdateMeter`` keeps a copy of every trainable parameter and, after each step,
adds sum |w - copy| while bringing the copy up to date (``kernels.update_size``: one pass).

Choices: every trainable parameter counts, biases included (the paper: "the parameters");
a parameter whose shape changed since the last step (meSimp's pruning) restarts its copy and
adds nothing for that step. The copy equals the values after every step, so a resumed run
rebuilds it from the loaded model and the sums go on unchanged.
"""

from mesimp_engine.kernels.update_size import abs_change_


class UpdateMeter:
    def __init__(self, params):
        self.params = [p for p in params if p.requires_grad]
        self.copies = [p.value.copy() for p in self.params]

    def measure(self):
        """(sum |w - previous w| over every entry, number of entries) since the last call."""
        total, count = 0.0, 0
        for i, p in enumerate(self.params):
            w = p.value.reshape(-1)
            if self.copies[i].shape != p.value.shape:
                self.copies[i] = p.value.copy()
                continue
            total += abs_change_(w, self.copies[i].reshape(-1))
            count += w.size
        return total, count
