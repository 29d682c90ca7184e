"""The per-epoch summary of the hidden layers' outputs (``train.hidden_activity``) and the
models' ``hidden_outputs`` it is computed from."""

import numpy as np
import pytest

from mesimp_engine.graph import Graph
from mesimp_engine.models.mlp import MLP
from mesimp_engine.models.parser import ParserMLP
from mesimp_engine.train.hidden_activity import hidden_activity, model_activity


def test_summary_of_hand_made_outputs():
    h = np.array([[0.0, -2.0, 1.0, 0.0], [0.0, 3.0, 0.0, 0.5]], dtype=np.float32)
    (layer,) = hidden_activity([h])
    assert layer["mean_abs"] == pytest.approx(6.5 / 8)
    assert layer["max_abs"] == 3.0
    assert layer["silent"] == 0.25  # only unit 0 is 0 for both examples


def test_summary_per_layer_and_of_empty_layers():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)), np.maximum(rng.standard_normal((5, 7)), 0)
    b[:, 2] = 0
    summary = hidden_activity([a, b, np.zeros((5, 0))])
    assert [s["max_abs"] for s in summary[:2]] == [np.abs(a).max(), b.max()]
    assert summary[1]["silent"] == pytest.approx(np.mean(b.max(axis=0) == 0))
    assert summary[2] == {"mean_abs": 0.0, "max_abs": 0.0, "silent": 0.0}


def test_mlp_hidden_outputs_match_a_numpy_forward_and_leave_training_alone():
    rng = np.random.default_rng(1)
    model = MLP(12, [7, 5], 2, 3, dropout=0.5, rng=0, linear_options={"k": 2})
    x = rng.standard_normal((4, 12)).astype(np.float32)
    outputs = model.hidden_outputs(x)  # in evaluation mode: dropout 0.5 would change them
    assert model.training
    h, expected = x, []
    for layer in model.hidden_layers:
        h = np.maximum(h @ layer.weight.value.T + layer.bias.value, 0)
        expected.append(h)
    assert [o.shape for o in outputs] == [(4, 7), (4, 5)]
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_parser_hidden_outputs_lead_to_its_scores():
    model = ParserMLP(30, 10, 8, 5, embed=4, hidden=6, rng=0)
    features = np.random.default_rng(2).integers(0, 8, size=(9, 48))
    last = model.hidden_outputs(features)[-1]
    model.eval()
    Graph()
    scores = model(features).value
    model.train()
    out = model.output
    np.testing.assert_allclose(last @ out.weight.value.T + out.bias.value, scores, rtol=1e-5, atol=1e-6)
    assert (last < 0).any() and (last > 0).any()  # the cube: outputs of both signs


def test_no_summary_without_probe_or_hidden_outputs():
    class NoProbe:
        pass

    class Probe:
        def probe_inputs(self):
            return np.zeros((2, 12), np.float32)

    model = MLP(12, 4, 1, 3, rng=0)
    assert model_activity(NoProbe(), model) is None
    assert model_activity(Probe(), object()) is None
    (layer,) = model_activity(Probe(), model)
    assert layer["max_abs"] == pytest.approx(np.maximum(model.hidden_layers[0].bias.value, 0).max())
