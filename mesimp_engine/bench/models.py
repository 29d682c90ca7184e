"""``mesimp-engine bench models``: a training step of each of the papers' three models on
their real data, the engine's dense and meProp steps beside PyTorch's.

For each task (``--tasks``; MNIST MLP, POS tagger, parser) the models are built as
``mesimp-engine train`` builds them, with the papers' defaults (``train.settings``:
mini-batch 10 images, one sentence, 10,000 transitions; Adam; meProp's k 20, 5, 20), and
train on the training set's first batches in the order of a seeded shuffle, prepared as
``train`` prepares them (``--data-dir``; unknown-word replacement included):
- the engine, dense back propagation and meProp, each with its own copy of the model;
- PyTorch (``bench.torch_models``): a replica of the dense model with the same initial
  weights, once with PyTorch's default Adam and once with its fused Adam (the faster of
  the two on the CPU; the case's baseline).

Before anything is timed, the engine's dense step and PyTorch's are checked against each
other: from the same weights and the same first batch, the loss before the step and the
loss on that batch after it must agree (relative 1e-4 in float32). Then every
implementation trains on the same fixed list of batches per timed sample (``STEPS`` a
sample; in turns, as ``harness.time_round_robin`` does), and the time is reported per
step. Every implementation runs with the threads it takes by default (the environment
lists them): the engine's Numba and BLAS threads, PyTorch's intra-op threads.

What differs between the engine's step and PyTorch's beyond speed is in
``bench.torch_models`` (chiefly: PyTorch's Adam updates every row of the embedding
tables, the engine's only the rows looked up).
"""

import numpy as np

from mesimp_engine.graph import Graph

TASKS = ("mnist", "pos", "parse")
STEPS = {"mnist": 100, "pos": 20, "parse": 1}
"""Training steps per timed sample: 1,000 images, 20 sentences, 10,000 transitions."""
QUICK = {"mnist": {"steps": 10}, "pos": {"steps": 3}, "parse": {"steps": 1, "batch_size": 500}}
"""``--quick``: fewer steps a sample, and a parser mini-batch of 500 transitions."""
AGREEMENT = 1e-4
"""Relative difference allowed between the engine's and PyTorch's losses in the check."""


def add_arguments(parser):
    from mesimp_engine.cli.arguments import choices_list

    parser.add_argument("--data-dir", default="data", help="prepared data folder (prepared on first use)")
    parser.add_argument("--tasks", type=choices_list(TASKS), default=list(TASKS),
                        help=f"comma-separated tasks to time (default {','.join(TASKS)})")


def run(args):
    from mesimp_engine.bench.harness import document

    try:
        import torch  # noqa: F401
    except ImportError:
        raise ValueError("bench models compares with PyTorch, which is not installed "
                         "(pip install torch)") from None
    repeats = args.repeats or (2 if args.quick else 7)
    results, notes = [], []
    for name in args.tasks:
        results += _task_case(name, args.data_dir, repeats, args.quick, notes)
    notes.append("per step; each implementation with its default threads; the engine's embedding tables "
                 "update only the rows looked up, PyTorch's Adam every row (bench/torch_models.py)")
    return document("models", results, notes=notes)


def _settings(task, method, data_dir, quick):
    from mesimp_engine.train.settings import TrainSettings

    batch_size = QUICK[task].get("batch_size") if quick else None
    return TrainSettings(task=task, method=method, data_dir=str(data_dir), batch_size=batch_size,
                         progress=False).resolve()


def _batches(task, settings, count):
    """The first ``count`` training batches of the seeded shuffle, as the trainer makes them."""
    order = np.random.default_rng([settings.seed, 2]).permutation(task.n_train)
    size = settings.batch_size
    return [task.batch(order[i * size:(i + 1) * size]) for i in range(count)]


