"""In-place trimming: the trimmed model computes exactly what the untrimmed model computes
with the removed units forced to zero; gradients, optimizer state and handles follow."""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesimp_engine import gradcheck, optim
from mesimp_engine.graph import Graph
from mesimp_engine.nn import LSTM, Linear
from mesimp_engine.parameter import Parameter
from mesimp_engine.simplify import (
    ActivityRecord, prune_mlp_, prune_tagger_, slice_parameter_, trim_linear_units_, trim_lstm_cells_, trim_mlp_,
    trim_tagger_,
)
from tests.simplify.models import (
    F64, gate_rows, masked_mlp, masked_tagger, mlp_batch, mlp_kept_slices, outputs, parser_batch, small_mlp,
    small_parser, small_tagger, tagger_kept_slices, tagger_sentence,
)

SEEDS = st.integers(0, 2**16)
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)


def keep_masks(width, count):
    """``count`` bool masks of ``width`` entries, each keeping at least one unit."""
    mask = st.lists(st.booleans(), min_size=width, max_size=width).filter(any)
    return st.lists(mask.map(lambda m: np.array(m, dtype=bool)), min_size=count, max_size=count)


# --- slice_parameter_ -------------------------------------------------------------------


def test_slice_parameter_slices_value_grad_and_state_and_keeps_the_handle():
    p = Parameter(np.arange(12.0).reshape(3, 4), "w")
    p.add_grad(np.arange(12.0).reshape(3, 4) + 100)
    p.state.update(exp_avg=np.arange(12.0).reshape(3, 4) + 200, exp_avg_sq=np.arange(12.0).reshape(3, 4) + 300,
                   step=7)
    state = p.state
    assert slice_parameter_(p, 1, np.array([True, False, False, True])) is p
    np.testing.assert_array_equal(p.value, [[0, 3], [4, 7], [8, 11]])
    np.testing.assert_array_equal(p.grad, [[100, 103], [104, 107], [108, 111]])
    np.testing.assert_array_equal(p.state["exp_avg"], [[200, 203], [204, 207], [208, 211]])
    np.testing.assert_array_equal(p.state["exp_avg_sq"], [[300, 303], [304, 307], [308, 311]])
    assert p.state["step"] == 7 and p.state is state
    for a in (p.value, p.grad, p.state["exp_avg"], p.state["exp_avg_sq"]):
        assert a.flags.c_contiguous and a.flags.owndata and a.shape == (3, 2)
    assert p.touched_rows() is None  # a dense gradient stays dense


def test_slice_parameter_renumbers_touched_rows():
    p = Parameter(np.zeros((5, 2)), "w")
    p.add_row_grad(np.array([1, 3]), np.ones((2, 2)))
    p.add_row_grad(np.array([4]), np.full((1, 2), 2.0))
    slice_parameter_(p, 0, np.array([0, 3, 4]))  # row 1 goes, rows 3, 4 become 1, 2
    np.testing.assert_array_equal(p.touched_rows(), [1, 2])
    np.testing.assert_array_equal(p.grad, [[0, 0], [1, 1], [2, 2]])
    p.zero_grad()
    assert not p.grad.any()
    slice_parameter_(p, 1, np.array([1]))
    np.testing.assert_array_equal(p.touched_rows(), np.zeros(0))


def test_slice_parameter_keeps_row_tracking_across_columns():
    p = Parameter(np.zeros((3, 4)), "w")
    p.add_row_grad(np.array([2]), np.arange(4.0)[None])
    slice_parameter_(p, 1, np.array([0, 2]))
    np.testing.assert_array_equal(p.touched_rows(), [2])
    np.testing.assert_array_equal(p.grad[2], [0, 2])


def test_slice_parameter_refuses_state_it_cannot_slice():
    p = Parameter(np.zeros((3, 4)), "w")
    p.state["odd"] = np.zeros(4)
    with pytest.raises(ValueError, match="odd"):
        slice_parameter_(p, 0, np.array([0]))
    assert p.shape == (3, 4)


