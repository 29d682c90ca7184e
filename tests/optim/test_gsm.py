"""Global Sparse Momentum SGD: the step against an independent NumPy reference and against the
authors' procedure in PyTorch, the selection, the decay of the unselected weights, the final
magnitude cut, the checks of q, and the state kept on the parameters."""

import numpy as np
import pytest

from mesimp_engine.optim.gsm import GlobalSparseMomentum, magnitude_cut_, nonzero_weights, weight_count
from mesimp_engine.parameter import Parameter

SHAPES = {"W1": (4, 5), "W2": (3, 4), "b": (3,)}


def _params(rng):
    return [Parameter(rng.standard_normal(shape), name) for name, shape in SHAPES.items()]


def _grads(rng, steps):
    return [[rng.standard_normal(shape) for shape in SHAPES.values()] for _ in range(steps)]


def _run(opt, params, grads):
    for step_grads in grads:
        opt.zero_grad()
        for p, g in zip(params, step_grads):
            p.add_grad(g)
        opt.step()


def _selected(arrays, q):
    """Global top-q by |x| over the arrays flattened and concatenated, ties to the lower index
    (a stable sort of the negated magnitudes), as one flat boolean mask."""
    flat = np.abs(np.concatenate([a.ravel() for a in arrays]))
    keep = np.zeros(flat.size, dtype=bool)
    keep[np.argsort(-flat, kind="stable")[:q]] = True
    return keep


def _reference(values, grads, q, lr, momentum, weight_decay, nesterov):
    """The GSM trajectory written out (the paper's step with PyTorch's SGD equations): the
    last array is the bias, the others weight matrices."""
    values = [v.copy() for v in values]
    bufs = [None] * len(values)
    for t, step_grads in enumerate(grads, start=1):
        n_w = len(values) - 1
        keep = _selected([g * w for g, w in zip(step_grads[:n_w], values[:n_w])], q)
        offsets = np.cumsum([0] + [v.size for v in values[:n_w]])
        for i, (w, g) in enumerate(zip(values, step_grads)):
            if i < n_w:
                g = g * keep[offsets[i]:offsets[i + 1]].reshape(w.shape)
            d = g + weight_decay * w
            bufs[i] = d.copy() if t == 1 else momentum * bufs[i] + d
            step = d + momentum * bufs[i] if nesterov else bufs[i]
            values[i] = w - lr * step
    return values


@pytest.mark.parametrize("nesterov", [True, False])
def test_steps_match_the_reference(nesterov):
    rng = np.random.default_rng(0)
    params, grads = _params(rng), _grads(rng, 6)
    start = [p.value.copy() for p in params]
    q, lr, momentum, wd = 9, 0.05, 0.9, 1e-2
    opt = GlobalSparseMomentum(params, q, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=wd,
                               bias_weight_decay=wd)
    _run(opt, params, grads[:1])  # the first step on its own: buf = g
    for p, want in zip(params, _reference(start, grads[:1], q, lr, momentum, wd, nesterov)):
        np.testing.assert_allclose(p.value, want, rtol=1e-12, atol=0)
    _run(opt, params, grads[1:])
    for p, want in zip(params, _reference(start, grads, q, lr, momentum, wd, nesterov)):
        np.testing.assert_allclose(p.value, want, rtol=1e-12, atol=0)
    assert sum(opt.last_selected) == q and len(opt.last_selected) == 2


