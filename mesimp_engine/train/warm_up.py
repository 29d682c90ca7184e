"""Compile the kernels a run uses before its first timed step.

Numba compiles a kernel on its first call (or loads it from its cache on disk), and that
time would land in the first epoch's phases. From a fresh install, the first MNIST epoch of
unified meProp (k = 30, mini-batch 50) timed 20.75 s of linear-layer backward against about
0.5 s in its later epochs: compilation, counted as backprop time in the run's mean epoch
times and in the papers' tables made from them.

``warm_up(trainer)`` runs ``WARM_UP_STEPS`` training steps of a throwaway model of the run's
kind on each of a few of the run's mini-batches (``warm_up_batches``: the first, or examples
of every size where sizes differ): the same layer sizes, method, dtype and optimizer, so the
same kernels and the same choices among them (``kernels.timed_choice`` goes round its options
on its first calls, one per step: two steps reach both options of every choice). On the
tagger, stepping on the first sentence (2 tokens) alone left five kernels, meProp's unfused
path, to compile at the fourth timed step (35 tokens); with sentences at 7 size quantiles,
200 timed steps compiled none.

The throwaway is built from generators of its own, has its own optimizer and no method hooks
(meSimp's pruning, meAct's paths, whose few kernels are left to compile in the run), and its
task is a shallow copy of the run's (the data shared): building a model gives the task the
model's training generator, and the run's must stay in place. So the run's numbers are the
same with or without it, which ``tests/train/test_warm_up.py`` checks. Evaluation kernels are
not warmed: evaluation is not in the epoch's timed phases.
"""

import collections
import copy

import numpy as np

from mesimp_engine.errors import NonFiniteError, TrainingDiverged
from mesimp_engine.train.build import linear_options, make_optimizer

WARM_UP_STEPS = 2
"""Steps of the throwaway model: one per option of the engine's two-way timed choices."""

SIZE_QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
"""Where examples differ in size: the quantiles of the sizes the warm-up steps on."""

WARM_UP_STREAM = 7919
"""The second word of the throwaway's generator seeds, [seed, WARM_UP_STREAM, i]: streams no
run draws from (a run's are [seed, 0], [seed, 1] and [seed, epoch])."""


def warm_up(trainer, steps=WARM_UP_STEPS):
    """Run ``steps`` training steps of a throwaway copy of ``trainer``'s run on each of
    ``warm_up_batches`` (module docstring); the run's model, optimizer, task generator and
    timings are untouched."""
    task = copy.copy(trainer.task)
    throwaway = _throwaway(trainer, task)
    for indices in warm_up_batches(trainer):
        batch = task.batch(indices)
        try:
            for _ in range(steps):
                throwaway.train_step(batch, collections.defaultdict(float))  # its times are not the run's
        except (TrainingDiverged, NonFiniteError):
            # diverged (at --lr 1e30, say): the kernels ran all the same, and a run that diverges
            # reports it from its own step, with its own checkpoint; the next batch starts afresh
            throwaway = _throwaway(trainer, task)


def _throwaway(trainer, task):
    """A trainer of a new model of the run's kind on ``task`` (a copy of the run's), drawn
    from the throwaway's generators, with its own optimizer and no method hooks."""
    s = trainer.settings
    init_rng, train_rng = (np.random.default_rng([s.seed, WARM_UP_STREAM, i]) for i in range(2))
    model = task.build_model(init_rng, train_rng, linear_options(s, train_rng))
    optimizer = make_optimizer(s, list(model.parameters()))
    return type(trainer)(task, model, optimizer, s, {"train": train_rng}, log=lambda line: None)


def warm_up_batches(trainer, quantiles=SIZE_QUANTILES):
    """The mini-batches (their example indices) the warm-up steps on: where the examples
    differ in size (the tagger's sentences, ``task.example_sizes()``), one example of each
    of ``quantiles`` of the sizes, since a kernel's path can change with the size (meProp's
    fused kernel serves up to ``sparsity.meprop.FUSED_UP_TO`` gradient entries); else the
    first mini-batch of the run's order, and its last when that one is smaller."""
    s = trainer.settings
    sizes = getattr(trainer.task, "example_sizes", None)
    if sizes is not None:
        sizes = sizes()
        by_size = np.argsort(sizes, kind="stable")
        picks = by_size[np.unique(np.round(np.asarray(quantiles) * (len(sizes) - 1)).astype(int))]
        return [picks[i:i + s.batch_size] for i in range(0, len(picks), s.batch_size)]
    order = trainer.epoch_order(1)
    batches = [order[: s.batch_size]]
    last = len(order) % s.batch_size
    if last and len(order) > s.batch_size:
        batches.append(order[-last:])
    return batches
