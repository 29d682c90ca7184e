"""The tape: fan-out accumulation, skipped gradients, renewal, dump, timers, errors."""

import numpy as np
import pytest

from mesimp_engine import gradcheck, ops
from mesimp_engine.errors import NonFiniteError, ShapeError, StaleNodeError
from mesimp_engine.graph import Graph
from mesimp_engine.ops.activation import Cube
from mesimp_engine.ops.linalg import Affine
from mesimp_engine.parameter import Parameter


def test_value_used_twice_gets_both_gradients():
    x = Parameter(np.array([[0.5, -1.5, 2.0]]), "x")
    g = Graph()
    y = ops.mul(x, x)  # x used twice by one op
    z = ops.add(ops.tanh(x), y)  # and by two more ops
    g.backward(ops.sum(z))
    np.testing.assert_allclose(x.grad, 2 * x.value + (1 - np.tanh(x.value) ** 2))
    assert max(gradcheck.check(lambda x: ops.sum(ops.add(ops.mul(x, x), ops.tanh(x))), x.value.copy())) < 1e-7


def test_add_of_a_node_with_itself():
    x = Parameter(np.array([[1.0, 2.0]]), "x")
    g = Graph()
    g.backward(ops.sum(ops.add(x, x)))
    np.testing.assert_allclose(x.grad, [[2.0, 2.0]])


def test_row_slices_and_dense_uses_of_a_computed_node_add_up_without_touching_other_gradients():
    """A computed node read by row slices (their gradients arrive as rows, added in place
    into an array the graph owns) and by dense ops, in either order; the gradient of a node
    it aliased at first (Add passes dy on) is left as it was."""
    x0 = np.arange(12.0).reshape(4, 3) / 10
    for dense_first in (False, True):
        x = Parameter(x0.copy(), "x")
        g = Graph()
        h = ops.mul(x, 2.0)  # computed: its gradient is the graph's
        s = ops.add(h, 0.0)  # s's gradient aliases h's first one
        parts = [ops.sum(ops.mul(ops.slice_rows(h, t, t + 2), float(t + 1))) for t in range(3)]
        dense = ops.sum(ops.mul(h, h))
        total = ops.add(dense, ops.add(parts[0], ops.add(parts[1], parts[2]))) if dense_first else \
            ops.add(ops.add(parts[0], ops.add(parts[1], parts[2])), dense)
        g.backward(ops.add(total, ops.sum(s)))
        rows = np.array([1, 3, 5, 3], float)[:, None]  # slices [0:2]*1, [1:3]*2, [2:4]*3
        expected_h = 2 * (2 * x0) + rows + 1
        np.testing.assert_allclose(h.grad, expected_h)
        np.testing.assert_allclose(s.grad, np.ones((4, 3)))
        np.testing.assert_allclose(x.grad, 2 * expected_h)
    check = gradcheck.check(lambda x: ops.sum(ops.mul(ops.add(ops.slice_rows(x, 0, 3), ops.slice_rows(x, 1, 4)),
                                                      ops.slice_rows(x, 0, 3))), x0.copy())
    assert max(check) < 1e-7


class SpyAffine(Affine):
    needs_seen = []

    def backward(self, dy, needs):
        SpyAffine.needs_seen.append(needs)
        return super().backward(dy, needs)


def test_first_layer_computes_no_dx_and_data_gets_no_grad():
    rng = np.random.default_rng(0)
    W1, W2 = Parameter(rng.standard_normal((4, 3)), "W1"), Parameter(rng.standard_normal((2, 4)), "W2")
    g = Graph()
    x = g.input(rng.standard_normal((5, 3)))
    h = g.apply(SpyAffine(), (x, W1))
    out = g.apply(SpyAffine(), (ops.relu(h), W2))
    SpyAffine.needs_seen.clear()
    g.backward(ops.sum(out))
    assert SpyAffine.needs_seen == [(True, True), (False, True)]
    assert x.grad is None


def test_nodes_that_need_no_gradient_are_skipped():
    g = Graph()
    a = g.input(np.ones((2, 2)))
    b = ops.tanh(a)
    assert not b.requires_grad
    p = Parameter(np.ones((2, 2)), "p")
    loss = ops.sum(ops.add(b, p))
    g.backward(loss)
    assert b.grad is None and a.grad is None
    np.testing.assert_allclose(p.grad, np.ones((2, 2)))


def test_node_from_renewed_graph_raises():
    g1 = Graph()
    x = g1.input(np.ones((1, 2)))
    Graph()
    with pytest.raises(StaleNodeError, match="renewed"):
        ops.tanh(x)


def test_backward_on_renewed_graph_raises():
    p = Parameter(np.ones(2), "p")
    g1 = Graph()
    loss = ops.sum(p)
    Graph()
    with pytest.raises(StaleNodeError):
        g1.backward(loss)


def test_a_renewed_graph_is_freed_without_the_cyclic_collector():
    """Nodes refer to their graph and the graph to its nodes: renewing the graph breaks the
    cycle, so the old step's nodes and arrays go as soon as nothing else holds them (with
    the collector off). A node the caller kept still has its value, and its graph stays
    until the node goes."""
    import gc
    import weakref

    w = Parameter(np.ones((3, 4)), "w")
    gc.collect()
    gc.disable()
    try:
        g = Graph()
        x = g.input(np.ones((2, 3)))
        h = ops.tanh(ops.matmul(x, w))
        g.backward(ops.sum(h))
        graph, hidden = weakref.ref(g), weakref.ref(h.value)
        del g, h
        Graph()
        assert hidden() is None
        assert x.value.sum() == 6.0
        with pytest.raises(StaleNodeError):
            ops.tanh(x)
        del x
        assert graph() is None
    finally:
        gc.enable()