def _ours(model, optimizer, batches):
    def steps():
        for batch in batches:
            graph = Graph()
            graph.backward(model.loss(*batch))
            optimizer.step()
            optimizer.zero_grad()

    return steps


def _torch(model, optimizer, batches):
    from mesimp_engine.bench.torch_models import tensor, train_step

    batches = [tuple(tensor(part) for part in batch) for batch in batches]

    def steps():
        for batch in batches:
            train_step(model, optimizer, batch)

    return steps


def _check_agreement(name, ours, optimizer, theirs, their_optimizer, batch):
    """One step of each from the same weights on ``batch``: the losses before it and after
    it (on the same batch) must agree; returns the note that says by how much."""
    import torch

    from mesimp_engine.bench.torch_models import loss

    def our_loss():
        Graph()
        with ours.evaluating():
            return float(ours.loss(*batch).value)

    def their_loss():
        with torch.no_grad():
            return float(loss(theirs, batch))

    before = (our_loss(), their_loss())
    _ours(ours, optimizer, [batch])()
    _torch(theirs, their_optimizer, [batch])()
    after = (our_loss(), their_loss())
    gaps = [abs(a - b) / max(abs(b), 1e-12) for a, b in (before, after)]
    if max(gaps) > AGREEMENT:
        raise AssertionError(f"{name}: the engine's and PyTorch's losses differ (before the step: {before[0]:.6g} "
                             f"against {before[1]:.6g}; after: {after[0]:.6g} against {after[1]:.6g})")
    return (f"{name}: the engine's dense step and PyTorch's agree (loss {before[1]:.5g} -> {after[1]:.5g}, "
            f"relative differences {gaps[0]:.1e} and {gaps[1]:.1e})")


def _task_case(name, data_dir, repeats, quick, notes):
    from mesimp_engine.bench.harness import time_round_robin
    from mesimp_engine.bench.torch_models import ADAM_IMPLEMENTATIONS, adam, replica
    from mesimp_engine.train.build import build_run

    count = QUICK[name]["steps"] if quick else STEPS[name]
    dense_settings = _settings(name, "dense", data_dir, quick)
    meprop_settings = _settings(name, "meprop", data_dir, quick)
    task, dense, dense_optimizer, _ = build_run(dense_settings)
    batches = _batches(task, dense_settings, count)
    _, meprop, meprop_optimizer, _ = build_run(meprop_settings)
    theirs = {impl: replica(dense) for impl in ADAM_IMPLEMENTATIONS}
    their_optimizers = {impl: adam(model, dense_settings.lr, impl) for impl, model in theirs.items()}
    notes.append(_check_agreement(name, dense, dense_optimizer, theirs["Adam"], their_optimizers["Adam"],
                                  batches[0]))
    k = meprop_settings.k
    calls = {"mesimp_engine dense": _ours(dense, dense_optimizer, batches),
             f"mesimp_engine meProp k={k}": _ours(meprop, meprop_optimizer, batches)}
    calls.update({f"torch dense, {impl}": _torch(model, their_optimizers[impl], batches)
                  for impl, model in theirs.items()})
    for call in calls.values():
        call()  # compiled and warm
    timings = time_round_robin(calls, repeats=repeats, min_time=0.0)
    size = dense_settings.batch_size
    case = f"{name} training step b={size}" + (" (one sentence)" if name == "pos" else "")
    baseline = "torch dense, fused Adam"
    results = [{"case": case, "impl": impl, "baseline": impl == baseline, "unit": "per step",
                "median_s": t["median_s"] / count, "best_s": t["best_s"] / count, "repeats": t["repeats"],
                "steps": count} for impl, t in timings.items()]
    fastest = timings[baseline]["median_s"]
    notes.append(f"{name}: {baseline} / ours " + ", ".join(
        f"{impl.removeprefix('mesimp_engine ')} = {fastest / timings[impl]['median_s']:.2f}x"
        for impl in calls if impl.startswith("mesimp_engine")))
    return results
