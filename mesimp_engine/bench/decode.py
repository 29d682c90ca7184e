"""``mesimp-engine bench decode``: inference speed of a meSimp-trimmed MLP vs the full one.

With a meSimp run (``--run DIR``, its ``results.json`` and ``checkpoint.npz``), the trimmed
model is that run's trained model, at the widths it was trimmed to, and the full model an
MLP of the run's own size before trimming (``--hidden`` x ``--layers`` of the run), with
untrained weights: decoding speed depends on the widths, not on the weights' values.
Without a run, both are untrained: the 784-500-500-10 MLP and the same trimmed to
``--widths`` (default 154,154: the paper's reported MNIST average width), keeping the first
units. Only a trained model's accuracy is reported. Inputs are the MNIST test images when
the data is prepared (``--data-dir``), else uniform random images of the same shape.

Reported: examples per second of the forward pass plus argmax over the test set in
batches of ``--batch``, for both models, beside the ratio of their multiply-adds
(sum of in x out over the linear layers); the speed-up should approach that ratio.
"""

import json
import os

import numpy as np

from mesimp_engine.bench.harness import document, time_call
from mesimp_engine.graph import Graph
from mesimp_engine.models.mlp import MLP
from mesimp_engine.simplify.prune import trim_mlp_
from mesimp_engine.train.checkpoint import load_model_values


def add_arguments(parser):
    from mesimp_engine.cli.arguments import integers, positive_int

    parser.add_argument("--run", metavar="DIR", help="a meSimp run folder (results.json + checkpoint.npz)")
    parser.add_argument("--widths", type=integers, default=[154, 154],
                        help="hidden widths to trim to without --run (default 154,154)")
    parser.add_argument("--batch", type=positive_int, default=100, help="examples per forward pass (default 100)")
    parser.add_argument("--data-dir", default="data", help="prepared data folder (for the MNIST test set)")


def multiply_adds(model):
    layers = list(model.hidden_layers) + [model.output]
    return sum(layer.in_features * layer.out_features for layer in layers)


def _models(args):
    """(full, trimmed, trained): the two models in evaluation mode, and whether the trimmed
    one has trained weights (a run's)."""
    if args.run:
        settings, widths = _run_settings(args.run)
        hidden, layers = settings["hidden"], settings["layers"]
    else:
        hidden, layers, widths = 500, 2, args.widths
        if len(widths) != 2 or not all(1 <= w <= 500 for w in widths):
            raise ValueError(f"--widths: two widths of 1 to 500 (the full model's), got {widths}")
    full = MLP(784, hidden, layers, 10, rng=0)
    trimmed = MLP(784, hidden, layers, 10, rng=0)
    trim_mlp_(trimmed, [np.arange(w) for w in widths])
    if args.run:
        load_model_values(args.run, trimmed)
    return full.eval(), trimmed.eval(), bool(args.run)


def _run_settings(run):
    """The settings and final hidden widths of the MNIST run in the folder ``run``."""
    path = os.path.join(run, "results.json")
    try:
        with open(path) as f:
            doc = json.load(f)
        settings, widths = doc["settings"], doc["hidden_sizes"]
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"--run {run}: no readable results.json of a finished run ({error})") from None
    if settings.get("task") != "mnist":
        raise ValueError(f"--run {run}: bench decode reads runs of the MNIST MLP, this one is {settings.get('task')}")
    return settings, widths


def _inputs(args, quick):
    from mesimp_engine.data.errors import DataNotFound
    from mesimp_engine.data.prepared import load_mnist

    try:
        x, y = load_mnist(args.data_dir, prepare=False)["test"]
        source = "MNIST test set"
    except DataNotFound:
        x = np.random.default_rng(0).random((10000, 784), dtype=np.float32)
        y = None
        source = "random images (MNIST not prepared)"
    return (x[:1000], None if y is None else y[:1000], source) if quick else (x, y, source)


def _decode(model, x, batch):
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), batch):
        Graph()
        out[start : start + batch] = model(x[start : start + batch]).value.argmax(axis=1)
    return out


def run(args):
    full, trimmed, trained = _models(args)
    x, y, source = _inputs(args, args.quick)
    repeats = args.repeats or (3 if args.quick else 7)
    case = f"{len(x)} examples b={args.batch}"
    results, notes = [], []
    for name, model in (("full", full), ("trimmed", trimmed)):
        t = time_call(lambda: _decode(model, x, args.batch), repeats=repeats, warmup=1)
        row = {"case": case, "impl": f"{name} {model.hidden_sizes()}", "median_s": t["median_s"],
               "best_s": t["best_s"], "examples_per_s": len(x) / t["median_s"], "multiply_adds": multiply_adds(model)}
        if y is not None and name == "trimmed" and trained:
            row["accuracy"] = 100.0 * float((_decode(model, x, args.batch) == y).mean())
        results.append(row)
    full_row, trim_row = results
    full_row["baseline"] = True
    speedup = full_row["median_s"] / trim_row["median_s"]
    mac_ratio = full_row["multiply_adds"] / trim_row["multiply_adds"]
    weights = f"the trimmed model is {args.run}'s, the full one untrained" if trained else "both untrained"
    notes.append(f"inputs: {source}; trimmed widths {trimmed.hidden_sizes()}; weights: {weights}")
    if "accuracy" in trim_row:
        notes.append(f"the trimmed model's accuracy on these inputs: {trim_row['accuracy']:.2f}")
    notes.append(f"speed-up {speedup:.2f}x vs multiply-add ratio {mac_ratio:.2f}x "
                 f"({speedup / mac_ratio:.2f} of the ideal)")
    return document("decode", results, notes=notes, speedup=speedup, multiply_add_ratio=mac_ratio)
