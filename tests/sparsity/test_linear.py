"""meProp inside the graph: exact gradients where the selection is unambiguous, dense
gradients at k = n, per-gate blocks, the record of selected units."""

import numpy as np
import pytest

from mesimp_engine import gradcheck, nn, ops
from mesimp_engine.graph import Graph
from mesimp_engine.sparsity.linear import MePropAffine, meprop_affine, select


def _sparse_rows(rng, B, n, k):
    """(B, n) with k entries of magnitude in [1, 2] per row and zeros elsewhere: a clear gap
    between the k-th and (k+1)-th magnitudes."""
    r = np.zeros((B, n))
    for b in range(B):
        cols = rng.choice(n, size=k, replace=False)
        r[b, cols] = rng.uniform(1, 2, size=k) * rng.choice([-1, 1], size=k)
    return r


def _sparse_cols(rng, B, n, k):
    r = np.zeros((B, n))
    cols = rng.choice(n, size=k, replace=False)
    r[:, cols] = rng.uniform(1, 2, size=(B, k)) * rng.choice([-1, 1], size=(B, k))
    return r


@pytest.mark.parametrize("mode,make_r", [("per_example", _sparse_rows), ("unified", _sparse_cols)])
def test_gradcheck_with_a_gap_at_k(mode, make_r):
    rng = np.random.default_rng(0)
    B, n_in, n_out, k = 4, 5, 9, 3
    x, W, b = rng.standard_normal((B, n_in)), rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    r = make_r(rng, B, n_out, k)
    errors = gradcheck.check(lambda x, W, b: meprop_affine(x, W, b, k=k, mode=mode), x, W, b, projection=r)
    assert max(errors) < 1e-7


def test_gradcheck_through_a_hidden_layer():
    """Zeros of dy stay zeros through tanh', so top-k still keeps exactly the non-zeros."""
    rng = np.random.default_rng(1)
    B, n_in, n_hidden, k = 3, 4, 8, 2
    x, W1, W2 = rng.standard_normal((B, n_in)), rng.standard_normal((n_hidden, n_in)), np.eye(n_hidden)
    r = _sparse_rows(rng, B, n_hidden, k)
    errors = gradcheck.check(
        lambda x, W1: ops.affine(ops.tanh(meprop_affine(x, W1, k=k)), W2), x, W1, projection=r
    )
    assert max(errors) < 1e-7


def test_sparse_backward_differs_from_dense_when_selection_drops_units():
    rng = np.random.default_rng(2)
    x, W = rng.standard_normal((3, 4)), rng.standard_normal((6, 4))
    with pytest.raises(gradcheck.GradcheckError):
        gradcheck.check(lambda x, W: meprop_affine(x, W, k=2), x, W)


