"""``mesimp-engine bench overhead``: what the engine itself costs.

1. Microseconds per op (forward + backward) on tiny (4 x 4) arrays: a chain of 100 copies
   of the op in one graph, timed with its backward, divided by 100. This is the
   interpreter's and the tape's cost, since the arithmetic on 16 numbers is nothing.
2. One training step (graph build, forward, backward, Adam update) of a 784-500-500-10
   ReLU MLP on a mini-batch of 10 (the papers' MNIST setting), float32, beside PyTorch's
   time for the same step in the same run when PyTorch is installed.
"""

import numpy as np

from mesimp_engine import nn, ops, optim
from mesimp_engine.bench.harness import document, time_call, time_round_robin
from mesimp_engine.graph import Graph
from mesimp_engine.parameter import Parameter

CHAIN = 100


def _op_cases():
    W = Parameter(np.full((4, 4), 0.1, dtype=np.float32), "W")
    b = Parameter(np.zeros((1, 4), dtype=np.float32), "b")
    return {
        "tanh": lambda x: ops.tanh(x),
        "sigmoid": lambda x: ops.sigmoid(x),
        "relu": lambda x: ops.relu(x),
        "add": lambda x: ops.add(x, b),
        "mul": lambda x: ops.mul(x, b),
        "affine": lambda x: ops.affine(x, W),
        "slice_cols": lambda x: ops.concat([ops.slice_cols(x, 0, 2), ops.slice_cols(x, 2, 4)], axis=1),
    }


def _chain_step(op):
    x0 = Parameter(np.full((4, 4), 0.5, dtype=np.float32), "x0")

    def step():
        g = Graph()
        x = g.parameter(x0)
        for _ in range(CHAIN):
            x = op(x)
        g.backward(ops.sum(x))

    return step


def _mlp_batch(rng, batch):
    return rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, size=batch)


def _ours_step(x, y):
    model = nn.Sequential(nn.Linear(784, 500, rng=0), nn.Linear(500, 500, rng=1), nn.Linear(500, 10, rng=2))
    opt = optim.Adam(model.parameters())

    def step():
        opt.zero_grad()
        g = Graph()
        h = ops.relu(model[0](g.input(x)))
        h = ops.relu(model[1](h))
        loss = ops.softmax_cross_entropy(model[2](h), y)
        g.backward(loss)
        opt.step()

    return step


def _torch_step(x, y):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 500), torch.nn.ReLU(), torch.nn.Linear(500, 500), torch.nn.ReLU(), torch.nn.Linear(500, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        opt.step()

    return step


def run(args):
    repeats = args.repeats or (3 if args.quick else 15)
    results = []
    for name, op in _op_cases().items():
        t = time_call(_chain_step(op), repeats=repeats, warmup=2)
        results.append({"case": f"op {name} 4x4", "impl": "mesimp_engine", "median_s": t["median_s"] / CHAIN,
                        "best_s": t["best_s"] / CHAIN, "unit": "per op, forward + backward"})
    x, y = _mlp_batch(np.random.default_rng(0), 10)
    case = "MLP 784-500-500-10 b=10 Adam step"
    steps = {"mesimp_engine": _ours_step(x, y)}
    notes = []
    try:
        import torch  # noqa: F401
    except ImportError:
        notes.append("PyTorch not installed: no PyTorch column")
    else:
        steps["torch"] = _torch_step(x, y)
    for step in steps.values():
        for _ in range(5):
            step()
    timings = time_round_robin(steps, repeats=repeats, min_time=0.05 if args.quick else 0.2)
    for name, t in timings.items():
        results.append({"case": case, "impl": name, "baseline": name == "torch", **t})
    if "torch" in timings:
        ratio = timings["torch"]["median_s"] / timings["mesimp_engine"]["median_s"]
        notes.append(f"training step, timed in turns: torch / ours = {ratio:.2f}x "
                     f"(best times: {timings['torch']['best_s'] / timings['mesimp_engine']['best_s']:.2f}x)")
    return document("overhead", results, notes=notes)