def test_shape_mismatch_names_op_and_shapes():
    g = Graph()
    x = g.input(np.ones((2, 3)))
    W = Parameter(np.ones((4, 5)), "layer.weight")
    with pytest.raises(ShapeError, match=r"Affine.*\(2, 3\).*\(4, 5\)"):
        ops.affine(x, W)
    with pytest.raises(ShapeError, match=r"Add.*\(2, 3\).*\(4, 5\)"):
        ops.add(x, W)


def test_backward_from_non_scalar_needs_grad():
    g = Graph()
    y = ops.tanh(Parameter(np.ones((2, 2)), "p"))
    with pytest.raises(ShapeError, match="non-scalar"):
        g.backward(y)


def test_finite_check_names_first_bad_op():
    g = Graph(check_finite=True)
    x = g.input(np.array([[1.0, 0.0]]))
    W = Parameter(np.array([[1e200, 1.0]]), "hidden.weight")
    h = ops.affine(x, W, name="hidden")
    with np.errstate(over="ignore"):
        with pytest.raises(NonFiniteError, match=r"Cube \(layer cubed\).*forward"):
            g.apply(Cube(), (h,), name="cubed")


def test_finite_check_in_backward():
    g = Graph(check_finite=True)
    W = Parameter(np.array([[1.0]]), "w")
    loss = ops.sum(ops.mul(W, np.array([[1e200]])))
    with np.errstate(over="ignore"):
        with pytest.raises(NonFiniteError, match="backward"):
            g.backward(loss, np.array(1e200))


def test_dump_lists_every_node_in_order():
    g = Graph()
    W = Parameter(np.ones((2, 3)), "W")
    x = g.input(np.ones((4, 3)), name="x")
    ops.sum(ops.relu(ops.affine(x, W)))
    lines = g.dump().splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("#0") and "input x" in lines[0] and "no-grad" in lines[0]
    assert "param W" in lines[1]
    assert "Affine(#0, #1) -> (4, 2)" in lines[2]
    assert "Sum(#3) -> ()" in lines[4]


def test_timers_and_profiler():
    g = Graph(profile=True)
    W = Parameter(np.ones((50, 30)), "W")
    loss = ops.sum(ops.tanh(ops.affine(g.input(np.ones((20, 30))), W)))
    g.backward(loss)
    s = g.stats
    assert s.build > 0 and s.forward > 0 and s.backward > 0 and 0 < s.linear_backward <= s.backward
    assert set(s.ops) == {"Affine", "Tanh", "Sum"}
    assert s.ops["Affine"][2] == 1
    assert "Affine" in g.profile_table()
    with pytest.raises(RuntimeError, match="profile=True"):
        Graph().profile_table()


def test_lookup_gradient_touches_only_looked_up_rows():
    E = Parameter(np.arange(12.0).reshape(6, 2), "E")
    g = Graph()
    g.backward(ops.sum(ops.lookup(E, np.array([4, 1, 4]))))
    np.testing.assert_array_equal(E.touched_rows(), [1, 4])
    np.testing.assert_allclose(E.grad[[1, 4]], [[1, 1], [2, 2]])
    assert not E.grad[[0, 2, 3, 5]].any()


def test_weight_used_at_many_steps_gets_one_summed_gradient():
    """OuterGrad: the factors of every use are stacked and multiplied once at the leaf."""
    rng = np.random.default_rng(3)
    W = Parameter(rng.normal(size=(6, 4)), "W")
    xs = [rng.normal(size=(1, 4)) for _ in range(5)]
    rs = [rng.normal(size=(1, 6)) for _ in range(5)]
    graph = Graph()
    outs = [ops.affine(x, W) for x in xs]
    loss = ops.sum(ops.concat([ops.mul(o, r) for o, r in zip(outs, rs)], axis=0))
    graph.backward(loss)
    expected = sum(r.T @ x for r, x in zip(rs, xs))
    np.testing.assert_allclose(W.grad, expected, rtol=1e-12)


def test_factored_gradient_into_a_computed_node():
    """A matmul whose right operand is computed (not a parameter) gets its factored gradient
    multiplied when the reverse loop reaches that node, before it back-propagates further."""
    rng = np.random.default_rng(4)
    gradcheck.check(lambda a, p: ops.sum(ops.tanh(ops.add(ops.matmul(a, ops.tanh(p)), ops.matmul(ops.tanh(a), ops.tanh(p))))),
          rng.normal(size=(3, 4)), rng.normal(size=(4, 2)))


@pytest.mark.parametrize("product_first", [True, False])
def test_product_written_into_a_fresh_gradient_and_added_to_a_used_one(product_first):
    """A weight's stacked product goes straight into its gradient buffer when nothing has
    reached it since zero_grad (``test_weight_used_at_many_steps_gets_one_summed_gradient``),
    and is added to an array gradient from another use of the weight, in either order of the
    uses; over two steps with zero_grad between, the gradient is each step's own."""
    rng = np.random.default_rng(5)
    W = Parameter(rng.normal(size=(3, 4)), "W")
    for _ in range(2):
        x, r = rng.normal(size=(2, 4)), rng.normal(size=(2, 3))
        graph = Graph()
        through_product = ops.sum(ops.mul(ops.affine(x, W), r))  # dW = r^T x, multiplied at the leaf
        direct = ops.sum(ops.mul(W, W))  # dW = 2 W, added as an array
        # the reverse loop reaches the later node first
        loss = ops.add(direct, through_product) if product_first else ops.add(through_product, direct)
        graph.backward(loss)
        np.testing.assert_allclose(W.grad, r.T @ x + 2 * W.value, rtol=1e-12)
        W.zero_grad()
    assert not W.grad.any()
