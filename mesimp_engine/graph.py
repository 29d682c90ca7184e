"""The define-by-run computation graph (a tape).

A graph is built afresh for each example or mini-batch. Every op call appends one node to
the tape in creation order, computing its value at once; ``backward`` is a reverse loop over
the tape. Creating a new graph renews the engine (DyNet's ``renew_cg``): nodes of the old
graph raise ``StaleNodeError`` when used.

Gradients: the graph, not the op, accumulates them. A node used twice receives the sum of
both gradients; a parameter's gradient goes straight into ``Parameter.grad`` (dense, or by
rows for a ``RowGrad``). A weight gradient may arrive as its two factors (``OuterGrad``):
the graph keeps the factors of every use and multiplies once when the reverse loop reaches
the weight's leaf, after all its uses, so an LSTM's recurrent weight used at T steps gets
one (4h x T) @ (T x h) product instead of T outer products, each a pass over the matrix. Nodes whose inputs need no gradient (data, or inputs of the first
layer) are skipped, and an op is told which of its inputs need a gradient (``needs``), so
the first layer computes no dx.

Timing, the phases the papers report: ``graph.stats.forward`` is the time inside op
forwards, ``stats.build`` the rest of the time from the graph's creation to the call of
``backward`` (creating nodes, Python around the ops), ``stats.backward`` the reverse pass,
and ``stats.linear_backward`` the backward of linear-layer ops alone (the papers' "backprop
time"). The fourth phase, the parameter update, is timed outside the graph, around the
optimizer's ``step`` and ``zero_grad`` (``train.loop.Trainer.train_step``). With ``profile=True`` the time and count per op type are
recorded as well.
"""

import time

import numpy as np

from mesimp_engine.errors import NonFiniteError, ShapeError, StaleNodeError, describe
from mesimp_engine.kernels.blas import matmul as gemm
from mesimp_engine.parameter import Parameter

_perf = time.perf_counter
_current = None


class RowGrad:
    """A gradient that touches only some rows of a parameter: ``grad[rows] += values``.

    rows: (r,) int64, unique. values: (r, *param.shape[1:]).
    """

    __slots__ = ("rows", "values")

    def __init__(self, rows, values):
        self.rows = rows
        self.values = values

    @property
    def shape(self):
        return self.values.shape


class OuterGrad:
    """A gradient given by its factors: ``grad += left^T @ right``.

    left: (B, p), right: (B, q) -> a (p, q) gradient (a linear layer's dW = dy^T x). The
    graph stacks the factors of every use of the same input along B and multiplies once.
    """

    __slots__ = ("left", "right")

    def __init__(self, left, right):
        self.left = left
        self.right = right

    @property
    def shape(self):
        return (self.left.shape[1], self.right.shape[1])

    @staticmethod
    def product(factors, out=None):
        """The sum of left^T @ right over a list of ``OuterGrad``: one matrix product (into
        ``out`` when given)."""
        if len(factors) == 1:
            return gemm(factors[0].left.T, factors[0].right, out=out)
        left = np.concatenate([f.left for f in factors])
        right = np.concatenate([f.right for f in factors])
        return gemm(left.T, right, out=out)


def dense_gradient(g, like):
    """``g`` (an array, ``RowGrad`` or ``OuterGrad``) as a dense array shaped like ``like``."""
    if isinstance(g, RowGrad):
        dense = np.zeros_like(like)
        dense[g.rows] = g.values
        return dense
    if isinstance(g, OuterGrad):
        return OuterGrad.product([g])
    return g


class Stats:
    """Seconds spent building the graph, in op forwards, op backwards and linear-layer
    backwards; ``ops`` maps an op type to [forward_s, backward_s, calls] when profiling."""

    __slots__ = ("build", "forward", "backward", "linear_backward", "ops")

    def __init__(self, profile=False):
        self.build = 0.0
        self.forward = 0.0
        self.backward = 0.0
        self.linear_backward = 0.0
        self.ops = {} if profile else None


class Node:
    """One value on the tape: the op that made it, its inputs, its value and gradient."""

    __slots__ = ("graph", "op", "inputs", "value", "grad", "owns_grad", "requires_grad", "index", "name", "param")

    def __init__(self, graph, op, inputs, value, requires_grad, name=None, param=None):
        self.graph = graph
        self.op = op
        self.inputs = inputs
        self.value = value
        self.grad = None
        self.owns_grad = False  # grad is an array the graph made for this node alone
        self.requires_grad = requires_grad
        self.index = len(graph.nodes)
        self.name = name
        self.param = param

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def item(self):
        return float(self.value)

    def __repr__(self):
        kind = type(self.op).__name__ if self.op is not None else ("param" if self.param else "input")
        label = f" {self.name}" if self.name else ""
        return f"Node#{self.index}<{kind}{label} {self.value.shape} {self.value.dtype}>"

    # Operators for readability in models and examples: a + b, a - b, a * b.
    def __add__(self, other):
        from mesimp_engine.ops.elementwise import add

        return add(self, other)

    def __sub__(self, other):
        from mesimp_engine.ops.elementwise import sub

        return sub(self, other)

    def __mul__(self, other):
        from mesimp_engine.ops.elementwise import mul

        return mul(self, other)