def test_keep_indices_are_checked():
    p = Parameter(np.zeros((3, 4)), "w")
    with pytest.raises(IndexError):
        slice_parameter_(p, 0, np.array([3]))
    with pytest.raises(ValueError):
        slice_parameter_(p, 0, np.array([True, False]))
    with pytest.raises(TypeError):
        slice_parameter_(p, 0, np.array([0.0]))


def test_a_layer_never_loses_every_unit():
    m = small_mlp(0)
    with pytest.raises(ValueError, match="every unit"):
        trim_mlp_(m, [np.zeros(6, bool), None])
    t = small_tagger(0)
    with pytest.raises(ValueError, match="every cell"):
        trim_tagger_(t, np.zeros(5, bool), None)
    assert m.hidden_sizes() == [6, 6] and t.bilstm.forward_lstm.cell.hidden_size == 5


def test_consumer_and_record_must_match_the_layer():
    layer, consumer = Linear(3, 4, rng=0), Linear(5, 2, rng=0)
    with pytest.raises(ValueError, match="columns"):
        trim_linear_units_(layer, consumer, np.array([0]), column_offset=2)
    with pytest.raises(ValueError, match="record"):
        trim_linear_units_(layer, None, np.array([0]), record=ActivityRecord(3))
    assert layer.weight.shape == (4, 3) and consumer.weight.shape == (2, 5)


# --- exactness: trimmed model == untrimmed model with the units forced to zero ----------


@pytest.mark.parametrize("make, batch", [(small_mlp, mlp_batch), (small_parser, parser_batch)],
                         ids=["mlp", "parser"])
@PROPERTY
@given(seed=SEEDS, keeps=keep_masks(6, 2))
def test_trimmed_mlp_equals_zeroed_units(make, batch, seed, keeps):
    model = make(seed)
    x, _ = batch(seed)
    expected = outputs(masked_mlp(model, keeps), x)
    assert trim_mlp_(model, keeps) == model.hidden_sizes() == [int(k.sum()) for k in keeps]
    np.testing.assert_allclose(outputs(model, x), expected, rtol=0, atol=1e-12)


def test_zeroed_reference_differs_from_the_full_model():
    """The references above really change the output (else the exactness tests are void)."""
    keeps = [np.array([1, 0, 1, 1, 1, 1], bool), np.ones(6, bool)]
    model, x = small_mlp(3), mlp_batch(3)[0]
    assert not np.allclose(outputs(model, x), outputs(masked_mlp(model, keeps), x))
    parser, features = small_parser(3), parser_batch(3)[0]
    assert not np.allclose(outputs(parser, features), outputs(masked_mlp(parser, keeps), features))
    tagger, (words, feats, _) = small_tagger(3), tagger_sentence(3)
    kf = np.array([1, 1, 0, 1, 1], bool)
    assert not np.allclose(outputs(tagger, words, feats), outputs(masked_tagger(tagger, kf, kf), words, feats))


def test_zeroed_cell_rows_keep_the_cells_h_and_c_at_zero():
    """The LSTM reference: a cell whose rows are zero in all four gate blocks has
    pre-activations 0, so g = tanh(0) = 0 and, from c = 0, c' = f * 0 + i * 0 = 0 and
    h' = o * tanh(0) = 0 at every step, whatever its recurrent column and the input are."""
    lstm = LSTM(3, 5, rng=1, dtype=F64)
    cell = lstm.cell
    gone = np.array([1, 4])
    for p in (cell.weight_ih, cell.weight_hh, cell.bias):
        p.value[gate_rows(gone, 5)] = 0
    kept_rows = gate_rows([0, 2, 3], 5)
    assert np.abs(cell.weight_hh.value[np.ix_(kept_rows, gone)]).min() > 0  # recurrent columns stay
    xs = np.random.default_rng(0).standard_normal((6, 3)) * 3
    Graph()
    projected = cell.project_inputs(xs)
    h = c = None
    for t in range(6):
        h, c = cell.step(projected.value[t : t + 1], h, c)
        assert np.all(h.value[0, gone] == 0) and np.all(c.value[0, gone] == 0)
        assert np.all(h.value[0, [0, 2, 3]] != 0) and np.all(c.value[0, [0, 2, 3]] != 0)
    for reverse in (False, True):
        Graph()
        assert np.all(lstm(xs, reverse=reverse).value[:, gone] == 0)


