"""Layers pass the gradient check through the graph; Module bookkeeping works."""

import numpy as np
import pytest

from mesimp_engine import gradcheck, nn, ops
from mesimp_engine.graph import Graph

F64 = np.float64


def check_module_gradients(module, make_input, reduce=ops.sum):
    """Gradient check of every parameter of ``module`` (and of its float input, if any)."""
    x = make_input()
    params = module.parameters()
    if x.dtype.kind == "f":
        errors = gradcheck.check(lambda x, *ps: reduce(module(x)), x, *params)
    else:
        errors = gradcheck.check(lambda *ps: reduce(module(x)), *params)
    assert max(errors) < 1e-6
    return errors


def test_linear():
    check_module_gradients(nn.Linear(4, 3, rng=0, dtype=F64), lambda: np.random.default_rng(1).standard_normal((5, 4)))


def test_linear_without_bias():
    layer = nn.Linear(4, 3, bias=False, rng=0, dtype=F64)
    assert len(layer.parameters()) == 1
    check_module_gradients(layer, lambda: np.random.default_rng(1).standard_normal((5, 4)))


def test_embedding():
    check_module_gradients(nn.Embedding(7, 3, rng=0, dtype=F64), lambda: np.array([[1, 6], [1, 0], [3, 3]]))


def test_lstm_cell():
    cell = nn.LSTMCell(3, 4, rng=0, dtype=F64)
    x = np.random.default_rng(1).standard_normal((1, 3))
    h0 = np.random.default_rng(2).standard_normal((1, 4))
    c0 = np.random.default_rng(3).standard_normal((1, 4))

    def fn(x, h, c, *ps):
        h1, c1 = cell(x, h, c)
        return ops.concat([h1, c1], axis=1)

    assert max(gradcheck.check(fn, x, h0, c0, *cell.parameters())) < 1e-6


def test_lstm_both_directions():
    lstm = nn.LSTM(3, 4, rng=0, dtype=F64)
    xs = np.random.default_rng(1).standard_normal((5, 3))
    for reverse in (False, True):
        assert max(gradcheck.check(lambda x, *ps: lstm(x, reverse=reverse), xs, *lstm.parameters())) < 1e-6


def test_bilstm():
    m = nn.BiLSTM(3, 2, rng=0, dtype=F64)
    out = check_module_gradients(m, lambda: np.random.default_rng(1).standard_normal((4, 3)))
    assert len(out) == 1 + 6


def test_forget_gate_bias_starts_at_one():
    cell = nn.LSTMCell(3, 4, rng=0)
    np.testing.assert_array_equal(cell.bias.value[4:8], 1.0)


def test_reverse_lstm_reads_from_the_end():
    """The last output of a reverse LSTM depends only on the last input."""
    lstm = nn.LSTM(2, 3, rng=0, dtype=F64)
    xs = np.random.default_rng(0).standard_normal((4, 2))
    Graph()
    a = lstm(xs, reverse=True).value
    xs2 = xs.copy()
    xs2[0] += 1.0
    Graph()
    b = lstm(xs2, reverse=True).value
    np.testing.assert_allclose(a[1:], b[1:])
    assert not np.allclose(a[0], b[0])


def test_dropout_module_train_and_eval():
    d = nn.Dropout(0.5, rng=0)
    x = np.ones((10, 10))
    Graph()
    assert (d(x).value == 0).any()
    d.eval()
    Graph()
    y = d(Graph().input(x))
    assert np.array_equal(y.value, x)
    with pytest.raises(ValueError, match="p must be"):
        nn.Dropout(1.0)


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 5, rng=0)
        self.drop = nn.Dropout(0.1, rng=0)
        self.out = nn.Linear(5, 2, rng=1)

    def forward(self, x):
        return self.out(ops.relu(self.drop(self.hidden(x))))


def test_module_registers_parameters_in_order():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert m.num_parameters() == 4 * 5 + 5 + 5 * 2 + 2
    m.eval()
    assert not m.drop.training and not m.training
    m.train()
    assert m.drop.training


@pytest.mark.parametrize("training", [True, False])
def test_evaluating_restores_the_mode_it_found(training):
    m = TwoLayer().train(training)
    with pytest.raises(RuntimeError), m.evaluating():
        assert not m.training and not m.drop.training
        raise RuntimeError("a failed evaluation")
    assert m.training is training and m.drop.training is training


def test_zero_grad_and_state_dict_roundtrip():
    m = TwoLayer()
    Graph()
    loss = ops.sum(m(np.ones((3, 4), dtype=np.float32)))
    loss.graph.backward(loss)
    assert any(p.grad.any() for p in m.parameters())
    m.zero_grad()
    assert not any(p.grad.any() for p in m.parameters())
    state = m.state_dict()
    m2 = TwoLayer()
    m2.hidden.weight.value += 1
    m2.load_state_dict(state)
    for (_, a), (_, b) in zip(m.named_parameters(), m2.named_parameters()):
        np.testing.assert_array_equal(a.value, b.value)


def test_parameter_names_are_paths():
    m = TwoLayer()
    assert [p.name for p in m.parameters()] == [n for n, _ in m.named_parameters()]
    outer = nn.Sequential(m)
    assert outer.parameters()[0].name == "0.hidden.weight"


def test_linear_initialisations():
    """"pytorch": W and b ~ U(+-1/sqrt(in)); "authors": W ~ N(0, 6 / (in + out)), b = 0 (the
    meProp C# code's GlorotNormalInit); "lecun": W ~ N(0, 1 / in), b = 0; an unknown name is
    refused."""
    n_in, n_out = 784, 500
    torch_like = nn.Linear(n_in, n_out, rng=0)
    bound = 1 / np.sqrt(n_in)
    assert np.abs(torch_like.weight.value).max() <= bound and np.abs(torch_like.bias.value).max() <= bound
    assert torch_like.weight.value.std() == pytest.approx(bound / np.sqrt(3), rel=0.01)
    authors = nn.Linear(n_in, n_out, rng=0, init="authors")
    assert authors.weight.value.dtype == np.float32
    assert authors.weight.value.std() == pytest.approx(np.sqrt(6 / (n_in + n_out)), rel=0.01)
    assert abs(authors.weight.value.mean()) < 0.002
    assert np.abs(authors.weight.value).max() > np.sqrt(6 / (n_in + n_out))  # normal, not uniform
    assert not authors.bias.value.any()
    assert nn.Linear(3, 2, bias=False, rng=0, init="authors").bias is None
    lecun = nn.Linear(n_in, n_out, rng=0, init="lecun")  # Chainer's default L.Linear
    assert lecun.weight.value.std() == pytest.approx(1 / np.sqrt(n_in), rel=0.01)
    assert np.abs(lecun.weight.value).max() > 3 / np.sqrt(n_in) and not lecun.bias.value.any()
    with pytest.raises(ValueError, match="init"):
        nn.Linear(3, 2, init="glorot")


def test_mlp_passes_its_initialisation_to_every_layer():
    from mesimp_engine.models.mlp import MLP

    model = MLP(20, 30, 2, 5, rng=0, init="authors")
    for layer in [*model.hidden_layers, model.output]:
        assert not layer.bias.value.any()
    # the default draws W then b, U(+-1/sqrt(in)), layer after layer, from the one generator
    rng = np.random.default_rng(0)
    expected = rng.uniform(-1 / np.sqrt(20), 1 / np.sqrt(20), (30, 20)).astype(np.float32)
    assert np.array_equal(MLP(20, 30, 2, 5, rng=0).hidden_layers[0].weight.value, expected)
