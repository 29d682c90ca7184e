"""One table of op specs drives the gradient checks and the PyTorch cross-checks: a new op
is a new row. Inputs keep away from kinks (ReLU at 0, hard-tanh at +-1, ...)."""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from mesimp_engine import ops
from mesimp_engine.ops.activation import Cube, HardSigmoid, HardTanh, ReLU, Sigmoid, Tanh
from mesimp_engine.ops.dropout import Dropout
from mesimp_engine.ops.elementwise import Add, Mul, Sub
from mesimp_engine.ops.embedding import Lookup
from mesimp_engine.ops.linalg import Affine, MatMul
from mesimp_engine.ops.loss import SoftmaxCrossEntropy
from mesimp_engine.ops.recurrent import LSTMGates
from mesimp_engine.ops.reduce import Mean, Sum
from mesimp_engine.ops.shape import Concat, Narrow
from mesimp_engine.sparsity.active_path import ActivePath, active_path


@dataclass
class OpSpec:
    name: str
    make_op: Callable  # () -> Op, for the check of the op alone
    graph_fn: Callable  # (*nodes) -> node, for the check through the graph
    inputs: Callable  # rng -> list of float64 arrays
    torch_fn: Optional[Callable] = None  # (torch, *tensors) -> tensor


def away_from(rng, shape, kinks, gap=0.1, low=-4.0, high=4.0):
    """Uniform values in [low, high] at least ``gap`` from every kink."""
    x = rng.uniform(low, high, size=shape)
    for _ in range(100):
        bad = np.zeros(shape, dtype=bool)
        for k in kinks:
            bad |= np.abs(x - k) < gap
        if not bad.any():
            return x
        x[bad] = rng.uniform(low, high, size=int(bad.sum()))
    raise RuntimeError("could not draw inputs away from the kinks")


GOLD = np.array([2, 0, 4, 1])
VALID = np.array(
    [[1, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 1], [1, 1, 0, 0, 1]], dtype=bool
)
IDS = np.array([3, 1, 3, 0, 5])
IDS2 = np.array([[0, 2], [2, 2], [4, 1]])
ACTIVE = np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]], dtype=bool)
CACHED = np.arange(12.0).reshape(3, 4) / 7


def _masked_ce(torch, z):
    zz = z.masked_fill(~torch.as_tensor(VALID), float("-inf"))
    return torch.nn.functional.cross_entropy(zz, torch.as_tensor(GOLD))


def _torch_lstm_gates(t, pre, state):
    i, f, g, o = pre.chunk(4, dim=1)
    c = t.sigmoid(i) * t.tanh(g)
    if state is not None:
        c = c + t.sigmoid(f) * state.chunk(2, dim=1)[1]
    return t.cat([t.sigmoid(o) * t.tanh(c), c], dim=1)


def _dropout_op():
    return Dropout(0.3, np.random.default_rng(7))


