"""The papers' models: the MNIST MLP, the Bi-LSTM POS tagger, the Chen & Manning parser."""

from mesimp_engine.models.mlp import MLP
from mesimp_engine.models.parser import ParserMLP
from mesimp_engine.models.tagger import BiLSTMTagger

__all__ = ["BiLSTMTagger", "MLP", "ParserMLP"]