def test_steps_match_the_authors_masked_torch_sgd():
    """The authors' gsm_train.train_one_step: scores |g w| over the 2-D parameters, the mask,
    grad <- mask * grad, then torch.optim.SGD (Nesterov; weight decay on the weights, their
    configs' 0 on the biases)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    params, grads = _params(rng), _grads(rng, 8)
    tparams = [torch.tensor(p.value.copy(), requires_grad=True) for p in params]
    q, lr, momentum, wd = 7, 0.01, 0.99, 5e-4
    opt = GlobalSparseMomentum(params, q, lr=lr, momentum=momentum, nesterov=True, weight_decay=wd)
    topt = torch.optim.SGD([{"params": tparams[:2]}, {"params": tparams[2:], "weight_decay": 0.0}], lr=lr,
                           momentum=momentum, nesterov=True, weight_decay=wd)  # their weight_decay_bias: 0
    _run(opt, params, grads)
    for step_grads in grads:
        for tp, g in zip(tparams, step_grads):
            tp.grad = torch.tensor(g)
        weights = [tp for tp in tparams if tp.dim() == 2]
        metric = torch.cat([(tp.grad * tp.data).abs().view(-1) for tp in weights])
        thresh = torch.topk(metric, q).values[-1]
        for tp in weights:
            tp.grad = tp.grad * ((tp.grad * tp.data).abs() >= thresh).double()
        topt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.value, tp.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_only_the_selected_weights_receive_gradient():
    rng = np.random.default_rng(2)
    params, grads = _params(rng), _grads(rng, 1)
    before = [p.value.copy() for p in params]
    q = 6
    opt = GlobalSparseMomentum(params, q, lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0)
    _run(opt, params, grads)
    changed = np.concatenate([(p.value != b).ravel() for p, b in zip(params[:2], before[:2])])
    want = _selected([g * w for g, w in zip(grads[0][:2], before[:2])], q)
    np.testing.assert_array_equal(changed, want)
    assert (params[2].value != before[2]).all()  # the bias takes its whole gradient
    assert opt.last_selected == (int(want[:20].sum()), int(want[20:].sum()))


def test_ties_go_to_the_lower_global_index():
    """All scores equal: the first q entries of the first matrix, then of the next."""
    params = [Parameter(np.ones(shape), name) for name, shape in SHAPES.items()]
    for q in (5, 23):
        for p in params:
            p.value[...] = 1.0
        opt = GlobalSparseMomentum(params, q, lr=1.0, momentum=0.0, nesterov=False, weight_decay=0.0)
        _run(opt, params, [[np.ones(shape) for shape in SHAPES.values()]])
        changed = np.concatenate([(p.value != 1.0).ravel() for p in params[:2]])
        np.testing.assert_array_equal(np.flatnonzero(changed), np.arange(q))


def test_unselected_weights_decay_towards_zero():
    """With a zero gradient every weight (and the bias) follows w <- w (1 - lr wd)."""
    rng = np.random.default_rng(3)
    params = _params(rng)
    start = [p.value.copy() for p in params]
    lr, wd, steps = 0.5, 0.1, 3
    opt = GlobalSparseMomentum(params, 4, lr=lr, momentum=0.0, nesterov=False, weight_decay=wd, bias_weight_decay=wd)
    _run(opt, params, [[np.zeros(shape) for shape in SHAPES.values()]] * steps)
    for p, w0 in zip(params, start):
        np.testing.assert_allclose(p.value, w0 * (1 - lr * wd) ** steps, rtol=1e-12)


def test_unselected_weights_keep_their_momentum():
    """A weight selected once and never again goes on moving with its buffer and its decay:
    buf <- m buf + wd w, w <- w - lr buf (heavy ball)."""
    w0, lr, m, wd = np.array([[3.0, 1.0]]), 0.1, 0.9, 0.01
    p = Parameter(w0.copy(), "W")
    opt = GlobalSparseMomentum([p], 1, lr=lr, momentum=m, nesterov=False, weight_decay=wd)
    grads = [np.array([[2.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]])]
    _run(opt, [p], [[g] for g in grads])
    w, buf = w0[0, 0], None
    for g in (2.0, 0.0, 0.0):  # entry 0: selected at step 1 only (score 6 vs 0, then 0 vs 1)
        d = g + wd * w
        buf = d if buf is None else m * buf + d
        w = w - lr * buf
    np.testing.assert_allclose(p.value[0, 0], w, rtol=1e-12)
    np.testing.assert_allclose(p.state["momentum_buffer"][0, 0], buf, rtol=1e-12)


def test_selection_scores_the_unclipped_gradient():
    """|g w|: 10 x 1 against 3 x 2; clipped to 1 first it would be 1 against 2."""
    p = Parameter(np.array([[1.0, 2.0]]), "W")
    opt = GlobalSparseMomentum([p], 1, lr=1.0, momentum=0.0, nesterov=False, weight_decay=0.0, clip=1.0)
    _run(opt, [p], [[np.array([[10.0, 3.0]])]])
    np.testing.assert_array_equal(p.value, [[0.0, 2.0]])  # moved by the clipped gradient, 1


def test_biases_take_no_weight_decay_by_default():
    """As in the authors' configs (weight_decay_bias 0)."""
    params = [Parameter(np.ones((2, 2)), "W"), Parameter(np.ones(2), "b")]
    opt = GlobalSparseMomentum(params, 1, lr=1.0, momentum=0.0, nesterov=False, weight_decay=0.5)
    _run(opt, params, [[np.zeros((2, 2)), np.zeros(2)]])
    np.testing.assert_array_equal(params[0].value, 0.5)
    np.testing.assert_array_equal(params[1].value, 1.0)


