"""``lstm_gates``: an LSTM cell's element-wise part as one op (the products stay ``affine``).

One step of an LSTM is two matrix products (input and recurrent, where meProp applies) and
a dozen element-wise operations on the gate pre-activations. As separate ops those cost a
graph node each, every time step (the tagger runs about 200,000 steps per epoch), which is
where a dense epoch's time went; fused, a step is five nodes instead of sixteen.

The cell's state travels as one array ``[h | c]`` of shape (B, 2H), so the op has a single
output: callers take h with ``slice_cols(state, 0, H)``.
"""

import numpy as np

from mesimp_engine.graph import apply
from mesimp_engine.ops.activation import stable_sigmoid as _sigmoid
from mesimp_engine.ops.base import Op


class LSTMGates(Op):
    """(pre, state) -> state'.  pre: (B, 4H) gate pre-activations in the order i, f, g, o;
    state: (B, 2H) = [h | c] of the previous step, or absent at the first step (c = 0).

        i = sigmoid(pre_i), f = sigmoid(pre_f), g = tanh(pre_g), o = sigmoid(pre_o)
        c' = f * c + i * g,  h' = o * tanh(c'),  state' = [h' | c'].

    Backward, from dstate' = [dh' | dc'_in]:  dc = dc'_in + dh' * o * (1 - tanh(c')^2);
    dpre_o = dh' * tanh(c') * o (1 - o);  dpre_i = dc * g * i (1 - i);
    dpre_g = dc * i * (1 - g^2);  dpre_f = dc * c * f (1 - f);  dstate = [0 | dc * f]
    (the previous h reaches this step only through the recurrent product, not through here).
    """

    def forward(self, pre, state=None):
        B, four_h = pre.shape
        if four_h % 4:
            raise self.shape_error("pre-activations must be (B, 4H)", pre.shape)
        H = four_h // 4
        if state is not None and state.shape != (B, 2 * H):
            raise self.shape_error("state must be (B, 2H) = [h | c]", pre.shape, state.shape)
        self.c = None if state is None else state[:, H:]
        self.i, self.f = _sigmoid(pre[:, :H]), _sigmoid(pre[:, H : 2 * H])
        self.g, self.o = np.tanh(pre[:, 2 * H : 3 * H]), _sigmoid(pre[:, 3 * H :])
        out = np.empty((B, 2 * H), dtype=pre.dtype)
        c_new = out[:, H:]
        np.multiply(self.i, self.g, out=c_new)
        if self.c is not None:
            c_new += self.f * self.c
        self.tanh_c = np.tanh(c_new)
        np.multiply(self.o, self.tanh_c, out=out[:, :H])
        return out

    def backward(self, dy, needs):
        H = self.i.shape[1]
        dh, dc = dy[:, :H], dy[:, H:]
        i, f, g, o, tanh_c = self.i, self.f, self.g, self.o, self.tanh_c
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        dpre = np.empty((dy.shape[0], 4 * H), dtype=dy.dtype)
        np.multiply(dc * g, i * (1 - i), out=dpre[:, :H])
        if self.c is None:
            dpre[:, H : 2 * H] = 0
        else:
            np.multiply(dc * self.c, f * (1 - f), out=dpre[:, H : 2 * H])
        np.multiply(dc * i, 1 - g * g, out=dpre[:, 2 * H : 3 * H])
        np.multiply(dh * tanh_c, o * (1 - o), out=dpre[:, 3 * H :])
        if len(needs) == 1:
            return (dpre if needs[0] else None,)
        dstate = None
        if needs[1]:
            dstate = np.zeros_like(dy)
            np.multiply(dc, f, out=dstate[:, H:])
        return (dpre if needs[0] else None), dstate


def lstm_gates(pre, state=None):
    """One LSTM step's element-wise part: state' = [h' | c'] (B, 2H) from the gate
    pre-activations (B, 4H) and the previous state (None at the first step)."""
    if state is None:
        return apply(LSTMGates(), pre)
    return apply(LSTMGates(), pre, state)
