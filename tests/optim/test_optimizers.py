"""Optimizer semantics that PyTorch does not cover: clipping, sparse-aware steps, state."""

import numpy as np
import pytest

from mesimp_engine import optim
from mesimp_engine.parameter import Parameter


def _param(value, grad):
    p = Parameter(np.array(value, dtype=np.float64), "p")
    p.add_grad(np.array(grad, dtype=np.float64))
    return p


def test_adam_first_step_moves_each_weight_by_lr():
    # After one step m/(sqrt(v)) = sign(g) once bias-corrected, so |dw| = lr (eps aside).
    p = _param([1.0, -2.0, 3.0], [0.5, -4.0, 1e-3])
    optim.Adam([p], lr=0.01).step()
    np.testing.assert_allclose(p.value, [0.99, -1.99, 2.99], atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_authors_eps_form_is_the_csharp_update(dtype):
    """eps_form="authors": the meProp authors' C# Adam.Update, written out here as it is there:
    lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t); w -= lr_t m / (sqrt(v) + eps). Gradients near
    eps make the two forms differ at the first steps."""
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal(50)
    grads = [rng.standard_normal(50) * np.logspace(-9, 0, 50) for _ in range(4)]
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    w, m, v = w0.copy(), np.zeros(50), np.zeros(50)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    results = {}
    for form in ("authors", "pytorch"):
        p = Parameter(w0.astype(dtype), "p")
        opt = optim.Adam([p], lr=lr, eps=eps, eps_form=form)
        for g in grads:
            p.add_grad(g.astype(dtype))
            opt.step()
            opt.zero_grad()
        results[form] = p.value.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(results["authors"], w, rtol=tol, atol=tol)
    assert np.abs(results["pytorch"] - w).max() > 1e-4  # the forms differ on tiny gradients
    with pytest.raises(ValueError, match="eps_form"):
        optim.Adam([Parameter(w0, "q")], eps_form="csharp")


def test_adagrad_equation():
    p = _param([1.0, 1.0], [2.0, -1.0])
    opt = optim.AdaGrad([p], lr=0.1, eps=1e-6)
    opt.step()
    np.testing.assert_allclose(p.value, [1 - 0.1 * 2 / (2 + 1e-6), 1 + 0.1 * 1 / (1 + 1e-6)])
    np.testing.assert_allclose(p.state["sum"], [4.0, 1.0])


def test_adagrad_with_the_authors_eps_adds_it_inside_the_square_root():
    # the authors' C# AdaGrad.Update: h += dw^2; w -= dw * lr / sqrt(h + eps)
    p = _param([1.0, 1.0, 1.0], [2.0, -1e-3, 1e-4])
    optim.AdaGrad([p], lr=0.1, eps=1e-6, eps_form="authors").step()
    g = np.array([2.0, -1e-3, 1e-4])
    np.testing.assert_allclose(p.value, 1 - 0.1 * g / np.sqrt(g * g + 1e-6), rtol=1e-6)
    # a small gradient moves a weight far less than in PyTorch's form (eps outside)
    q = _param([1.0], [1e-4])
    optim.AdaGrad([q], lr=0.1, eps=1e-6).step()
    assert abs(1 - q.value[0]) > 9 * abs(1 - p.value[2])
    with pytest.raises(ValueError, match="eps_form"):
        optim.AdaGrad([p], eps_form="inside")


def test_sgd_elementwise_clipping():
    p = _param([0.0, 0.0, 0.0], [10.0, -0.5, -3.0])
    optim.SGD([p], lr=1.0, clip=1.0).step()
    np.testing.assert_allclose(p.value, [-1.0, 0.5, 1.0])


def test_adam_and_adagrad_clip_each_element_first():
    # Clipped at 1: the moments see g = [1, -0.5, -1], so the v of the clipped entries is
    # (1 - beta2) * 1 and AdaGrad's sum is 1, not 100 and 9.
    adam = _param([0.0, 0.0, 0.0], [10.0, -0.5, -3.0])
    optim.Adam([adam], lr=0.01, clip=1.0).step()
    np.testing.assert_allclose(adam.state["exp_avg_sq"], [1e-3, 2.5e-4, 1e-3])
    np.testing.assert_allclose(adam.state["exp_avg"], [0.1, -0.05, -0.1])
    adagrad = _param([0.0, 0.0], [10.0, -0.5])
    optim.AdaGrad([adagrad], lr=0.1, clip=1.0).step()
    np.testing.assert_allclose(adagrad.state["sum"], [1.0, 0.25])
    with pytest.raises(ValueError, match="clip"):
        optim.Adam([_param([0.0], [0.0])], clip=-1.0)


def test_sgd_rejects_bad_settings():
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([_param([0.0], [0.0])], nesterov=True)
    with pytest.raises(ValueError, match="clip"):
        optim.SGD([_param([0.0], [0.0])], clip=0)
    with pytest.raises(ValueError, match="no parameters"):
        optim.Adam([])


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=0.1, sparse=True),
    lambda ps: optim.AdaGrad(ps, lr=0.1, sparse=True),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, sparse=True),
])
def test_sparse_mode_touches_only_rows_with_gradient(make):
    p = Parameter(np.ones((4, 3)), "W")
    opt = make([p])
    for step in range(3):
        opt.zero_grad()
        p.add_row_grad(np.array([1, 3]), np.full((2, 3), 0.5))
        opt.step()
    np.testing.assert_array_equal(p.value[[0, 2]], 1.0)
    assert (p.value[[1, 3]] < 1.0).all()
    for arr in (v for k, v in p.state.items() if k != "step"):
        np.testing.assert_array_equal(arr[[0, 2]], 0.0)


