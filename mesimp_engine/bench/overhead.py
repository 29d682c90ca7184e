"""``mesimp-engine bench overhead``: what the engine itself costs.

1. Microseconds per op (forward + backward) on tiny (4 x 4) arrays: a chain of 100 copies
   of the op in one graph, timed with its backward, divided by 100. This is the
   interpreter's and the tape's cost, since the arithmetic on 16 numbers is nothing.
2. One training step (graph build, forward, backward, Adam update) of a 784-500-500-10
   ReLU MLP on a mini-batch of 10 (the papers' MNIST setting), float32, beside PyTorch's
   time for the same step in the same run when PyTorch is installed: a replica of the
   model with the same weights (``bench.torch_models``), once with PyTorch's default Adam
   and once with its fused Adam, about twice as fast on the CPU and the baseline.
3. A whole training epoch of that MLP (mini-batch 10, Adam, dense update), ours with meProp
   (top-20 of 500 per example, the papers' MNIST setting) beside ours dense and PyTorch
   dense with each Adam, timed in turns (each implementation once, then again): the MNIST
   training set (``--data-dir``, prepared on first use as ``train`` prepares it; only when
   the MNIST files cannot be found, random data of the same size, noted), in the same
   shuffled order for all. ``--quick`` times 2,000 examples instead.
4. A layer's forward product x @ W^T on a small mini-batch (10 and 32 rows, 784 -> 500,
   float32): the engine's (``kernels.blas.matmul``, which sends it to
   ``kernels.small_products``) beside NumPy's (OpenBLAS), both on one thread, in turns.
5. The linear layers' backward in a training step of that MLP (``graph.stats.linear_backward``,
   the papers' "backprop time"; Adam, mini-batch 10): dense and meProp (top-20) steps
   alternating in one process, in float32 and in float64 (the authors' precision), on the
   epoch case's examples. Four models take turns, so every step starts with the others'
   data in the caches, as a step follows an optimizer pass over all the weights in training.
   Medians over ``BACKWARD_STEPS`` steps after a tenth as many untimed (``--quick``: 300).
6. A training step of that MLP with meProp (top-20; Adam, mini-batch 10, the epoch case's
   examples) while every other core runs a busy process (a Python loop), as when two
   trainings share a machine: the engine's parallel kernels chosen by timing
   (``kernels.timed_choice``, the default) beside always parallel and always one thread
   (``timed_choice.forced``), in turns, each after ``BUSY_WARMUP`` untimed steps. Skipped
   with one core or one Numba thread.
"""

import contextlib

import numpy as np

from mesimp_engine import ops, optim
from mesimp_engine.bench.harness import document, time_call, time_round_robin
from mesimp_engine.graph import Graph
from mesimp_engine.parameter import Parameter

CHAIN = 100
EPOCH_K = 20
BACKWARD_STEPS = 3000
BUSY_WARMUP = 50
TORCH_BASELINE_STEP = "torch, fused Adam"
TORCH_BASELINE_EPOCH = "torch dense, fused Adam"
"""The baselines: PyTorch with its faster Adam on the CPU (``bench.torch_models``)."""


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
    model, opt = _mlp(None)

    def step():
        _mlp_step(model, opt, x, y)

    return step


def _torch_steps(x, y):
    """PyTorch's training step of a replica of ``_mlp``'s dense model, with each of its Adam
    implementations (``bench.torch_models``): name -> step."""
    import torch

    from mesimp_engine.bench.torch_models import ADAM_IMPLEMENTATIONS, adam, replica, train_step

    batch = (torch.from_numpy(x), torch.from_numpy(y))
    steps = {}
    for implementation in ADAM_IMPLEMENTATIONS:
        model = replica(_mlp(None)[0])
        opt = adam(model, 0.001, implementation)
        steps[f"torch, {implementation}"] = lambda model=model, opt=opt: train_step(model, opt, batch)
    return steps


def add_arguments(parser):
    from mesimp_engine.cli.arguments import positive_int

    parser.add_argument("--data-dir", default="data",
                        help="prepared data folder (MNIST for the epoch case; prepared on first use)")
    parser.add_argument("--epoch-repeats", type=positive_int, default=2, help="timed epochs per implementation (default 2)")


