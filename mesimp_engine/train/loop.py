"""The training loop: epochs of mini-batches, dev selection, timing, checkpoints, resume.

Per step the four phases the papers time are measured: graph build (the forward phase
minus the time inside op forwards), forward (inside op forwards), backward (the reverse
pass) and update (optimizer step and zeroing), plus the backward of the linear layers
alone (the papers' "backprop time"). Seconds are summed per epoch.

Reproducibility: the model is initialised from the seed; the order of epoch e is a
permutation drawn from (seed, e); dropout and random-k draw from one generator whose
state is checkpointed. A run resumed from any checkpoint therefore ends with the same
numbers as an uninterrupted run.

Numerical failures: a non-finite loss stops training; the step is replayed in a
finite-checking graph to name the first op and layer that produced NaN or inf, and no
checkpoint is written after it (the last good one stays intact).
"""

import math
import os
import sys
import time

import numpy as np

from mesimp_engine.atomic_file import remove_temporaries, write_json
from mesimp_engine.errors import NonFiniteError, TrainingDiverged
from mesimp_engine.graph import Graph
from mesimp_engine.train.checkpoint import load_checkpoint, read_progress, save_checkpoint
from mesimp_engine.train.extension import Extension
from mesimp_engine.train.hidden_activity import model_activity
from mesimp_engine.train.results import results_document
from mesimp_engine.train.settings import ADDED_LATER
from mesimp_engine.train.update_meter import UpdateMeter
from mesimp_engine.train.warm_up import warm_up

PHASES = ("build", "forward", "backward", "update")
"""The four phases of a step the papers time; together they are the epoch's time."""
TIMES = PHASES + ("linear_backward",)
"""What an epoch record's ``time`` holds: the phases, and the linear layers' share of the
backward (the papers' "backprop time")."""
WARM_UP_NOTED_S = 2.0
"""A warm-up that took longer than this (Numba compiled, rather than loaded, kernels) says so."""
RUN_ONLY = ("epochs", "progress", "out", "stop_after", "checkpoint_every", "check_finite")
"""Settings a resumed run may change: they do not change the numbers."""


class TrainingStopped(Exception):
    """``stop_after`` steps were done in this run; the checkpoint lets ``--resume`` go on."""