def test_sparse_mode_rows_equal_dense_mode_rows_for_adagrad():
    """AdaGrad with zero gradient leaves a row unchanged, so both modes agree exactly."""
    rng = np.random.default_rng(0)
    a, b = Parameter(rng.standard_normal((5, 2)), "a"), None
    b = Parameter(a.value.copy(), "b")
    dense, sparse = optim.AdaGrad([a], lr=0.1), optim.AdaGrad([b], lr=0.1, sparse=True)
    for step in range(4):
        rows = np.array(sorted(rng.choice(5, size=2, replace=False)))
        vals = rng.standard_normal((2, 2))
        for p, opt in ((a, dense), (b, sparse)):
            opt.zero_grad()
            p.add_row_grad(rows, vals)
            opt.step()
    np.testing.assert_allclose(a.value, b.value)


def test_reset_state_forgets_everything():
    p = _param([1.0], [1.0])
    opt = optim.Adam([p])
    opt.step()
    assert p.state["step"] == 1 and "exp_avg" in p.state
    opt.reset_state()
    assert p.state == {}
    opt.step()
    assert p.state["step"] == 1


@pytest.mark.parametrize("name", ["adam", "adagrad", "sgd"])
def test_reset_state_keeping_the_step_zeroes_the_arrays_in_place(name):
    p = _param([1.0, 2.0], [1.0, -1.0])
    opt = {"adam": optim.Adam, "adagrad": optim.AdaGrad, "sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)}[name]([p])
    opt.step()
    opt.step()
    arrays = {key: value for key, value in p.state.items() if isinstance(value, np.ndarray)}
    assert arrays and all(value.any() for value in arrays.values())
    scalars = {key: value for key, value in p.state.items() if not isinstance(value, np.ndarray)}
    opt.reset_state(keep_step=True)
    assert all(p.state[key] is value and not value.any() for key, value in arrays.items())
    assert {key: value for key, value in p.state.items() if not isinstance(value, np.ndarray)} == scalars


def test_row_sparse_parameters_update_only_looked_up_rows_in_dense_mode():
    from mesimp_engine import nn, ops
    from mesimp_engine.graph import Graph

    emb = nn.Embedding(6, 2, rng=0, dtype=np.float64)
    before = emb.weight.value.copy()
    opt = optim.Adam(emb.parameters(), lr=0.1)
    g = Graph()
    g.backward(ops.sum(emb(np.array([1, 4]))))
    opt.step()
    changed = np.any(emb.weight.value != before, axis=1)
    np.testing.assert_array_equal(changed, [False, True, False, False, True, False])