def _epoch_data(data_dir, quick):
    from mesimp_engine.data.errors import DataError
    from mesimp_engine.data.prepared import load_mnist

    try:
        x, y = load_mnist(data_dir)["train"]  # prepared on first use, as `train` does
        note = None
    except (DataError, OSError) as e:
        rng = np.random.default_rng(0)
        x, y = rng.random((55_000, 784), dtype=np.float32), rng.integers(0, 10, size=55_000)
        note = f"epoch case on random data of MNIST's size (no prepared MNIST: {e})"
    n = 2_000 if quick else len(y)
    order = np.random.default_rng(1).permutation(len(y))[:n]
    return x[order], y[order], note


def _mlp(k, dtype=np.float32):
    """The papers' MNIST MLP with meProp's top-k (dense when k is None) and its Adam."""
    from mesimp_engine.models.mlp import MLP

    model = MLP(784, 500, 2, 10, rng=0, linear_options={"k": k} if k else {}, dtype=dtype)
    return model, optim.Adam(model.parameters())


def _mlp_step(model, opt, x, y):
    """One training step of ``_mlp``'s model on (x, y); returns its graph (for the timings)."""
    opt.zero_grad()
    g = Graph()
    g.backward(model.loss(g.input(x), y))
    opt.step()
    return g


def _ours_epoch(x, y, k):
    def epoch():
        model, opt = _mlp(k)
        for start in range(0, len(y), 10):
            _mlp_step(model, opt, x[start:start + 10], y[start:start + 10])

    return epoch


def _torch_epoch(x, y, implementation):
    import torch

    from mesimp_engine.bench.torch_models import adam, replica, train_step

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def epoch():
        model = replica(_mlp(None)[0])
        opt = adam(model, 0.001, implementation)
        for start in range(0, len(ty), 10):
            train_step(model, opt, (tx[start:start + 10], ty[start:start + 10]))

    return epoch


def _epoch_makers(have_torch):
    makers = {f"mesimp_engine meProp k={EPOCH_K}": lambda x, y: _ours_epoch(x, y, EPOCH_K),
              "mesimp_engine dense": lambda x, y: _ours_epoch(x, y, None)}
    if have_torch:
        from mesimp_engine.bench.torch_models import ADAM_IMPLEMENTATIONS

        for implementation in ADAM_IMPLEMENTATIONS:
            makers[f"torch dense, {implementation}"] = \
                lambda x, y, implementation=implementation: _torch_epoch(x, y, implementation)
    return makers


def _epoch_case(x, y, repeats, have_torch, notes):
    case = f"MLP epoch {len(y)} examples b=10 Adam"
    epochs = {name: make(x, y) for name, make in _epoch_makers(have_torch).items()}
    for epoch in {name: make(x[:200], y[:200]) for name, make in _epoch_makers(have_torch).items()}.values():
        epoch()  # compile and warm on a short slice
    timings = time_round_robin(epochs, repeats=repeats, min_time=0.0)
    results = [{"case": case, "impl": name, "baseline": name == TORCH_BASELINE_EPOCH, **t}
               for name, t in timings.items()]
    ours = timings[f"mesimp_engine meProp k={EPOCH_K}"]["median_s"]
    for name in timings:
        if name != f"mesimp_engine meProp k={EPOCH_K}":
            notes.append(f"whole epoch, timed in turns: {name} / ours meProp = {timings[name]['median_s'] / ours:.2f}x")
    return results


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
    notes = [f"op rows: one op's forward and backward on 4 x 4 arrays, the mean over a chain of {CHAIN} "
             f"(the engine's cost per op, nothing to compare)"]
    try:
        import torch  # noqa: F401
    except ImportError:
        have_torch = False
        notes.append("PyTorch not installed: no PyTorch column")
    else:
        have_torch = True
        steps.update(_torch_steps(x, y))
    for step in steps.values():
        for _ in range(5):
            step()
    timings = time_round_robin(steps, repeats=repeats, min_time=0.05 if args.quick else 0.2)
    for name, t in timings.items():
        results.append({"case": case, "impl": name, "baseline": name == TORCH_BASELINE_STEP, **t})
    for name in timings:
        if name.startswith("torch"):
            ours = timings["mesimp_engine"]
            notes.append(f"training step, timed in turns: {name} / ours = {timings[name]['median_s'] / ours['median_s']:.2f}x "
                         f"(best times: {timings[name]['best_s'] / ours['best_s']:.2f}x)")
    x, y, note = _epoch_data(args.data_dir, args.quick)
    if note:
        notes.append(note)
    results += _epoch_case(x, y, args.epoch_repeats, have_torch, notes)
    results += _product_cases(repeats, args.quick, notes)
    results += _backward_cases(x, y, 300 if args.quick else BACKWARD_STEPS, notes)
    results += _busy_cases(x, y, repeats, args.quick, notes)
    return document("overhead", results, notes=notes)


