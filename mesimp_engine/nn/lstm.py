"""LSTM layers built from the engine's ops: ``LSTMCell``, ``LSTM`` and ``BiLSTM``.

Gates in PyTorch's order (i, f, g, o), so the weights can be compared with
``torch.nn.LSTM``: pre = x W_ih^T + b + h W_hh^T, split in four blocks of ``hidden``;
i = sigmoid, f = sigmoid, g = tanh (the candidate), o = sigmoid;
c' = f * c + i * g;  h' = o * tanh(c').  One bias vector (PyTorch has two that add up);
the forget-gate block of the bias starts at 1. The element-wise part of a step is one op
(``ops.lstm_gates``, on the packed state [h | c]); the two products are ``affine`` ops.

meProp (``k``): both products (the input projection and the recurrent one) back-propagate
only the top-k of each gate's pre-activation gradient, per time step (``blocks=4``: k per
gate, 4k per step), as the papers do for their LSTM. The input projection's selections
(one row per time step) go to ``selection_hooks`` as ``hook(selected, carried)`` (see
``nn.Linear``): meSimp counts a token as an example.
"""

import numpy as np

from mesimp_engine import ops
from mesimp_engine.nn.init import as_rng, uniform
from mesimp_engine.nn.module import Module
from mesimp_engine.parameter import Parameter
from mesimp_engine.sparsity.linear import check_options, meprop_affine, notify


class LSTMCell(Module):
    """One step.  x: (1, input_size) (or its precomputed projection, see ``step``),
    h, c: (1, hidden_size) -> (h', c').  W_ih: (4h, in), W_hh: (4h, h), b: (4h,)."""

    def __init__(self, input_size, hidden_size, rng=None, dtype=np.float32, k=None, mode="per_example",
                 select_rng=None):
        super().__init__()
        check_options("LSTMCell", k, mode, select_rng)
        rng = as_rng(rng)
        self.k, self.mode, self.select_rng = k, mode, select_rng
        self.selection_hooks = []
        bound = 1.0 / np.sqrt(hidden_size)
        self.weight_ih = Parameter(uniform(rng, (4 * hidden_size, input_size), bound, dtype), "weight_ih")
        self.weight_hh = Parameter(uniform(rng, (4 * hidden_size, hidden_size), bound, dtype), "weight_hh")
        bias = uniform(rng, (4 * hidden_size,), bound, dtype)
        bias[hidden_size : 2 * hidden_size] = 1.0
        self.bias = Parameter(bias, "bias")

    @property
    def input_size(self):
        return self.weight_ih.shape[1]

    @property
    def hidden_size(self):
        return self.weight_hh.shape[1]

    def _affine(self, x, W, b, on_select=None):
        k = self.k if self.training else None
        return meprop_affine(x, W, b, k, self.mode, self.select_rng, blocks=4, on_select=on_select,
                             name=W.name)

    def _record(self, selected, rows, dy):
        notify(self.selection_hooks, selected, dy)

    def project_inputs(self, xs):
        """x W_ih^T + b for every time step at once: (T, in) -> (T, 4h)."""
        return self._affine(xs, self.weight_ih, self.bias, self._record)

    def step(self, projected, h, c):
        """One step from the projected input (1, 4h) and the state (h, c) (None at t = 0):
        (h', c'). ``LSTM`` runs ``step_state`` instead, which keeps h and c in one array."""
        H = self.hidden_size
        state = None
        if h is not None:
            c = np.zeros((h.shape[0], H), dtype=self.bias.dtype) if c is None else c
            state = ops.concat([h, c], axis=1)
        state = self.step_state(projected, state, h)
        return ops.slice_cols(state, 0, H), ops.slice_cols(state, H, 2 * H)

    def step_state(self, projected, state, h):
        """One step on the packed state [h | c] (1, 2h) (None at t = 0), whose h part is
        also given as its own node ``h`` (the recurrent product's input): the gates add
        the recurrent product to the projected input, then ``ops.lstm_gates`` does the
        element-wise rest in one op. Returns the new state."""
        pre = projected if state is None else ops.add(projected, self._affine(h, self.weight_hh, None))
        return ops.lstm_gates(pre, state)

    def forward(self, x, h=None, c=None):
        return self.step(self.project_inputs(x), h, c)

class LSTM(Module):
    """A one-directional LSTM over a sentence.  xs: (T, input_size) -> (T, hidden_size)
    (the hidden state at every step, in the order of the input). ``reverse=True`` reads
    the sentence from its end. The initial state is zero."""

    def __init__(self, input_size, hidden_size, rng=None, dtype=np.float32, **meprop):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size, rng, dtype, **meprop)

    def forward(self, xs, reverse=False):
        projected = self.cell.project_inputs(xs)
        T = projected.shape[0]
        order = range(T - 1, -1, -1) if reverse else range(T)
        H = self.cell.hidden_size
        state = h = None
        outputs = [None] * T
        for t in order:
            state = self.cell.step_state(ops.slice_rows(projected, t, t + 1), state, h)
            h = outputs[t] = ops.slice_cols(state, 0, H)
        return ops.concat(outputs, axis=0)


class BiLSTM(Module):
    """A bidirectional LSTM: xs (T, in) -> (T, 2 * hidden_size), forward states then
    backward states in each row."""

    def __init__(self, input_size, hidden_size, rng=None, dtype=np.float32, **meprop):
        super().__init__()
        rng = as_rng(rng)
        self.forward_lstm = LSTM(input_size, hidden_size, rng, dtype, **meprop)
        self.backward_lstm = LSTM(input_size, hidden_size, rng, dtype, **meprop)

    def forward(self, xs):
        return ops.concat([self.forward_lstm(xs), self.backward_lstm(xs, reverse=True)], axis=1)