@PROPERTY
@given(seed=SEEDS, keeps=keep_masks(5, 2), reverse=st.booleans())
def test_trimmed_lstm_equals_zeroed_cells(seed, keeps, reverse):
    keep, keep_consumer = keeps
    lstm, consumer = LSTM(3, 5, rng=seed, dtype=F64), Linear(7, 2, rng=seed, dtype=F64)
    reference = copy.deepcopy(lstm)
    for p in (reference.cell.weight_ih, reference.cell.weight_hh, reference.cell.bias):
        p.value[gate_rows(np.flatnonzero(~keep), 5)] = 0
    xs = np.random.default_rng(seed).standard_normal((4, 3))
    Graph()
    expected = reference(xs, reverse=reverse).value
    trim_lstm_cells_(lstm, consumer, 1, keep)
    assert lstm.cell.hidden_size == keep.sum() and consumer.in_features == 2 + keep.sum()
    Graph()
    np.testing.assert_allclose(lstm(xs, reverse=reverse).value, expected[:, keep], rtol=0, atol=1e-12)


@PROPERTY
@given(seed=SEEDS, keeps=keep_masks(5, 2))
def test_trimmed_tagger_equals_zeroed_cells(seed, keeps):
    keep_forward, keep_backward = keeps
    model = small_tagger(seed)
    words, features, _ = tagger_sentence(seed)
    expected = outputs(masked_tagger(model, keep_forward, keep_backward), words, features)
    widths = trim_tagger_(model, keep_forward, keep_backward)
    assert widths == [keep_forward.sum(), keep_backward.sum()]
    assert model.output.in_features == sum(widths)
    np.testing.assert_allclose(outputs(model, words, features), expected, rtol=0, atol=1e-12)


def test_trimmed_weights_are_the_kept_slices():
    """Slices land on the right rows and columns, not merely on an equivalent model."""
    model = small_tagger(5)
    kf, kb = np.array([1, 0, 0, 1, 1], bool), np.array([0, 1, 0, 0, 1], bool)
    before = {name: p.value.copy() for name, p in model.named_parameters()}
    slices = tagger_kept_slices(model, kf, kb)
    trim_tagger_(model, kf, kb)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.value, before[name][slices[name]], err_msg=name)
    mlp = small_mlp(5)
    keeps = [np.array([0, 1, 1, 0, 1, 0], bool), np.array([1, 0, 0, 0, 0, 1], bool)]
    before = {name: p.value.copy() for name, p in mlp.named_parameters()}
    slices = mlp_kept_slices(mlp, keeps)
    trim_mlp_(mlp, keeps)
    for name, p in mlp.named_parameters():
        np.testing.assert_array_equal(p.value, before[name][slices[name]], err_msg=name)


# --- handles, sizes, gradients -----------------------------------------------------------