class Trainer:
    """Train ``model`` on ``task`` with ``optimizer``; ``rngs`` holds every generator the
    run draws from after initialisation (checkpointed with the model)."""

    def __init__(self, task, model, optimizer, settings, rngs, log=print, extension=None, heartbeat_s=None):
        """``heartbeat_s``: when set, a line on ``log`` at most that often in an epoch with
        its step, running loss, rate and the time to its end (the progress of a run trained
        without a progress bar, as ``reproduce --jobs`` trains them)."""
        self.task, self.model, self.optimizer = task, model, optimizer
        self.extension = extension or Extension()
        self.settings, self.rngs, self.log = settings, rngs, log
        self.heartbeat_s = heartbeat_s
        self.history = []
        self.epoch, self.step_in_epoch = 1, 0
        self.partial = None
        self.steps_this_run = 0
        self.update_meter = UpdateMeter(optimizer.params) if settings.record_update else None
        self.checkpoint_path = os.path.join(settings.out, "checkpoint.npz")
        self.results_path = os.path.join(settings.out, "results.json")

    # ------------------------------------------------------------------ checkpoints
    def save(self):
        progress = {"epoch": self.epoch, "step": self.step_in_epoch, "history": self.history,
                    "partial": self.partial, "settings": self.settings.as_dict(),
                    "extension": self.extension.state()}
        arrays = self.extension.state_arrays()
        save_checkpoint(self.checkpoint_path, self.model, self.rngs, progress, arrays)

    def resume(self):
        """Continue from the checkpoint under ``--out`` if there is one; True if resumed."""
        if not os.path.exists(self.checkpoint_path):
            return False
        progress = read_progress(self.checkpoint_path)
        # a cosine schedule runs over --epochs: then the epochs change the numbers too
        run_only = [k for k in RUN_ONLY if not (k == "epochs" and self.settings.lr_schedule == "cosine")]
        saved = {k: v for k, v in {**ADDED_LATER, **progress["settings"]}.items() if k not in run_only}
        now = {k: v for k, v in self.settings.as_dict().items() if k not in run_only}
        if saved != now:
            diff = "; ".join(f"--{k.replace('_', '-')} {_shown(saved.get(k))} there, {_shown(now[k])} now"
                             for k in sorted(now) if saved.get(k) != now[k])
            raise ValueError(f"cannot resume {self.checkpoint_path}: settings differ ({diff})")
        progress, arrays = load_checkpoint(self.checkpoint_path, self.model, self.rngs)
        self.epoch, self.step_in_epoch = progress["epoch"], progress["step"]
        self.history, self.partial = progress["history"], progress["partial"]
        self.extension.load_state(progress["extension"], arrays)
        if self.update_meter:  # its copies are the values after the last step: the loaded ones
            self.update_meter = UpdateMeter(self.optimizer.params)
        if self.epoch > self.settings.epochs:
            self.log(f"finished run read from {self.checkpoint_path} ({self.epoch - 1} epochs)")
        else:
            self.log(f"resumed from {self.checkpoint_path} at epoch {self.epoch}, step {self.step_in_epoch}")
        stale = remove_temporaries(os.path.dirname(os.path.abspath(self.checkpoint_path)))
        if stale:
            self.log(f"removed {len(stale)} temporary file(s) the interrupted run left: {', '.join(stale)}")
        return True

    # ------------------------------------------------------------------ one step
    def train_step(self, batch, times):
        graph = Graph(check_finite=self.settings.check_finite)
        loss = self.task.loss(self.model, batch)
        value = float(loss.value)
        if not math.isfinite(value):
            raise TrainingDiverged(self._diagnose(batch, value))
        graph.backward(loss)
        self.optimizer.lr = self.settings.lr_at((self.epoch - 1) * self.steps_per_epoch + self.step_in_epoch,
                                                self.steps_per_epoch)
        fraction = self.optimizer.updated_fraction()
        start = time.perf_counter()
        self.optimizer.step()
        self.optimizer.zero_grad()
        times["update"] += time.perf_counter() - start
        for part in ("build", "forward", "backward", "linear_backward"):  # the graph's; update above
            times[part] += getattr(graph.stats, part)
        return value, fraction

    def _diagnose(self, batch, value):
        where = f"epoch {self.epoch}, step {self.step_in_epoch + 1}"
        try:
            graph = Graph(check_finite=True)
            loss = self.task.loss(self.model, batch)
            graph.backward(loss)
        except NonFiniteError as error:
            return f"loss is {value} at {where}: {error}"
        return f"loss is {value} at {where} (no op produced NaN/inf when replayed)"

    # ------------------------------------------------------------------ epochs
    @property
    def steps_per_epoch(self):
        return math.ceil(self.task.n_train / self.settings.batch_size)

    def epoch_order(self, epoch):
        return np.random.default_rng([self.settings.seed, epoch]).permutation(self.task.n_train)

    def run_epoch(self):
        """Train the current epoch from ``step_in_epoch`` (a resumed run starts mid-epoch),
        then score it, record it in ``history`` and log its line."""
        n_steps = self.steps_per_epoch
        acc = self.partial or {"loss": 0.0, "fraction": 0.0, "times": dict.fromkeys(TIMES, 0.0)}
        acc.setdefault("evaluations", [])  # checkpoints from before --evals-per-epoch lack it
        if self.step_in_epoch == 0:
            self.extension.start_epoch(self.epoch)
        self._run_steps(acc, n_steps)
        record, activity = self._epoch_record(acc, n_steps)
        self.history.append(record)
        self._log_epoch(record, activity)
        self.epoch += 1
        self.step_in_epoch = 0
        self.partial = None

    def _run_steps(self, acc, n_steps):
        """The epoch's remaining steps, summed into ``acc``, with the mid-epoch evaluations
        and checkpoints; raises TrainingStopped after ``--stop-after`` steps of this run."""
        s = self.settings
        order = self.epoch_order(self.epoch)
        eval_steps = evaluation_steps(n_steps, s.evals_per_epoch)
        bar = _progress(n_steps, self.step_in_epoch, f"epoch {self.epoch}/{s.epochs}", s.progress)
        beat = _Heartbeat(self, n_steps, acc) if self.heartbeat_s else None
        while self.step_in_epoch < n_steps:
            i = self.step_in_epoch
            indices = order[i * s.batch_size : (i + 1) * s.batch_size]
            batch = self.task.batch(indices)
            self.extension.before_step(indices)
            loss, fraction = self.train_step(batch, acc["times"])
            self.extension.after_step(len(indices))
            if self.update_meter:
                change, entries = self.update_meter.measure()
                acc["update_abs"] = acc.get("update_abs", 0.0) + change
                acc["update_entries"] = acc.get("update_entries", 0) + entries
            acc["loss"] += loss
            acc["fraction"] += fraction
            self.step_in_epoch += 1
            bar.update(1)
            if self.step_in_epoch % 50 == 0:
                bar.set_postfix(loss=f"{acc['loss'] / self.step_in_epoch:.4f}", refresh=False)
            if beat:
                beat.tick()
            self.steps_this_run += 1
            mid_epoch = self.step_in_epoch < n_steps  # the epoch's end saves anyway
            if mid_epoch and self.step_in_epoch in eval_steps:
                acc["evaluations"].append(self.evaluate(self.step_in_epoch, n_steps, bar))
            stop = mid_epoch and s.stop_after is not None and self.steps_this_run >= s.stop_after
            if stop or (mid_epoch and s.checkpoint_every and self.step_in_epoch % s.checkpoint_every == 0):
                self.partial = acc
                self.save()
            if stop:
                bar.close()
                raise TrainingStopped(f"stopped after {self.steps_this_run} steps (epoch {self.epoch}, "
                                      f"step {self.step_in_epoch}); --resume continues")
        bar.close()

    def _epoch_record(self, acc, n_steps):
        """The finished epoch's record (scored on dev and test now) and the hidden layers'
        activity summary (None for a model without one)."""
        dev_scores, test_scores = self._dev_and_test()
        metric = self.task.metric
        dev, test = dev_scores[metric], test_scores[metric]
        record = {
            "epoch": self.epoch, "steps": n_steps, "train_loss": acc["loss"] / n_steps,
            "dev": dev, "test": test, "dev_scores": dev_scores, "test_scores": test_scores,
            "updated_fraction": acc["fraction"] / n_steps, "time": acc["times"],
            "hidden_sizes": self.model.hidden_sizes(),
        }
        activity = model_activity(self.task, self.model)
        if activity is not None:
            record["hidden_activity"] = activity
        if self.update_meter:
            record["mean_abs_update"] = acc["update_abs"] / max(acc["update_entries"], 1)
        if self.settings.evals_per_epoch > 1:
            record["evaluations"] = acc["evaluations"] + [{"step": n_steps, "dev": dev, "test": test}]
        record.update(self.extension.end_epoch(self.epoch))
        return record, activity

    def _log_epoch(self, record, activity):
        t = record["time"]
        self.log(
            f"epoch {record['epoch']:>3}  loss {record['train_loss']:.4f}  dev {_scores(record['dev_scores'])}  "
            f"test {_scores(record['test_scores'])}  "
            f"| build {t['build']:.2f}s forward {t['forward']:.2f}s backward {t['backward']:.2f}s "
            f"(linear {t['linear_backward']:.2f}s) update {t['update']:.2f}s  "
            f"| updated {100 * record['updated_fraction']:.1f}% of weights | hidden {record['hidden_sizes']}"
            + _largest_outputs(activity)
            + (f"  mean |dw| {record['mean_abs_update']:.3g}" if "mean_abs_update" in record else "")
        )

    def _dev_and_test(self):
        """Dev and test scores, of the model as the method deploys it (GSM: cut to its budget)."""
        with self.extension.evaluating():
            return self.task.evaluate(self.model, "dev"), self.task.evaluate(self.model, "test")

    def evaluate(self, step, n_steps, bar):
        """Dev and test scores at a mid-epoch evaluation point (``--evals-per-epoch``)."""
        dev, test = (scores[self.task.metric] for scores in self._dev_and_test())
        line = f"  epoch {self.epoch} step {step}/{n_steps}: dev {dev:.2f} test {test:.2f}"
        if self.settings.progress:
            bar.write(line, file=sys.stderr)  # above the bar
        else:
            self.log(line)
        return {"step": step, "dev": dev, "test": test}

    def fit(self):
        """Train to the last epoch; raises ``TrainingStopped`` after ``stop_after`` steps.
        Kernels are compiled first (``warm_up``), outside the epochs' timed phases."""
        if self.epoch <= self.settings.epochs:
            start = time.perf_counter()
            warm_up(self)
            seconds = time.perf_counter() - start
            if seconds > WARM_UP_NOTED_S:
                self.log(f"kernels compiled in {seconds:.1f} s (first use; cached for later runs), "
                         f"outside the epochs' times")
        while self.epoch <= self.settings.epochs:
            self.run_epoch()
            self.save()
            write_json(self.results(), self.results_path)
        return self.results()

    def results(self):
        extra = {"metric": self.task.metric, **self.extension.results()}
        return results_document(self.settings, self.history, self.model, extra)


