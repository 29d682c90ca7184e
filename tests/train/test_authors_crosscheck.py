"""The engine's meProp MNIST training against the authors' own program, step for step.

The fixture holds the per-step loss of the meProp authors' C# MNIST code (k = 20, Adam, the
element-wise clip at 5, double precision) run from the engine's initial weights and example
order (its header says how it was made; docs/mnist-meprop.md, "Checked against the authors' program").
With the authors' Adam form the engine retraces their program to round-off: two programs
that sum in different orders drift apart only after a few hundred steps (relative loss
difference 3.7e-10 at step 300, then chaos), so 200 steps are compared at 1e-9.
"""

import pathlib

import numpy as np

from mesimp_engine import optim
from mesimp_engine.data.prepared import load_prepared
from mesimp_engine.graph import Graph
from mesimp_engine.models.mlp import MLP

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "authors_csharp_meprop_losses.txt"


def _losses(prepared_data, eps_form, steps):
    arrays = load_prepared("mnist", prepared_data)
    images = arrays["train_images"].astype(np.float64) / 255.0  # the C# program's pixel values
    labels = arrays["train_labels"].astype(np.int64)
    order = np.random.default_rng([1, 1]).permutation(len(labels))
    model = MLP(784, 500, 2, 10, rng=np.random.default_rng([1, 0]), dtype=np.float64, init="authors",
                linear_options={"k": 20})
    optimizer = optim.Adam(model.parameters(), lr=0.001, clip=5.0, eps_form=eps_form)
    losses = []
    for s in range(steps):
        batch = order[10 * s:10 * s + 10]
        graph = Graph()
        loss = model.loss(images[batch], labels[batch])
        graph.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.value))
    return np.array(losses)


def test_meprop_training_retraces_the_authors_csharp_program(prepared_data):
    steps, want = np.loadtxt(FIXTURE, unpack=True)
    assert steps.tolist() == list(range(1, 201))
    got = _losses(prepared_data, "authors", 200)
    relative = np.abs(got - want) / want
    assert relative.max() < 1e-9, f"first step off by more than 1e-9: {int(np.argmax(relative > 1e-9)) + 1}"
    # the default (PyTorch's) eps form is a different update: it parts at the second step
    pytorch = _losses(prepared_data, "pytorch", 2)
    assert relative[0] < 1e-12 and abs(pytorch[1] - want[1]) / want[1] > 1e-7
