"""Every op passes the float64 central-difference check, alone and through the graph."""

import numpy as np
import pytest

from mesimp_engine import gradcheck
from tests.ops.specs import SPECS


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_op_alone(spec):
    inputs = spec.inputs(np.random.default_rng(1))
    errors = gradcheck.check_op(spec.make_op, *inputs)
    assert len(errors) == len(inputs) and max(errors) < 1e-6


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_op_through_graph(spec):
    inputs = spec.inputs(np.random.default_rng(2))
    errors = gradcheck.check(spec.graph_fn, *inputs)
    assert len(errors) == len(inputs) and max(errors) < 1e-6


def test_dropout_mask_is_inverted():
    from mesimp_engine.ops.dropout import Dropout

    op = Dropout(0.25, np.random.default_rng(0))
    y = op.forward(np.ones((200, 200)))
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs((y > 0).mean() - 0.75) < 0.01