def _train(model, optimizer, loss, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        graph = Graph()
        graph.backward(loss())
        optimizer.step()


def test_handles_survive_and_parameters_shrink():
    model = small_mlp(2, hidden=8)
    x, y = mlp_batch(2)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    _train(model, optimizer, lambda: model.loss(x, y), 2)
    handles = model.parameters()
    size = model.num_parameters()
    keeps = [np.arange(8) % 2 == 0, np.arange(8) < 3]
    trim_mlp_(model, keeps)
    assert all(a is b for a, b in zip(model.parameters(), handles))
    assert all(a is b for a, b in zip(optimizer.params, handles))
    assert size == 8 * 5 + 8 + 8 * 8 + 8 + 3 * 8 + 3
    assert model.num_parameters() == 4 * 5 + 4 + 3 * 4 + 3 + 3 * 3 + 3
    assert [p.shape for p in model.parameters()] == [(4, 5), (4,), (3, 4), (3,), (3, 3), (3,)]
    for p in model.parameters():
        assert p.grad.shape == p.shape and p.state["exp_avg"].shape == p.shape and p.state["step"] == 2
    before = model.state_dict()
    _train(model, optimizer, lambda: model.loss(x, y), 1)  # the old optimizer keeps working
    assert all(p.state["step"] == 3 for p in model.parameters())
    assert all(not np.array_equal(before[name], p.value) for name, p in model.named_parameters())


def test_gradients_check_on_trimmed_models():
    mlp = small_mlp(4)
    x, y = mlp_batch(4)
    trim_mlp_(mlp, [np.array([1, 1, 0, 1, 0, 1], bool), np.array([0, 1, 1, 0, 0, 0], bool)])
    assert max(gradcheck.check(lambda *ps: mlp.loss(x, y), *mlp.parameters())) < 1e-6

    parser = small_parser(4)
    features, transitions = parser_batch(4)
    trim_mlp_(parser, [np.array([0, 1, 1, 1, 0, 1], bool), np.array([1, 0, 0, 1, 0, 1], bool)])
    assert max(gradcheck.check(lambda *ps: parser.loss(features, transitions), *parser.parameters())) < 1e-6

    tagger = small_tagger(4)
    words, feats, tags = tagger_sentence(4)
    trim_tagger_(tagger, np.array([1, 0, 1, 1, 0], bool), np.array([0, 0, 1, 0, 1], bool))
    assert max(gradcheck.check(lambda *ps: tagger.loss(words, feats, tags), *tagger.parameters())) < 1e-6


# --- one optimizer step after trimming == the step on the masked model --------------------

OPTIMIZERS = {
    "adam": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.01),
    "adagrad": lambda ps: optim.AdaGrad(ps, lr=0.1),
    "sgd_momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd_nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
}
STATE = {"adam": ("exp_avg", "exp_avg_sq"), "adagrad": ("sum",),
         "sgd_momentum": ("momentum_buffer",), "sgd_nesterov": ("momentum_buffer",)}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("trim_first", [True, False], ids=["trim_then_backward", "backward_then_trim"])
def test_mlp_step_after_trim_equals_masked_step(name, trim_first):
    model = small_mlp(7)
    x, y = mlp_batch(7, batch=6)
    rng = np.random.default_rng(8)
    optimizer = OPTIMIZERS[name](model.parameters())
    for _ in range(3):  # non-trivial state: several different batches
        xb, yb = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
        _train(model, optimizer, lambda: model.loss(xb, yb), 1)
    keeps = [np.array([1, 0, 1, 1, 0, 1], bool), np.array([0, 1, 1, 0, 1, 1], bool)]
    masked = masked_mlp(model, keeps)  # deep copy: parameters, gradients and optimizer state
    for layer, keep in zip(model.hidden_layers, keeps):  # the model too starts masked
        layer.weight.value[~keep] = 0
        layer.bias.value[~keep] = 0
    slices = mlp_kept_slices(model, keeps)
    check_step_after_trim(model, optimizer, masked, lambda: model.loss(x, y), lambda: masked.loss(x, y),
                lambda: trim_mlp_(model, keeps), slices, name, trim_first)


@pytest.mark.parametrize("name", ["adam", "adagrad", "sgd_momentum"])
@pytest.mark.parametrize("trim_first", [True, False], ids=["trim_then_backward", "backward_then_trim"])
def test_tagger_step_after_trim_equals_masked_step(name, trim_first):
    model = small_tagger(9)
    optimizer = OPTIMIZERS[name](model.parameters())
    for seed in range(3):
        words, feats, tags = tagger_sentence(seed + 20, n=5)
        _train(model, optimizer, lambda: model.loss(words, feats, tags), 1)
    kf, kb = np.array([1, 0, 1, 1, 0], bool), np.array([0, 1, 1, 0, 1], bool)
    masked = masked_tagger(model, kf, kb)
    for lstm, keep in ((model.bilstm.forward_lstm, kf), (model.bilstm.backward_lstm, kb)):
        for p in (lstm.cell.weight_ih, lstm.cell.weight_hh, lstm.cell.bias):
            p.value[gate_rows(np.flatnonzero(~keep), 5)] = 0
    slices = tagger_kept_slices(model, kf, kb)
    words, feats, tags = tagger_sentence(9)
    check_step_after_trim(model, optimizer, masked, lambda: model.loss(words, feats, tags),
                lambda: masked.loss(words, feats, tags), lambda: trim_tagger_(model, kf, kb), slices, name, trim_first)


