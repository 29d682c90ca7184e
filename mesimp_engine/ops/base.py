"""The op protocol.

An op is a small object created per use: ``forward(*values)`` computes the output from
raw arrays and saves what ``backward`` needs on ``self``; ``backward(dy, needs)`` returns
one gradient per input (``None`` where ``needs[i]`` is False or the input takes none).
Backward never builds graph nodes; the graph accumulates what it returns.
"""

from mesimp_engine.errors import ShapeError


class Op:
    """Base class. ``linear`` marks ops whose backward the papers time as "backprop"."""

    linear = False

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, dy, needs):
        raise NotImplementedError

    def shape_error(self, message, *shapes):
        """A ``ShapeError`` naming this op and the shapes involved."""
        detail = ", ".join(str(tuple(s)) for s in shapes)
        return ShapeError(f"{type(self).__name__}: {message} (shapes {detail})")
