"""20-step trajectories of our optimizers on a small MLP match PyTorch's (float64)."""

import numpy as np
import pytest

from mesimp_engine import nn, ops, optim
from mesimp_engine.graph import Graph

torch = pytest.importorskip("torch")

CASES = {
    "sgd_momentum": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    "sgd_nesterov_wd": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
                        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    "adagrad": (lambda ps: optim.AdaGrad(ps, lr=0.1, eps=1e-6),
                lambda ps: torch.optim.Adagrad(ps, lr=0.1, eps=1e-6)),
    "adam": (lambda ps: optim.Adam(ps, lr=0.01),
             lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "adam_wd": (lambda ps: optim.Adam(ps, lr=0.01, weight_decay=1e-3),
                lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=1e-3)),
}


def _mlp():
    return nn.Sequential(nn.Linear(6, 8, rng=0, dtype=np.float64), nn.Linear(8, 3, rng=1, dtype=np.float64))


@pytest.mark.parametrize("name", list(CASES))
def test_twenty_steps_match_torch(name):
    make_ours, make_torch = CASES[name]
    model = _mlp()
    t_params = [torch.tensor(p.value.copy(), requires_grad=True) for p in model.parameters()]
    opt, t_opt = make_ours(model.parameters()), make_torch(t_params)
    rng = np.random.default_rng(0)
    for step in range(20):
        x = rng.standard_normal((5, 6))
        y = rng.integers(0, 3, size=5)
        opt.zero_grad()
        g = Graph()
        h = ops.tanh(model[0](x))
        loss = ops.softmax_cross_entropy(model[1](h), y)
        g.backward(loss)
        opt.step()

        t_opt.zero_grad()
        W1, b1, W2, b2 = t_params
        th = torch.tanh(torch.tensor(x) @ W1.T + b1)
        t_loss = torch.nn.functional.cross_entropy(th @ W2.T + b2, torch.tensor(y))
        t_loss.backward()
        t_opt.step()
        assert abs(loss.item() - t_loss.item()) < 1e-5, f"step {step}"
    for p, t in zip(model.parameters(), t_params):
        np.testing.assert_allclose(p.value, t.detach().numpy(), atol=1e-5, rtol=0)