class Graph:
    """An append-only tape of nodes. Creating a graph makes it the current one.

    check_finite: after every op forward and backward, raise ``NonFiniteError`` naming the
    first op that produced NaN or inf. profile: record time and calls per op type.
    """

    def __init__(self, check_finite=False, profile=False):
        global _current
        if _current is not None:
            _current._renewed()
        _current = self
        self.nodes = []
        self.alive = True
        self.check_finite = check_finite
        self.stats = Stats(profile)
        self._param_nodes = {}
        self._factors = {}  # node index -> the OuterGrad factors it received so far
        self._created = _perf()

    def _renewed(self):
        """A newer graph became the current one: this one is dead, and lets go of its nodes.
        Each node refers to its graph and the graph to every node, a reference cycle that
        only Python's cyclic collector would free, with every value and gradient of the step
        in it. Its full collections are rare: a 600-epoch GSM run (128,000 steps) grew to
        1.9 GB before this, against about 0.6 GB. Nodes the caller still holds keep their
        values; using one raises ``StaleNodeError`` as before."""
        self.alive = False
        self.nodes, self._param_nodes, self._factors = [], {}, {}

    # ------------------------------------------------------------------ leaves
    def input(self, array, name=None):
        """A constant leaf (data): it never receives a gradient."""
        node = Node(self, None, (), np.asarray(array), False, name)
        self.nodes.append(node)
        return node

    def parameter(self, param):
        """The leaf for ``param`` in this graph (one per parameter, however often it is used)."""
        node = self._param_nodes.get(id(param))
        if node is None:
            node = Node(self, None, (), param.value, param.requires_grad, param.name, param)
            self.nodes.append(node)
            self._param_nodes[id(param)] = node
        return node

    def _as_node(self, x):
        if isinstance(x, Node):
            if x.graph is not self:
                raise StaleNodeError(
                    f"{x!r} belongs to a graph that was renewed: build the expression again in the new graph"
                )
            return x
        if isinstance(x, Parameter):
            return self.parameter(x)
        return self.input(x)

    # ------------------------------------------------------------------ forward
    def apply(self, op, inputs, name=None):
        """Run ``op.forward`` on the inputs' values and append the resulting node."""
        if not self.alive:
            raise StaleNodeError("this graph was renewed: create nodes in the current graph")
        nodes = tuple(self._as_node(x) for x in inputs)
        start = _perf()
        value = op.forward(*[n.value for n in nodes])
        elapsed = _perf() - start
        self.stats.forward += elapsed
        if self.stats.ops is not None:
            self._profile(op, 0, elapsed)
        if self.check_finite and not np.all(np.isfinite(value)):
            raise NonFiniteError(f"{describe(op, name)} produced NaN or inf in forward (output shape {value.shape})")
        requires_grad = any(n.requires_grad for n in nodes)
        node = Node(self, op, nodes, value, requires_grad, name)
        self.nodes.append(node)
        return node

    # ------------------------------------------------------------------ backward
    def backward(self, loss, grad=None):
        """Back-propagate from ``loss`` (a scalar node unless ``grad`` is given)."""
        if loss.graph is not self or not self.alive:
            raise StaleNodeError(f"backward from {loss!r}: its graph was renewed")
        if grad is None:
            if loss.value.size != 1:
                raise ShapeError(f"backward from a non-scalar node {loss!r}: pass grad= of shape {loss.shape}")
            grad = np.ones_like(loss.value)
        elif np.shape(grad) != loss.shape:
            raise ShapeError(f"backward: grad of shape {np.shape(grad)} for a node of shape {loss.shape}")
        loss.grad = grad
        stats = self.stats
        backward_start = _perf()
        stats.build = (backward_start - self._created) - stats.forward
        self._factors = {}  # nothing left over from an interrupted earlier backward
        for node in reversed(self.nodes[: loss.index + 1]):
            if node.index in self._factors:
                self._multiply_factors(node)
            dy = node.grad
            if dy is None or node.op is None or not node.requires_grad:
                continue
            op = node.op
            needs = tuple(n.requires_grad for n in node.inputs)
            start = _perf()
            grads = op.backward(dy, needs)
            elapsed = _perf() - start
            if op.linear:
                stats.linear_backward += elapsed
            if stats.ops is not None:
                self._profile(op, 1, elapsed)
            for inp, g in zip(node.inputs, grads):
                if g is not None and inp.requires_grad:
                    self._accumulate(inp, g, node)
        stats.backward = _perf() - backward_start

    def _multiply_factors(self, node):
        """Every use of ``node`` has been back-propagated: turn its stacked ``OuterGrad``
        factors into one gradient (timed as linear-layer backward)."""
        start = _perf()
        factors = self._factors.pop(node.index)
        param = node.param
        if param is not None and param.write_grad(lambda grad: OuterGrad.product(factors, out=grad)):
            # nothing added to this parameter since zero_grad: the product went straight
            # into its gradient buffer (no temporary, no copy: 0.1 ms a dense MNIST step)
            self.stats.linear_backward += _perf() - start
            return
        g = OuterGrad.product(factors)
        self.stats.linear_backward += _perf() - start
        self._add(node, g)

    def _accumulate(self, inp, g, node):
        if self.check_finite:
            parts = (g.values,) if isinstance(g, RowGrad) else (g.left, g.right) if isinstance(g, OuterGrad) else (g,)
            if not all(np.all(np.isfinite(part)) for part in parts):
                raise NonFiniteError(
                    f"{describe(node.op, node.name)} produced NaN or inf in backward"
                    f" (gradient for input {inp!r})"
                )
        target_shape = inp.value.shape[1:] if isinstance(g, RowGrad) else inp.value.shape
        got_shape = g.values.shape[1:] if isinstance(g, RowGrad) else g.shape if isinstance(g, OuterGrad) else np.shape(g)
        if got_shape != target_shape:
            raise ShapeError(
                f"{describe(node.op, node.name)} backward returned a gradient of shape {g.shape}"
                f" for an input of shape {inp.value.shape}"
            )
        if isinstance(g, OuterGrad):
            self._factors.setdefault(inp.index, []).append(g)
            return
        self._add(inp, g)

    def _add(self, inp, g):
        if inp.param is not None:
            if isinstance(g, RowGrad):
                inp.param.add_row_grad(g.rows, g.values)
            else:
                inp.param.add_grad(g)
            return
        if isinstance(g, RowGrad):
            # some rows (a time step's slice of a sentence's projected inputs): added in
            # place, so T slices cost T times their rows, not T times the whole array
            if not inp.owns_grad:
                inp.grad = np.zeros_like(inp.value) if inp.grad is None else inp.grad.copy()
                inp.owns_grad = True
            inp.grad[g.rows] += g.values
            return
        g = dense_gradient(g, inp.value)
        if inp.grad is None:
            # The first gradient may alias an array the op still holds (or another node's
            # gradient): never write into it.
            inp.grad = g
        elif inp.owns_grad:
            inp.grad += g
        else:
            inp.grad = inp.grad + g  # a new array (also when inp.grad is g)
            inp.owns_grad = True

    def _profile(self, op, slot, elapsed):
        entry = self.stats.ops.setdefault(type(op).__name__, [0.0, 0.0, 0])
        entry[slot] += elapsed
        if slot == 0:
            entry[2] += 1

    # ------------------------------------------------------------------ inspection
    def dump(self):
        """The tape as text, one node a line: index, op, inputs, shape, dtype."""
        lines = []
        for node in self.nodes:
            if node.op is None:
                kind = f"param {node.name}" if node.param is not None else "input" + (f" {node.name}" if node.name else "")
                args = ""
            else:
                kind = type(node.op).__name__ + (f" [{node.name}]" if node.name else "")
                args = "(" + ", ".join(f"#{n.index}" for n in node.inputs) + ")"
            grad = "" if node.requires_grad else "  no-grad"
            lines.append(f"#{node.index:<4} {kind}{args} -> {node.value.shape} {node.value.dtype}{grad}")
        return "\n".join(lines)

    def profile_table(self):
        """Per op type: calls, forward and backward milliseconds (needs ``profile=True``)."""
        if self.stats.ops is None:
            raise RuntimeError("create the graph with profile=True to record per-op times")
        rows = sorted(self.stats.ops.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
        lines = [f"{'op':<22} {'calls':>7} {'forward ms':>11} {'backward ms':>12}"]
        for name, (fwd, bwd, calls) in rows:
            lines.append(f"{name:<22} {calls:>7} {fwd * 1e3:>11.3f} {bwd * 1e3:>12.3f}")
        return "\n".join(lines)


def current_graph():
    """The current graph, creating one if there is none yet."""
    return _current if _current is not None and _current.alive else Graph()


def apply(op, *inputs, name=None):
    """Append ``op`` applied to ``inputs`` to the graph the inputs belong to.

    Inputs may be nodes, parameters or arrays (arrays become constant leaves). The graph is
    the one of the first node among the inputs, else the current graph.
    """
    for x in inputs:
        if isinstance(x, Node):
            return x.graph.apply(op, inputs, name)
    return current_graph().apply(op, inputs, name)
