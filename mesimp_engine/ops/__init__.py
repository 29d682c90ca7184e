"""Hand-written ops: each a class with ``forward`` and ``backward`` side by side, and a
lowercase function that appends it to the graph."""

from mesimp_engine.ops.activation import cube, hardsigmoid, hardtanh, relu, sigmoid, tanh
from mesimp_engine.ops.dropout import dropout
from mesimp_engine.ops.elementwise import add, mul, sub
from mesimp_engine.ops.embedding import lookup
from mesimp_engine.ops.linalg import affine, matmul
from mesimp_engine.ops.loss import softmax_cross_entropy
from mesimp_engine.ops.recurrent import lstm_gates
from mesimp_engine.ops.reduce import mean, sum
from mesimp_engine.ops.shape import concat, narrow, slice_cols, slice_rows

__all__ = [
    "add", "affine", "concat", "cube", "dropout", "hardsigmoid", "hardtanh", "lookup", "lstm_gates", "matmul",
    "mean", "mul", "narrow", "relu", "sigmoid", "slice_cols", "slice_rows", "softmax_cross_entropy",
    "sub", "sum", "tanh",
]
