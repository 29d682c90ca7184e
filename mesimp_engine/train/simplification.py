"""meSimp in the training loop: count which hidden units meProp selects, prune the
seldom-selected ones at the schedule's prune points, re-initialise the optimizer at every
cycle start, and log the widths.

The trainer calls ``start_epoch`` before the first step of each epoch and ``after_step``
after each optimizer step; pruning happens there, after the update, so the trimmed model
and its optimizer state are what the next step starts from. The records, the schedule and
the width history are part of the checkpoint (``state`` / ``load_state``), so a resumed
run prunes at the same points as an uninterrupted one.
"""

import numpy as np

from mesimp_engine.simplify.activity import ActivityRecord
from mesimp_engine.simplify.prune import prune_mlp_, prune_tagger_
from mesimp_engine.simplify.schedule import PruneSchedule
from mesimp_engine.train.extension import Extension


def prunable_units(model):
    """The layers meSimp prunes, how to count their selections and how to prune them:
    (layers, widths, count(record, selected, batch_size), prune(model, records, rate))."""
    if hasattr(model, "hidden_layers"):
        layers = list(model.hidden_layers)
        return layers, [layer.out_features for layer in layers], _count_units, prune_mlp_
    if hasattr(model, "bilstm"):
        cells = [model.bilstm.forward_lstm.cell, model.bilstm.backward_lstm.cell]
        return cells, [cell.hidden_size for cell in cells], _count_cells, prune_tagger_
    raise ValueError(f"meSimp does not know which units of a {type(model).__name__} to prune")


def _count_units(record, selected, carried, batch_size):
    record.update(selected, batch_size=batch_size, carried=carried)


def _count_cells(record, selected, carried, batch_size):
    # one row per time step: a token is an example; its 4 gates' selections merge per cell
    record.update_gates(selected, batch_size=batch_size, carried=carried)


class MeSimp(Extension):
    """Simplification of the hidden layers of an MLP or the parser's MLP, or of the cells
    of the tagger's two LSTMs (a cell is the unit; its four gates' top-k merge per token).

    prune_rate: a unit survives a prune point if it was in the top-k of at least
    floor(prune_rate * examples seen) examples since the last one. interval: examples
    between prune points (default: ``prune_points`` per epoch). cycle: epochs per cycle
    (None: every epoch simplifies and the optimizer is never reset). keep_step: at a
    cycle start zero the optimizer's moments but keep Adam's step counter (the authors'
    code; ``simplify.schedule``), else restart it too.
    """

    def __init__(self, model, optimizer, n_train, prune_rate=0.1, interval=None, prune_points=8, cycle=5,
                 log=print, keep_step=True):
        layers, widths, self._count, self._prune = prunable_units(model)
        if any(layer.k is None for layer in layers):
            raise ValueError("meSimp needs meProp (k) on every prunable layer: it counts the top-k selections")
        self.model, self.optimizer, self.prune_rate, self.log = model, optimizer, prune_rate, log
        interval = interval or max(1, n_train // prune_points)
        self.schedule = PruneSchedule(interval, cycle, keep_step)
        self.records = [ActivityRecord(width) for width in widths]
        for layer, record in zip(layers, self.records):
            layer.selection_hooks.append(self._counter(record))
        self.batch_size = None

    def _counter(self, record):
        def count(selected, carried):
            if self.schedule.simplifying:
                # a (k,) selection is shared by the mini-batch (unified); (rows, k) counts a row
                # each; only selections with a non-zero gradient count (simplify.activity)
                self._count(record, selected, carried, self.batch_size if selected.ndim == 1 else None)

        return count

    def start_epoch(self, epoch):
        if self.schedule.start_epoch(epoch, self.optimizer, self.records):
            self.log(f"epoch {epoch}: cycle {self.schedule.cycle(epoch)} starts "
                     f"({'simplifying' if self.schedule.simplifying else 'training normally'}); optimizer re-initialised")

    def before_step(self, indices):
        self.batch_size = len(indices)

    def after_step(self, n_examples):
        if self.schedule.after_step(n_examples):
            widths = self._prune(self.model, self.records, self.prune_rate)
            self.schedule.note_widths(widths)

    # ------------------------------------------------------------------ checkpoint
    def state(self):
        s = self.schedule
        return {
            "records": [{"hits": r.hits.tolist(), "seen": r.seen} for r in self.records],
            "schedule": {"epoch": s.epoch, "examples_seen": s.examples_seen, "cycle_examples": s.cycle_examples,
                         "prune_points": s.prune_points, "width_history": s.width_history},
        }

    def load_state(self, state, arrays):
        for record, saved in zip(self.records, state["records"]):
            record.hits = np.asarray(saved["hits"], dtype=np.int64)
            record.seen = saved["seen"]
        for key, value in state["schedule"].items():
            setattr(self.schedule, key, value)

    def results(self):
        return {"width_history": [
            {"examples": n, "epoch": epoch, "widths": widths} for n, epoch, widths in self.schedule.width_history
        ]}