def test_magnitude_cut_keeps_the_q_largest():
    rng = np.random.default_rng(4)
    params = _params(rng)
    before = [p.value.copy() for p in params]
    q = 11
    assert magnitude_cut_(params, q) == q == nonzero_weights(params)
    keep = _selected(before[:2], q)
    got = np.concatenate([p.value.ravel() for p in params[:2]])
    np.testing.assert_array_equal(got != 0, keep)
    np.testing.assert_array_equal(got[keep], np.concatenate([b.ravel() for b in before[:2]])[keep])
    np.testing.assert_array_equal(params[2].value, before[2])


def test_magnitude_cut_ties_go_to_the_lower_index():
    a = Parameter(np.array([[0.5, -2.0], [2.0, 1.0]]), "A")
    b = Parameter(np.array([[-2.0, 2.0, 0.1]]), "B")
    bias = Parameter(np.array([0.0, 9.0]), "b")
    assert magnitude_cut_([a, bias, b], 3) == 3
    np.testing.assert_array_equal(a.value, [[0.0, -2.0], [2.0, 0.0]])
    np.testing.assert_array_equal(b.value, [[-2.0, 0.0, 0.0]])
    np.testing.assert_array_equal(bias.value, [0.0, 9.0])


def test_bad_q_and_settings_raise():
    params = _params(np.random.default_rng(5))
    total = weight_count(params)
    assert total == 32
    for q in (0, total + 1):
        with pytest.raises(ValueError, match=rf"q={q} must be in 1\.\.{total}"):
            GlobalSparseMomentum(params, q)
        with pytest.raises(ValueError, match=rf"q={q} must be in 1\.\.{total}"):
            magnitude_cut_(params, q)
    with pytest.raises(ValueError, match=r"q=1 must be in 1\.\.0"):
        GlobalSparseMomentum(params[2:], 1)  # a bias alone: no weight matrix
    with pytest.raises(ValueError, match="Nesterov"):
        GlobalSparseMomentum(params, 1, momentum=0.0)
    with pytest.raises(TypeError):
        GlobalSparseMomentum(params, 1, sparse=True)
    GlobalSparseMomentum(params, total)  # every weight: the upper bound is allowed


def test_state_lives_on_the_parameters():
    """Momentum buffers and step counters are in p.state (what checkpoints save): a new
    optimizer over the same parameters continues exactly where the first one stopped."""
    rng = np.random.default_rng(6)
    grads = _grads(rng, 5)
    runs = []
    for restart in (False, True):
        params = _params(np.random.default_rng(7))
        make = lambda: GlobalSparseMomentum(params, 8, lr=0.05, momentum=0.9)  # noqa: E731
        opt = make()
        _run(opt, params, grads[:3])
        for p in params:
            assert p.state["step"] == 3 and p.state["momentum_buffer"].shape == p.shape
            assert p.state["momentum_buffer"].any()
        _run(make() if restart else opt, params, grads[3:])
        runs.append([p.value.copy() for p in params])
    for continued, restarted in zip(*runs):
        np.testing.assert_array_equal(continued, restarted)
