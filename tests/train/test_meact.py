"""meAct's rule, step by step, against a NumPy reference of the same two-layer MLP: which
units are active, what the inactive ones output, what each unit accumulates, and the
weight gradients that result."""

import numpy as np
import pytest

from mesimp_engine.graph import Graph
from mesimp_engine.models.mlp import MLP
from mesimp_engine.train.meact import MeAct

N_IN, WIDTH, N_OUT, N_TRAIN = 7, 6, 4, 5


def _relu(z):
    return np.maximum(z, 0)


def _reference_step(params, x, y, sums, cache, ids, threshold, applying):
    """One meAct forward and backward in NumPy; updates ``sums`` and ``cache`` (per layer,
    rows = examples) in place and returns the weight gradients."""
    (W1, b1), (W2, b2), (Wo, bo) = params
    h, inputs, pre, actives = x, [], [], []
    for (W, b), G, C in zip(((W1, b1), (W2, b2)), sums, cache):
        inputs.append(h)
        z = h @ W.T + b
        pre.append(z)
        g = G[ids]
        active = g >= threshold * g.mean(axis=1, keepdims=True) if applying else np.ones(z.shape, bool)
        h = np.where(active, _relu(z), C[ids])
        C[ids] = h
        actives.append(active)
    logits = h @ Wo.T + bo
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    dy = p / len(y)
    grads = [dy.T @ h]
    dh = dy @ Wo
    for layer in (1, 0):
        W = params[layer][0]
        sums[layer][ids] += np.abs(dh) * actives[layer]  # an inactive unit carries no gradient
        dz = dh * actives[layer] * (pre[layer] > 0)
        grads.insert(0, dz.T @ inputs[layer])
        dh = dz @ W
    return grads, actives


def test_meact_step_matches_the_reference():
    rng = np.random.default_rng(3)
    model = MLP(n_in=N_IN, hidden=WIDTH, layers=2, n_out=N_OUT, rng=0, dtype=np.float64)
    meact = MeAct(model, N_TRAIN, threshold=1.0, start_epoch=2, log=lambda line: None)
    layers = [*model.hidden_layers, model.output]
    params = [(layer.weight.value, layer.bias.value) for layer in layers]
    x = rng.standard_normal((N_TRAIN, N_IN))
    y = rng.integers(0, N_OUT, N_TRAIN)
    sums = [np.zeros((N_TRAIN, WIDTH)) for _ in range(2)]
    cache = [np.zeros((N_TRAIN, WIDTH)) for _ in range(2)]
    batches = [np.array([0, 1, 2, 3, 4]), np.array([3, 1]), np.array([4, 0, 2])]
    inactive_seen = 0
    for epoch in (1, 2, 3):
        meact.start_epoch(epoch)
        active = total = 0
        for ids in batches:
            meact.before_step(ids)
            g = Graph()
            g.backward(model.loss(x[ids], y[ids]))
            expected, actives = _reference_step(params, x[ids], y[ids], sums, cache, ids, 1.0, epoch >= 2)
            for layer, grad in zip(layers, expected):
                np.testing.assert_allclose(layer.weight.grad, grad, rtol=1e-12, atol=1e-14)
                layer.weight.zero_grad()
                layer.bias.zero_grad()
            for ours, ref in zip(meact.grad_sum, sums):
                np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)  # float32 records
            for ours, ref in zip(meact.cache, cache):
                np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)
            active += sum(int(a.sum()) for a in actives)
            total += sum(a.size for a in actives)
        inactive_seen += total - active
        assert meact.end_epoch(epoch)["active_share"] == pytest.approx(active / total)
    assert inactive_seen > 0, "the data left every unit active: the test would not see the rule"


def test_an_inactive_unit_stays_inactive_and_keeps_its_cached_output():
    rng = np.random.default_rng(5)
    model = MLP(n_in=N_IN, hidden=WIDTH, layers=2, n_out=N_OUT, rng=1, dtype=np.float64)
    meact = MeAct(model, N_TRAIN, threshold=1.0, start_epoch=2, log=lambda line: None)
    x = rng.standard_normal((N_TRAIN, N_IN))
    y = rng.integers(0, N_OUT, N_TRAIN)
    ids = np.arange(N_TRAIN)
    first_inactive, first_cache = None, None
    for epoch in (1, 2, 3, 4):
        meact.start_epoch(epoch)
        meact.before_step(ids)
        Graph().backward(model.loss(x, y))
        for layer in [*model.hidden_layers, model.output]:  # the weights move between passes
            layer.weight.value -= 0.5 * layer.weight.grad
            layer.weight.zero_grad()
            layer.bias.zero_grad()
        G = meact.grad_sum[0]
        inactive = G < G.mean(axis=1, keepdims=True)
        if epoch == 2:
            first_inactive, first_cache = inactive.copy(), meact.cache[0].copy()
        elif epoch > 2:
            assert np.array_equal(inactive & first_inactive, first_inactive)
            np.testing.assert_array_equal(meact.cache[0][first_inactive], first_cache[first_inactive])
    assert first_inactive.any()
