"""Float64 central-difference gradient checks, for one op alone or for a whole graph.

Three lines for a learner::

    import numpy as np
    from mesimp_engine import gradcheck, ops
    gradcheck.check(lambda x, w: ops.tanh(ops.matmul(x, w)), np.random.randn(3, 4), np.random.randn(4, 2))

Both checks reduce the output to a scalar with a fixed random projection r (L = sum(r * y)),
so every output element is exercised, then compare the analytic gradient of L with
(L(x + eps e_i) - L(x - eps e_i)) / (2 eps) for every element i of every input.
"""

import numpy as np

from mesimp_engine.graph import Graph, dense_gradient
from mesimp_engine.parameter import Parameter


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree."""


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function ``f()`` with respect to array ``x``
    (changed in place and restored)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        plus = f()
        flat[i] = orig - eps
        minus = f()
        flat[i] = orig
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def _compare(label, analytic, numeric, atol, rtol):
    err = np.abs(analytic - numeric)
    bound = atol + rtol * np.abs(numeric)
    if np.any(err > bound):
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        raise GradcheckError(
            f"{label}: analytic {analytic[i]:.8g} vs numerical {numeric[i]:.8g} at index {i}"
            f" (max abs error {err.max():.3g})"
        )
    return float(err.max()) if err.size else 0.0


def _projection(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def check_op(make_op, *inputs, eps=1e-6, atol=1e-6, rtol=1e-5, seed=0):
    """Check ``make_op()``'s backward against central differences of its forward, without
    the graph. ``inputs`` are float arrays (converted to float64). Returns the max error per
    input; raises ``GradcheckError`` on a mismatch."""
    xs = [np.array(x, dtype=np.float64) for x in inputs]
    op = make_op()
    y = op.forward(*xs)
    r = _projection(np.shape(y), seed)
    grads = op.backward(r, (True,) * len(xs))
    errors = []
    for i, x in enumerate(xs):
        def loss():
            return float(np.sum(r * make_op().forward(*xs)))

        analytic = dense_gradient(grads[i], x)
        errors.append(_compare(f"{type(op).__name__} input {i}", analytic, numerical_gradient(loss, x, eps), atol, rtol))
    return errors


def check(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-5, seed=0, projection=None):
    """Check a whole graph: ``fn(*nodes)`` builds an expression from the inputs (arrays
    become parameters named ``input0``, ``input1``, ...; ``Parameter`` objects are used as
    they are, converted to float64 in place). Returns the max error per input; raises
    ``GradcheckError`` on a mismatch.

    ``projection``: the array r of L = sum(r * y) (random normal by default). A meProp layer
    is checked with an r that has k non-zeros per row and zeros elsewhere: its top-k then
    keeps exactly the non-zeros, and its sparse backward is the exact gradient of L."""
    params = [
        x if isinstance(x, Parameter) else Parameter(np.array(x, dtype=np.float64), f"input{i}")
        for i, x in enumerate(inputs)
    ]
    for p in params:
        p.value = p.value.astype(np.float64)
        p.grad = np.zeros_like(p.value)

    r = None

    def loss(record=False):
        nonlocal r
        graph = Graph()
        out = fn(*params)
        if r is None:
            r = _projection(out.shape, seed) if projection is None else np.asarray(projection, dtype=np.float64)
        if record:
            graph.backward(out, r.astype(out.dtype))
        return float(np.sum(r * out.value))

    for p in params:
        p.zero_grad()
    loss(record=True)
    return [
        _compare(f"graph input {p.name}", p.grad.copy(), numerical_gradient(loss, p.value, eps), atol, rtol)
        for p in params
    ]