class _Heartbeat:
    """The trainer's progress lines within an epoch (``Trainer.heartbeat_s``)."""

    def __init__(self, trainer, n_steps, acc):
        self.trainer, self.n_steps, self.acc = trainer, n_steps, acc
        self.first_step = trainer.step_in_epoch
        self.start = self.last = time.perf_counter()

    def tick(self):
        now = time.perf_counter()
        if now - self.last < self.trainer.heartbeat_s:
            return
        self.last = now
        t = self.trainer
        rate = (t.step_in_epoch - self.first_step) / (now - self.start)
        left = (self.n_steps - t.step_in_epoch) / rate
        t.log(f"  epoch {t.epoch}/{t.settings.epochs} step {t.step_in_epoch:,}/{self.n_steps:,}  "
              f"loss {self.acc['loss'] / t.step_in_epoch:.4f}  {rate:.1f} steps/s, "
              f"its steps end in {left / 60:.1f} min")


def evaluation_steps(n_steps, per_epoch):
    """The steps after which an epoch of ``n_steps`` is evaluated mid-way, so that
    ``per_epoch`` evaluations (the last at the epoch's end) are spread evenly."""
    return {round(j * n_steps / per_epoch) for j in range(1, per_epoch)} - {0, n_steps}


def _largest_outputs(activity):
    """The epoch line's summary of ``hidden_activity``: each hidden layer's largest |h|."""
    if not activity:
        return ""
    return "  max |h| " + ", ".join(f"{layer['max_abs']:.1f}" for layer in activity)


def _scores(scores):
    return " ".join(f"{name} {value:.2f}" for name, value in scores.items())


def _progress(total, initial, desc, enabled):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", leave=False, file=sys.stderr,
                disable=not enabled, mininterval=0.5, dynamic_ncols=True)


def _shown(value):
    """A setting as the resume error shows it: a flag left out reads "unset"."""
    return "unset" if value is None else value