def _product_cases(repeats, quick, notes):
    """Section 4 of the module docstring."""
    from mesimp_engine.kernels.blas import matmul, set_blas_threads

    rng = np.random.default_rng(0)
    W = rng.standard_normal((500, 784)).astype(np.float32)
    results = []
    for rows in (10, 32):
        x = rng.random((rows, 784)).astype(np.float32)
        case = f"forward x @ W.T {rows}x784->500"
        set_blas_threads(True)
        np.testing.assert_allclose(matmul(x, W.T), x @ W.T, rtol=1e-4, atol=1e-3)  # same product first
        calls = {"numpy.matmul (OpenBLAS, 1 thread)": lambda: np.matmul(x, W.T), "mesimp_engine": lambda: matmul(x, W.T)}
        for call in calls.values():
            for _ in range(20):
                call()
        timings = time_round_robin(calls, repeats=repeats, min_time=0.02 if quick else 0.1)
        for name, t in timings.items():
            results.append({"case": case, "impl": name, "baseline": name != "mesimp_engine", **t})
        ratio = timings["numpy.matmul (OpenBLAS, 1 thread)"]["median_s"] / timings["mesimp_engine"]["median_s"]
        notes.append(f"{case}: numpy / ours = {ratio:.2f}x")
    return results


def _backward_cases(x, y, steps, notes):
    """Section 5 of the module docstring."""
    methods = {"dense": None, f"meProp k={EPOCH_K}": EPOCH_K}
    warmup = steps // 10
    x, y = x[:(warmup + steps) * 10], y[:(warmup + steps) * 10]
    runs = {}
    for dtype in (np.float32, np.float64):
        for method, k in methods.items():
            runs[(dtype.__name__, method)] = (*_mlp(k, dtype), x.astype(dtype, copy=False), [])
    batches = len(y) // 10
    for step in range(warmup + steps):
        start = (step % batches) * 10
        for model, opt, inputs, times in runs.values():
            g = _mlp_step(model, opt, inputs[start:start + 10], y[start:start + 10])
            if step >= warmup:
                times.append(g.stats.linear_backward)
    results = []
    for (dtype, method), (_, _, _, times) in runs.items():
        results.append({"case": f"MLP linear backward in a training step b=10 {dtype}", "impl": method,
                        "baseline": method == "dense", "median_s": float(np.median(times)),
                        "best_s": float(np.min(times)), "repeats": len(times), "unit": "per step"})
    for dtype in ("float32", "float64"):
        dense, ours = (runs[(dtype, method)][3] for method in methods)
        notes.append(f"linear backward in a training step ({dtype}, steps in turns): dense / meProp = "
                     f"{np.median(dense) / np.median(ours):.2f}x")
    return results


def _busy_cases(x, y, repeats, quick, notes):
    """Section 6 of the module docstring."""
    import subprocess
    import sys

    import numba

    from mesimp_engine.environment import cores
    from mesimp_engine.kernels.timed_choice import forced

    if cores() < 2 or numba.get_num_threads() < 2:
        notes.append("busy-machine case skipped: one core or one Numba thread, nothing to choose")
        return []
    modes = {"timed choice (the engine's)": None, "always parallel": 0, "always one thread": 1}
    steps = {}
    for name, option in modes.items():
        model, opt = _mlp(EPOCH_K)
        batches = iter(range(10**9))

        def step(model=model, opt=opt, option=option, batches=batches):
            start = next(batches) * 10 % (len(y) - 10)
            with forced(option) if option is not None else contextlib.nullcontext():
                _mlp_step(model, opt, x[start:start + 10], y[start:start + 10])

        steps[name] = step
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores() - 1)]
    try:
        for step in steps.values():
            for _ in range(BUSY_WARMUP):
                step()
        timings = time_round_robin(steps, repeats=repeats, min_time=0.05 if quick else 0.2)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    case = "MLP meProp step b=10 Adam, a busy process on each other core"
    results = [{"case": case, "impl": name, "baseline": name == "always parallel", **t} for name, t in timings.items()]
    ours = timings["timed choice (the engine's)"]["median_s"]
    for name in ("always parallel", "always one thread"):
        notes.append(f"training step with the other cores busy: {name} / timed choice = "
                     f"{timings[name]['median_s'] / ours:.2f}x")
    return results
