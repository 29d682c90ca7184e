"""The papers' models: the MNIST MLP, the Bi-LSTM POS tagger, the Chen & Manning parser."""

from mesimp_engine.models.mlp import MLP

__all__ = ["MLP"]
