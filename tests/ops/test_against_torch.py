"""Forward and backward of every op match PyTorch (float64); skipped without PyTorch."""

import numpy as np
import pytest

from mesimp_engine.graph import Graph
from mesimp_engine.parameter import Parameter
from tests.ops.specs import SPECS

torch = pytest.importorskip("torch")

WITH_TORCH = [s for s in SPECS if s.torch_fn is not None]


@pytest.mark.parametrize("spec", WITH_TORCH, ids=[s.name for s in WITH_TORCH])
def test_forward_and_backward_match_torch(spec):
    inputs = spec.inputs(np.random.default_rng(3))
    params = [Parameter(x.copy(), f"x{i}") for i, x in enumerate(inputs)]
    g = Graph()
    out = spec.graph_fn(*params)
    r = np.random.default_rng(4).standard_normal(out.shape)
    g.backward(out, r)

    tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
    t_out = spec.torch_fn(torch, *tensors)
    t_out.backward(torch.tensor(r))

    np.testing.assert_allclose(out.value, t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    for p, t in zip(params, tensors):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_lstm_matches_torch():
    from mesimp_engine import nn

    T, n_in, H = 6, 3, 4
    ours = nn.LSTM(n_in, H, rng=0, dtype=np.float64)
    ref = torch.nn.LSTM(n_in, H, batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.tensor(ours.cell.weight_ih.value))
        ref.weight_hh_l0.copy_(torch.tensor(ours.cell.weight_hh.value))
        ref.bias_ih_l0.copy_(torch.tensor(ours.cell.bias.value))
        ref.bias_hh_l0.zero_()
    xs = np.random.default_rng(1).standard_normal((T, n_in))
    r = np.random.default_rng(2).standard_normal((T, H))
    g = Graph()
    out = ours(xs)
    g.backward(out, r)
    t_out, _ = ref(torch.tensor(xs)[None])
    t_out[0].backward(torch.tensor(r))
    np.testing.assert_allclose(out.value, t_out[0].detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.cell.weight_ih.grad, ref.weight_ih_l0.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.cell.weight_hh.grad, ref.weight_hh_l0.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.cell.bias.grad, ref.bias_ih_l0.grad.numpy(), atol=1e-10)
