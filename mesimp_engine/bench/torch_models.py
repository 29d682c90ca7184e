"""PyTorch replicas of the papers' three models, made from one of ours with its weights
copied: the other side of the benchmarks' comparisons with PyTorch (``bench overhead``,
``bench models``). This module imports PyTorch: import it only where PyTorch is installed.

A replica computes what the engine's model computes with dense back propagation: the same
layers in the same order, from the same initial weights, so one training step of each from
the same batch gives the same loss before and after the update (``bench models`` checks it
before it times anything). Where the two differ:
- the LSTM: PyTorch has two bias vectors per direction that add up; the replica's
  ``bias_ih`` is the engine's one bias and ``bias_hh`` is zero and frozen (trained, it
  would take the same step as ``bias_ih``: the sum of the two would move twice as far);
- the embedding tables: PyTorch's Adam updates every row of a table each step (the rows
  not looked up move on their moments); the engine updates only the rows looked up
  (``Parameter(row_sparse=True)``, lazy Adam), so the two part after the first step in
  the rows one step looked up and the next did not. The replica keeps PyTorch's dense
  tables, as a PyTorch user would write the model;
- dropout: a replica of a model with dropout would draw other masks, so models with
  dropout are refused.
"""

import torch

from mesimp_engine import ops
from mesimp_engine.models.mlp import MLP
from mesimp_engine.models.parser import LABELS, TAGS, WORDS, ParserMLP
from mesimp_engine.models.tagger import BiLSTMTagger

ADAM_IMPLEMENTATIONS = {"Adam": {}, "fused Adam": {"fused": True}}
"""PyTorch's Adam on the CPU: the default (a loop over the parameters, one small op after
another) and ``fused=True`` (one kernel per parameter; PyTorch 2.4 and later on the CPU),
which is about twice as fast on the MNIST MLP's step. Both compute the same update."""


def replica(model):
    """A ``torch.nn.Module`` computing ``model``'s logits (an ``MLP``, the parser's
    ``ParserMLP`` or the tagger's ``BiLSTMTagger``) from the same inputs (NumPy arrays or
    tensors), with ``model``'s current weights copied."""
    if model.dropout.p:
        raise ValueError(f"a PyTorch replica of a model with dropout ({model.dropout.p}) would draw other masks")
    if isinstance(model, BiLSTMTagger):
        return TaggerReplica(model)
    if isinstance(model, MLP):
        return MLPReplica(model)
    raise TypeError(f"no PyTorch replica for {type(model).__name__}")


def adam(replica_model, lr, implementation="Adam"):
    """PyTorch's Adam over ``replica_model``'s parameters (``ADAM_IMPLEMENTATIONS``)."""
    return torch.optim.Adam(replica_model.parameters(), lr=lr, **ADAM_IMPLEMENTATIONS[implementation])


def tensor(a):
    """``a`` as a tensor (NumPy arrays shared, not copied)."""
    return a if isinstance(a, torch.Tensor) else torch.from_numpy(a)


def loss(replica_model, batch):
    """The mean cross-entropy of ``replica_model`` on ``batch`` = (*inputs, targets), the
    engine's tasks' batches (NumPy arrays or tensors)."""
    *inputs, target = batch
    return torch.nn.functional.cross_entropy(replica_model(*inputs), tensor(target))


def train_step(replica_model, optimizer, batch):
    """One training step on ``batch``, as the engine's: gradients zeroed, loss, backward, update."""
    optimizer.zero_grad()
    loss(replica_model, batch).backward()
    optimizer.step()


def _copy(target, source):
    """Copy the engine's ``Parameter`` ``source`` into the torch parameter ``target``."""
    with torch.no_grad():
        target.copy_(tensor(source.value).reshape(target.shape))


def _dtype(parameter):
    return getattr(torch, parameter.value.dtype.name)


def _linear(layer):
    copy = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None,
                           dtype=_dtype(layer.weight))
    _copy(copy.weight, layer.weight)
    if layer.bias is not None:
        _copy(copy.bias, layer.bias)
    return copy


def _embedding(embedding):
    copy = torch.nn.Embedding(embedding.num_embeddings, embedding.embedding_dim, dtype=_dtype(embedding.weight))
    _copy(copy.weight, embedding.weight)
    return copy


class MLPReplica(torch.nn.Module):
    """The MNIST MLP (ReLU) and the parser (its three embedding tables, then the cube)."""

    def __init__(self, model):
        super().__init__()
        if model.activation not in (ops.relu, ops.cube):
            raise ValueError(f"no PyTorch replica of the activation {model.activation.__name__}")
        self.cube = model.activation is ops.cube
        self.hidden_layers = torch.nn.ModuleList([_linear(layer) for layer in model.hidden_layers])
        self.output = _linear(model.output)
        self.embeddings = None
        if isinstance(model, ParserMLP):
            self.embeddings = torch.nn.ModuleList(
                [_embedding(e) for e in (model.word_embedding, model.tag_embedding, model.label_embedding)])

    def forward(self, inputs):
        h = tensor(inputs)
        if self.embeddings is not None:  # (B, 48) ids -> (B, 48 x embed), as ParserMLP.embed
            h = torch.cat([e(h[:, columns]).flatten(1)
                           for e, columns in zip(self.embeddings, (WORDS, TAGS, LABELS))], dim=1)
        for layer in self.hidden_layers:
            h = layer(h)
            h = h * h * h if self.cube else torch.relu(h)
        return self.output(h)


class TaggerReplica(torch.nn.Module):
    """The POS tagger: word and feature embeddings, ``torch.nn.LSTM`` (bidirectional), the
    output layer; one sentence (T tokens) a call, as the engine's."""

    def __init__(self, model):
        super().__init__()
        forward, backward = model.bilstm.forward_lstm.cell, model.bilstm.backward_lstm.cell
        if forward.hidden_size != backward.hidden_size:
            raise ValueError("no PyTorch replica of a BiLSTM whose two directions differ in size")
        self.word_embedding = _embedding(model.word_embedding)
        self.feature_embeddings = torch.nn.ModuleList([_embedding(e) for e in model.feature_embeddings])
        self.lstm = torch.nn.LSTM(forward.input_size, forward.hidden_size, bidirectional=True,
                                  dtype=_dtype(forward.weight_ih))
        for suffix, cell in (("", forward), ("_reverse", backward)):
            _copy(getattr(self.lstm, f"weight_ih_l0{suffix}"), cell.weight_ih)
            _copy(getattr(self.lstm, f"weight_hh_l0{suffix}"), cell.weight_hh)
            _copy(getattr(self.lstm, f"bias_ih_l0{suffix}"), cell.bias)
            second_bias = getattr(self.lstm, f"bias_hh_l0{suffix}")
            torch.nn.init.zeros_(second_bias)
            second_bias.requires_grad_(False)  # it would learn what the first one learns: twice the step
        self.output = _linear(model.output)

    def forward(self, words, features):
        features = tensor(features)
        parts = [self.word_embedding(tensor(words))]
        parts += [e(features[:, j]) for j, e in enumerate(self.feature_embeddings)]
        states, _ = self.lstm(torch.cat(parts, dim=1)[:, None, :])  # (T, batch of 1, 2 x hidden)
        return self.output(states[:, 0])
