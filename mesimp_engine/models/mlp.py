"""The MNIST multi-layer perceptron of the papers."""

import numpy as np

from mesimp_engine import nn, ops
from mesimp_engine.graph import Graph
from mesimp_engine.nn.init import as_rng


class MLP(nn.Module):
    """784 -> hidden x layers -> 10 with ReLU (and optional inverted dropout after each
    hidden activation).  x: (B, n_in) -> logits (B, n_out). ``activation`` is any
    element-wise op (the parser uses the cube). ``activation_hooks`` (one callable per
    hidden layer, node -> node, training only) let a method rewrite the hidden outputs:
    meAct replaces inactive units by their cached values there.

    ``hidden`` is a width for all ``layers``, or a list of widths (one per hidden layer:
    a model of a simplified model's sizes, trained from scratch).
    ``linear_options`` are passed to every hidden ``Linear`` (for example meProp's ``k``
    and ``mode``); ``output_options`` to the output layer (the papers sparsify MNIST's
    output layer with the same k; pass {} to keep it dense). ``init`` is every layer's
    initialisation (``mesimp_engine.nn.linear.INITS``: "pytorch", "authors" or "lecun").
    """

    def __init__(self, n_in=784, hidden=500, layers=2, n_out=10, dropout=0.0, rng=None,
                 dropout_rng=None, linear_options=None, output_options=None, dtype=np.float32, activation=ops.relu,
                 init="pytorch"):
        super().__init__()
        self.activation = activation
        rng = as_rng(rng)
        linear_options = linear_options or {}
        output_options = linear_options if output_options is None else output_options
        widths = [n_in] + (list(hidden) if isinstance(hidden, (list, tuple)) else [hidden] * layers)
        self.hidden_layers = nn.Sequential(
            *[nn.Linear(a, b, rng=rng, dtype=dtype, init=init, **linear_options) for a, b in zip(widths, widths[1:])]
        )
        self.output = nn.Linear(widths[-1], n_out, rng=rng, dtype=dtype, init=init, **output_options)
        self.dropout = nn.Dropout(dropout, rng=dropout_rng if dropout_rng is not None else rng)
        self.activation_hooks = None

    def embed(self, inputs):
        """The first hidden layer's input from the model's inputs (the images themselves
        here; the parser concatenates embeddings)."""
        return inputs

    def forward(self, inputs):
        h, _ = self._hidden(inputs)
        return self.output(h)

    def _hidden(self, inputs):
        """(the output layer's input, each hidden layer's output node before dropout)."""
        h, outputs = self.embed(inputs), []
        for i, layer in enumerate(self.hidden_layers):
            h = self.activation(layer(h))
            if self.activation_hooks is not None and self.training:
                h = self.activation_hooks[i](h)
            outputs.append(h)
            h = self.dropout(h)
        return h, outputs

    def loss(self, x, y):
        """Mean cross-entropy of the mini-batch (gradients are averaged over it)."""
        return ops.softmax_cross_entropy(self(x), y)

    def hidden_outputs(self, inputs):
        """Each hidden layer's output (after its activation) for ``inputs``, computed in
        evaluation mode (no dropout, no meProp, no activation hooks) in a fresh graph: a
        list of (B, width) arrays. The training loop summarises them each epoch
        (``train.hidden_activity``)."""
        with self.evaluating():
            Graph()
            _, outputs = self._hidden(inputs)
        return [h.value for h in outputs]

    def hidden_sizes(self):
        return [layer.out_features for layer in self.hidden_layers]
