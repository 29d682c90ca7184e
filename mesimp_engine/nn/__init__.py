"""Layers and the ``Module`` base."""

from mesimp_engine.nn.dropout import Dropout
from mesimp_engine.nn.embedding import Embedding
from mesimp_engine.nn.linear import Linear
from mesimp_engine.nn.lstm import LSTM, BiLSTM, LSTMCell
from mesimp_engine.nn.module import Module, Sequential

__all__ = ["BiLSTM", "Dropout", "Embedding", "LSTM", "LSTMCell", "Linear", "Module", "Sequential"]