def check_step_after_trim(model, optimizer, masked, loss, masked_loss, trim, slices, name, trim_first):
    """Trim ``model`` (before or after its backward) and step it with its own optimizer;
    step the masked copy (dropped entries zero, their gradients zeroed) with a new optimizer
    over the copied state; every kept weight and state entry must agree."""
    masked_optimizer = OPTIMIZERS[name](masked.parameters())
    if trim_first:
        trim()
    optimizer.zero_grad()
    masked_optimizer.zero_grad()
    Graph().backward(loss())
    Graph().backward(masked_loss())
    if not trim_first:
        trim()
    masked_params = dict(masked.named_parameters())
    for pname, p in masked_params.items():  # the dropped entries get no gradient
        kept_grad = p.grad[slices[pname]].copy()
        p.grad[...] = 0
        p.grad[slices[pname]] = kept_grad
    optimizer.step()
    masked_optimizer.step()
    for pname, p in model.named_parameters():
        q = masked_params[pname]
        assert p.state["step"] == q.state["step"] == 4
        np.testing.assert_allclose(p.value, q.value[slices[pname]], rtol=0, atol=1e-12, err_msg=pname)
        for key in STATE[name]:
            np.testing.assert_allclose(p.state[key], q.state[key][slices[pname]], rtol=0, atol=1e-12,
                                       err_msg=f"{pname} {key}")


# --- records travel with their layers; prune points ----------------------------------------


def test_prune_mlp_uses_the_records_and_resets_them():
    model = small_mlp(11)
    records = [ActivityRecord(6), ActivityRecord(6)]
    records[0].update(np.array([[0, 2], [2, 5], [2, 0], [5, 0]]))  # hits 3 0 3 0 0 2, seen 4
    records[1].update(np.array([1, 3, 4]), batch_size=4)  # hits 0 4 0 4 4 0
    x = mlp_batch(11)[0]
    expected = outputs(masked_mlp(model, [r.keep_mask(0.5) for r in records]), x)
    assert prune_mlp_(model, records, 0.5) == [3, 3]  # threshold floor(0.5 * 4) = 2
    assert [r.n_units for r in records] == [3, 3] and all(r.seen == 0 and not r.hits.any() for r in records)
    np.testing.assert_allclose(outputs(model, x), expected, rtol=0, atol=1e-12)


def test_trimming_carries_the_record_along():
    model = small_mlp(12)
    records = [ActivityRecord(6), ActivityRecord(6)]
    records[0].hits[:] = [10, 11, 12, 13, 14, 15]
    trim_mlp_(model, [np.array([0, 1, 0, 1, 1, 0], bool), None], records)
    np.testing.assert_array_equal(records[0].hits, [11, 13, 14])
    assert records[1].n_units == 6 and model.hidden_sizes() == [3, 6]


def test_prune_tagger_merges_gates_per_direction():
    model = small_tagger(13)
    forward, backward = ActivityRecord(5), ActivityRecord(5)
    # 2 time steps; forward: cell 0 by gate i, cell 3 by gate o in both steps, cell 1 once
    forward.update_gates([np.array([[0], [0]]), np.array([[1], [4]]), np.array([[0], [2]]), np.array([[3], [3]])])
    # backward, fused indices into the 4H = 20 pre-activations (cell = index % 5):
    # step 0 cells {2, 4}, step 1 cells {4, 2}; a cell selected by two gates counts once
    backward.update_gates(np.array([[2, 7, 14], [4, 9, 12]]))
    np.testing.assert_array_equal(forward.hits, [2, 1, 1, 2, 1])
    np.testing.assert_array_equal(backward.hits, [0, 0, 2, 0, 2])
    words, feats, _ = tagger_sentence(13)
    expected = outputs(masked_tagger(model, forward.hits == 2, backward.hits == 2), words, feats)
    widths = prune_tagger_(model, (forward, backward), prune_rate=1.0)
    assert widths == [2, 2]  # forward keeps cells 0, 3; backward keeps 2, 4
    np.testing.assert_allclose(outputs(model, words, feats), expected, rtol=0, atol=1e-12)
    assert model.output.in_features == 4 and forward.n_units == 2 and backward.seen == 0