@pytest.mark.parametrize("mode", ["per_example", "unified", "random"])
@pytest.mark.parametrize("path", ["shortcut", "sparse kernels"])
def test_k_equal_n_reproduces_dense_gradients(mode, path, monkeypatch):
    """k = n: the layer takes the dense shortcut (``_backward_keeping_all``); forced through
    its sparse path instead (selection of every unit, then the meProp kernels), it must
    give the same gradients."""
    if path == "sparse kernels":
        monkeypatch.setattr(MePropAffine, "_backward_keeping_all", MePropAffine._backward_sparse)
    rng = np.random.default_rng(3)
    dense = nn.Linear(7, 5, rng=0, dtype=np.float64)
    sparse = nn.Linear(7, 5, rng=0, dtype=np.float64, k=5, mode=mode, select_rng=np.random.default_rng(1))
    x = rng.standard_normal((6, 7))
    r = rng.standard_normal((6, 5))
    grads = []
    for layer in (dense, sparse):
        g = Graph()
        xin = nn.Linear(7, 7, rng=9, dtype=np.float64)  # a layer below, so dx is needed
        out = layer(xin(x))
        g.backward(out, r)
        grads.append([p.grad.copy() for p in layer.parameters()] + [xin.weight.grad.copy()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_per_gate_blocks_select_k_in_each_block():
    rng = np.random.default_rng(4)
    dy = rng.standard_normal((3, 12))
    idx = select(dy, 2, "per_example", blocks=4)
    assert idx.shape == (3, 8)
    for b in range(3):
        for block in range(4):
            part = np.abs(dy[b, 3 * block : 3 * block + 3])
            expected = 3 * block + np.sort(np.argsort(-part, kind="stable")[:2])
            np.testing.assert_array_equal(np.sort(idx[b, 2 * block : 2 * block + 2]), expected)
    unified = select(dy, 1, "unified", blocks=4)
    sums = np.abs(dy).sum(axis=0).reshape(4, 3)
    np.testing.assert_array_equal(unified, np.arange(4) * 3 + sums.argmax(axis=1))
    randk = select(dy, 2, "random", np.random.default_rng(0), blocks=4)
    assert randk.shape == (3, 8)
    for block in range(4):
        part = randk[:, 2 * block : 2 * block + 2]
        assert np.all((part >= 3 * block) & (part < 3 * block + 3)) and np.all(part[:, 0] != part[:, 1])


def test_random_k_draws_k_distinct_units_from_the_generator():
    dy = np.ones((50, 20))
    a = select(dy, 5, "random", rng=np.random.default_rng(7))
    b = select(dy, 5, "random", rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert all(len(set(row)) == 5 for row in a)
    assert len({tuple(row) for row in a}) > 40


def test_layer_records_selection_and_updated_fraction():
    layer = nn.Linear(6, 10, rng=0, k=2)
    seen = []
    layer.selection_hooks.append(lambda selected, carried: seen.append((selected, carried)))
    g = Graph()
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    g.backward(ops.sum(ops.mul(layer(x), np.random.default_rng(1).standard_normal((3, 10)).astype(np.float32))))
    assert layer.selected.shape == (3, 2) and seen[0][0] is layer.selected
    assert seen[0][1].shape == (3, 2) and seen[0][1].all()  # Gaussian dy: no zero entries
    rows = np.unique(layer.selected)
    assert layer.updated_fraction == rows.size / 10
    np.testing.assert_array_equal(layer.weight.touched_rows(), rows)
    assert not layer.weight.grad[np.setdiff1d(np.arange(10), rows)].any()


@pytest.mark.parametrize("mode", ["per_example", "unified"])
def test_a_layer_whose_k_covers_every_unit_records_every_unit(mode):
    """k >= n_out (MNIST's output layer at k = 20): the dense gradients, every unit recorded
    as selected, from read-only arrays made once per shape."""
    layer = nn.Linear(6, 4, rng=0, k=20, mode=mode)
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    r = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    seen = []
    for _ in range(2):
        g = Graph()
        g.backward(ops.sum(ops.mul(layer(x), r)))
        seen.append(layer.selected)
        np.testing.assert_allclose(layer.weight.grad, r.T @ x, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer.bias.grad, r.sum(0), rtol=1e-5, atol=1e-6)
        layer.weight.zero_grad()
        layer.bias.zero_grad()
    want = np.arange(4) if mode == "unified" else np.tile(np.arange(4), (3, 1))
    np.testing.assert_array_equal(seen[0], want)
    assert seen[1] is seen[0] and not seen[0].flags.writeable
    assert layer.updated_fraction == 1.0


def test_bad_settings_are_clear():
    with pytest.raises(ValueError, match="k >= 1"):
        nn.Linear(3, 4, k=0)
    with pytest.raises(ValueError, match="mode"):
        nn.Linear(3, 4, k=1, mode="best")
    with pytest.raises(ValueError, match="Generator"):
        MePropAffine(2, "random")


def test_eval_mode_uses_the_plain_affine():
    layer = nn.Linear(4, 6, rng=0, k=2).eval()
    g = Graph()
    layer(np.ones((2, 4), dtype=np.float32))
    assert type(g.nodes[-1].op).__name__ == "Affine"


@pytest.mark.parametrize("path", ["shortcut", "sparse kernels"])
def test_lstm_with_k_at_gate_size_matches_dense_lstm(path, monkeypatch):
    """k = the gate size keeps every unit of every gate: the dense shortcut, and, forced
    through it, meProp's per-gate sparse path (four blocks), give the dense LSTM's gradients."""
    if path == "sparse kernels":
        monkeypatch.setattr(MePropAffine, "_backward_keeping_all", MePropAffine._backward_sparse)
    xs = np.random.default_rng(5).standard_normal((4, 3))
    grads = []
    for k in (None, 6):
        lstm = nn.LSTM(3, 6, rng=0, dtype=np.float64, k=k)
        g = Graph()
        g.backward(ops.sum(ops.mul(lstm(xs), np.random.default_rng(6).standard_normal((4, 6)))))
        grads.append([p.grad.copy() for p in lstm.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_lstm_meprop_selects_k_per_gate_and_reports_it():
    lstm = nn.LSTM(3, 6, rng=0, dtype=np.float64, k=2)
    seen = []
    lstm.cell.selection_hooks.append(lambda selected, carried: seen.append(selected))
    g = Graph()
    g.backward(ops.sum(ops.mul(lstm(np.ones((5, 3))), np.random.default_rng(1).standard_normal((5, 6)))))
    assert seen[0].shape == (5, 8)  # a row per time step, 2 units in each of the 4 gates
    gates = seen[0] // 6
    np.testing.assert_array_equal(gates, np.repeat([[0, 0, 1, 1, 2, 2, 3, 3]], 5, axis=0))
    touched = lstm.cell.weight_hh.touched_rows()
    assert touched.size < 24 and lstm.cell.weight_ih.touched_rows().size < 24


@pytest.mark.parametrize("blocks", [1, 4])
def test_fused_small_path_equals_the_general_path(monkeypatch, blocks):
    """Small problems go through select_and_backward; forcing the general path (separate
    selection, inverted index, blocked kernels) gives the same gradients and selection."""
    from mesimp_engine.sparsity import meprop

    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 30))
    W = rng.standard_normal((4 * 25 if blocks == 4 else 40, 30))
    dy = rng.standard_normal((6, W.shape[0]))
    outs = []
    for limit in (meprop.FUSED_UP_TO, 0):
        monkeypatch.setattr(meprop, "FUSED_UP_TO", limit)
        seen = []
        op = MePropAffine(3, blocks=blocks, on_select=lambda idx, rows, dy: seen.append((idx.copy(), rows.copy())))
        op.forward(x, W, np.zeros(W.shape[0]))
        dx, dW, db = op.backward(dy, (True, True, True))
        outs.append((dx, dW.rows, dW.values, db, *seen[0]))
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["per_example", "unified"])
def test_hooks_learn_which_selections_carried_no_gradient(mode):
    """Units whose gradient is zero for an example (here: dy zeroed by hand) are reported as
    selected but not carried, also when k covers the whole layer."""
    for k in (3, 10):
        layer = nn.Linear(4, 10, rng=0, k=k, mode=mode)
        seen = []
        layer.selection_hooks.append(lambda selected, carried: seen.append((selected.copy(), carried.copy())))
        dy = np.random.default_rng(2).standard_normal((5, 10)).astype(np.float32)
        dy[:, 7:] = 0.0
        dy[1, :] = 0.0
        g = Graph()
        x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
        g.backward(ops.sum(ops.mul(layer(x), dy)))
        selected, carried = seen[0]
        units = np.broadcast_to(selected, carried.shape)
        np.testing.assert_array_equal(carried, np.take_along_axis(dy, units, axis=1) != 0)
        assert not carried[1].any() and not carried[units >= 7].any()