SPECS = [
    OpSpec("matmul", MatMul, lambda a, b: ops.matmul(a, b),
           lambda r: [r.standard_normal((3, 4)), r.standard_normal((4, 5))],
           lambda t, a, b: a @ b),
    OpSpec("affine", Affine, lambda x, W, b: ops.affine(x, W, b),
           lambda r: [r.standard_normal((3, 4)), r.standard_normal((5, 4)), r.standard_normal(5)],
           lambda t, x, W, b: t.nn.functional.linear(x, W, b)),
    OpSpec("affine_nobias", Affine, lambda x, W: ops.affine(x, W),
           lambda r: [r.standard_normal((3, 4)), r.standard_normal((5, 4))],
           lambda t, x, W: t.nn.functional.linear(x, W)),
    OpSpec("add", Add, lambda a, b: ops.add(a, b),
           lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4))], lambda t, a, b: a + b),
    OpSpec("add_broadcast", Add, lambda a, b: ops.add(a, b),
           lambda r: [r.standard_normal((3, 4)), r.standard_normal((1, 4))], lambda t, a, b: a + b),
    OpSpec("sub", Sub, lambda a, b: ops.sub(a, b),
           lambda r: [r.standard_normal((3, 4)), r.standard_normal(4)], lambda t, a, b: a - b),
    OpSpec("mul", Mul, lambda a, b: ops.mul(a, b),
           lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4))], lambda t, a, b: a * b),
    OpSpec("tanh", Tanh, lambda x: ops.tanh(x), lambda r: [r.standard_normal((3, 4))], lambda t, x: t.tanh(x)),
    OpSpec("sigmoid", Sigmoid, lambda x: ops.sigmoid(x),
           lambda r: [3 * r.standard_normal((3, 4))], lambda t, x: t.sigmoid(x)),
    OpSpec("relu", ReLU, lambda x: ops.relu(x), lambda r: [away_from(r, (3, 4), [0])], lambda t, x: t.relu(x)),
    OpSpec("cube", Cube, lambda x: ops.cube(x), lambda r: [r.standard_normal((3, 4))], lambda t, x: x**3),
    OpSpec("hardtanh", HardTanh, lambda x: ops.hardtanh(x),
           lambda r: [away_from(r, (3, 4), [-1, 1], low=-2, high=2)], lambda t, x: t.nn.functional.hardtanh(x)),
    OpSpec("hardsigmoid", HardSigmoid, lambda x: ops.hardsigmoid(x),
           lambda r: [away_from(r, (3, 4), [-3, 3], low=-5, high=5)], lambda t, x: t.nn.functional.hardsigmoid(x)),
    OpSpec("softmax_cross_entropy", lambda: SoftmaxCrossEntropy(GOLD),
           lambda z: ops.softmax_cross_entropy(z, GOLD),
           lambda r: [r.standard_normal((4, 5))],
           lambda t, z: t.nn.functional.cross_entropy(z, t.as_tensor(GOLD))),
    OpSpec("softmax_cross_entropy_sum", lambda: SoftmaxCrossEntropy(GOLD, reduction="sum"),
           lambda z: ops.softmax_cross_entropy(z, GOLD, reduction="sum"),
           lambda r: [r.standard_normal((4, 5))],
           lambda t, z: t.nn.functional.cross_entropy(z, t.as_tensor(GOLD), reduction="sum")),
    OpSpec("softmax_cross_entropy_masked", lambda: SoftmaxCrossEntropy(GOLD, VALID),
           lambda z: ops.softmax_cross_entropy(z, GOLD, VALID),
           lambda r: [r.standard_normal((4, 5))], _masked_ce),
    OpSpec("lookup", lambda: Lookup(IDS), lambda E: ops.lookup(E, IDS),
           lambda r: [r.standard_normal((6, 3))],
           lambda t, E: t.nn.functional.embedding(t.as_tensor(IDS), E)),
    OpSpec("lookup_features", lambda: Lookup(IDS2), lambda E: ops.lookup(E, IDS2),
           lambda r: [r.standard_normal((5, 3))],
           lambda t, E: t.nn.functional.embedding(t.as_tensor(IDS2), E).reshape(3, -1)),
    OpSpec("concat_rows", lambda: Concat(0), lambda a, b, c: ops.concat([a, b, c], axis=0),
           lambda r: [r.standard_normal((2, 3)), r.standard_normal((1, 3)), r.standard_normal((4, 3))],
           lambda t, a, b, c: t.cat([a, b, c], 0)),
    OpSpec("concat_cols", lambda: Concat(1), lambda a, b: ops.concat([a, b], axis=1),
           lambda r: [r.standard_normal((2, 3)), r.standard_normal((2, 5))], lambda t, a, b: t.cat([a, b], 1)),
    OpSpec("slice_rows", lambda: Narrow(0, 1, 3), lambda x: ops.slice_rows(x, 1, 3),
           lambda r: [r.standard_normal((4, 3))], lambda t, x: x[1:3]),
    OpSpec("slice_cols", lambda: Narrow(1, 2, 5), lambda x: ops.slice_cols(x, 2, 5),
           lambda r: [r.standard_normal((3, 6))], lambda t, x: x[:, 2:5]),
    OpSpec("dropout", _dropout_op, lambda x: ops.dropout(x, 0.3, np.random.default_rng(7)),
           lambda r: [r.standard_normal((4, 5))], None),
    OpSpec("active_path", lambda: ActivePath(ACTIVE, CACHED), lambda h: active_path(h, ACTIVE, CACHED),
           lambda r: [r.standard_normal((3, 4))],
           lambda t, h: t.where(t.as_tensor(ACTIVE), h, t.as_tensor(CACHED))),
    OpSpec("lstm_gates", LSTMGates, lambda pre, state: ops.lstm_gates(pre, state),
           lambda r: [2 * r.standard_normal((2, 12)), r.standard_normal((2, 6))], _torch_lstm_gates),
    OpSpec("lstm_gates_first", LSTMGates, lambda pre: ops.lstm_gates(pre),
           lambda r: [2 * r.standard_normal((2, 12))], lambda t, pre: _torch_lstm_gates(t, pre, None)),
    OpSpec("sum", Sum, lambda x: ops.sum(x), lambda r: [r.standard_normal((3, 4))], lambda t, x: x.sum()),
    OpSpec("sum_axis", lambda: Sum(0), lambda x: ops.sum(x, axis=0),
           lambda r: [r.standard_normal((3, 4))], lambda t, x: x.sum(0)),
    OpSpec("mean", Mean, lambda x: ops.mean(x), lambda r: [r.standard_normal((3, 4))], lambda t, x: x.mean()),
    OpSpec("mean_axis", lambda: Mean(1), lambda x: ops.mean(x, axis=1),
           lambda r: [r.standard_normal((3, 4))], lambda t, x: x.mean(1)),
]
