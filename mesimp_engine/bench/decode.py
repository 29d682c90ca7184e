"""``mesimp-engine bench decode``: inference speed of a meSimp-trimmed MLP vs the full one.

The trimmed model comes from a meSimp run (``--run DIR``: its ``checkpoint.npz``, whose
arrays already have the trimmed shapes), or, without a run, from the full model trimmed to
``--widths`` (default 154,154: the paper's reported MNIST average width) keeping the first
units. Decoding speed depends on the widths, not on the weights' values, so both give the
same timing; with a run the accuracies are real too. Inputs are the MNIST test images
when the data is prepared (``--data-dir``), else uniform random images of the same shape.

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


def add_arguments(parser):
    parser.add_argument("--run", metavar="DIR", help="a meSimp run folder (results.json + checkpoint.npz)")
    parser.add_argument("--widths", default="154,154", help="hidden widths to trim to without --run")
    parser.add_argument("--batch", type=int, default=100, help="examples per forward pass")
    parser.add_argument("--data-dir", default="data", help="prepared data folder (for the MNIST test set)")


def multiply_adds(model):
    layers = list(model.hidden_layers) + [model.output]
    return sum(layer.in_features * layer.out_features for layer in layers)


def _models(args):
    full = MLP(784, 500, 2, 10, rng=0)
    trimmed = MLP(784, 500, 2, 10, rng=0)
    if args.run:
        with np.load(os.path.join(args.run, "checkpoint.npz")) as data:
            trimmed.load_state_dict({k[len("value/"):]: data[k] for k in data.files if k.startswith("value/")})
        with open(os.path.join(args.run, "results.json")) as f:
            settings = json.load(f)["settings"]
        if settings["task"] != "mnist" or settings["layers"] != 2:
            raise ValueError("bench decode reads runs of the MNIST MLP with 2 hidden layers")
    else:
        widths = [int(w) for w in args.widths.split(",")]
        trim_mlp_(trimmed, [np.arange(w) for w in widths])
    return full.eval(), trimmed.eval()


def _inputs(args, quick):
    try:
        from mesimp_engine.data.prepared import load_mnist

        x, y = load_mnist(args.data_dir, prepare=False)["test"]
        source = "MNIST test set"
    except Exception:
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
    full, trimmed = _models(args)
    x, y, source = _inputs(args, args.quick)
    repeats = args.repeats or (3 if args.quick else 7)
    case = f"{len(x)} examples b={args.batch}"
    results, notes = [], []
    for name, model in (("full", full), ("trimmed", trimmed)):
        t = time_call(lambda: _decode(model, x, args.batch), repeats=repeats, warmup=1)
        row = {"case": case, "impl": f"{name} {model.hidden_sizes()}", "median_s": t["median_s"],
               "best_s": t["best_s"], "examples_per_s": len(x) / t["median_s"], "multiply_adds": multiply_adds(model)}
        if y is not None:
            row["accuracy"] = 100.0 * float((_decode(model, x, args.batch) == y).mean())
        results.append(row)
    full_row, trim_row = results
    full_row["baseline"] = True
    speedup = full_row["median_s"] / trim_row["median_s"]
    mac_ratio = full_row["multiply_adds"] / trim_row["multiply_adds"]
    notes.append(f"inputs: {source}; trimmed widths {trimmed.hidden_sizes()}")
    notes.append(f"speed-up {speedup:.2f}x vs multiply-add ratio {mac_ratio:.2f}x "
                 f"({speedup / mac_ratio:.2f} of the ideal)")
    return document("decode", results, notes=notes, speedup=speedup, multiply_add_ratio=mac_ratio)
