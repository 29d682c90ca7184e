"""Small float64 models, inputs, and the "units forced to zero" references shared by the
simplify tests."""

import copy

import numpy as np

from mesimp_engine.graph import Graph
from mesimp_engine.models.mlp import MLP
from mesimp_engine.models.parser import ParserMLP
from mesimp_engine.models.tagger import BiLSTMTagger

F64 = np.float64
GATES = 4


def small_mlp(seed, hidden=6, layers=2):
    return MLP(n_in=5, hidden=hidden, layers=layers, n_out=3, rng=seed, dtype=F64)


def mlp_batch(seed, batch=4):
    rng = np.random.default_rng(seed + 1000)
    return rng.standard_normal((batch, 5)), rng.integers(0, 3, batch)


def small_parser(seed, hidden=6, layers=2):
    return ParserMLP(n_words=7, n_tags=5, n_labels_ids=4, n_transitions=3, embed=2, hidden=hidden,
                     layers=layers, rng=seed, dtype=F64)


def parser_batch(seed, batch=4):
    rng = np.random.default_rng(seed + 1000)
    features = np.concatenate(
        [rng.integers(0, 7, (batch, 18)), rng.integers(0, 5, (batch, 18)), rng.integers(0, 4, (batch, 12))], axis=1)
    return features, rng.integers(0, 3, batch)


def small_tagger(seed, hidden=5):
    return BiLSTMTagger(n_words=6, n_feature_values=[3, 4], n_tags=3, word_dim=3, feature_dim=2,
                        hidden=hidden, rng=seed, dtype=F64)


def tagger_sentence(seed, n=4):
    rng = np.random.default_rng(seed + 1000)
    words = rng.integers(0, 6, n)
    features = np.stack([rng.integers(0, 3, n), rng.integers(0, 4, n)], axis=1)
    return words, features, rng.integers(0, 3, n)


def outputs(model, *inputs):
    Graph()
    return model(*inputs).value.copy()


def gate_rows(index, hidden):
    """The rows of cells ``index`` in the four gate blocks of an LSTM with ``hidden`` cells."""
    return np.concatenate([g * hidden + np.asarray(index, dtype=np.int64) for g in range(GATES)])


def dropped(keep):
    return np.flatnonzero(~np.asarray(keep, dtype=bool))


def masked_mlp(model, keeps):
    """A copy of an MLP/ParserMLP whose dropped units have zero weight rows and bias, so
    they output f(0) = 0. The consumers' columns stay as they are."""
    ref = copy.deepcopy(model)
    for layer, keep in zip(ref.hidden_layers, keeps):
        layer.weight.value[dropped(keep)] = 0
        layer.bias.value[dropped(keep)] = 0
    return ref


def masked_tagger(model, keep_forward, keep_backward):
    """A copy of a tagger whose dropped cells have zero rows in all four gate blocks of
    weight_ih, weight_hh and bias; their recurrent columns and consumer columns stay."""
    ref = copy.deepcopy(model)
    for lstm, keep in ((ref.bilstm.forward_lstm, keep_forward), (ref.bilstm.backward_lstm, keep_backward)):
        cell = lstm.cell
        rows = gate_rows(dropped(keep), cell.hidden_size)
        for p in (cell.weight_ih, cell.weight_hh, cell.bias):
            p.value[rows] = 0
    return ref


def mlp_kept_slices(model, keeps):
    """name -> index tuple mapping an untrimmed MLP/ParserMLP parameter onto the trimmed one."""
    slices = {name: (slice(None),) for name, _ in model.named_parameters()}
    previous = np.arange(model.hidden_layers[0].in_features)
    for i, keep in enumerate(keeps):
        rows = np.flatnonzero(keep)
        slices[f"hidden_layers.{i}.weight"] = np.ix_(rows, previous)
        slices[f"hidden_layers.{i}.bias"] = (rows,)
        previous = rows
    slices["output.weight"] = (slice(None), previous)
    return slices


def tagger_kept_slices(model, keep_forward, keep_backward):
    """name -> index tuple mapping an untrimmed tagger's parameters onto the trimmed ones."""
    H = model.bilstm.forward_lstm.cell.hidden_size
    slices = {name: (slice(None),) for name, _ in model.named_parameters()}
    kf, kb = np.flatnonzero(keep_forward), np.flatnonzero(keep_backward)
    for direction, kept in (("forward_lstm", kf), ("backward_lstm", kb)):
        prefix = f"bilstm.{direction}.cell."
        rows = gate_rows(kept, H)
        slices[prefix + "weight_ih"] = (rows,)
        slices[prefix + "weight_hh"] = np.ix_(rows, kept)
        slices[prefix + "bias"] = (rows,)
    slices["output.weight"] = (slice(None), np.concatenate([kf, H + kb]))
    return slices
