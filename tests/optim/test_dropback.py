"""DropBack: the step against a NumPy reference that stores the initial values, the budget,
the regenerated initial values, and the optimizer's bookkeeping."""

import numpy as np
import pytest

from mesimp_engine.optim.dropback import DropBack, counter_normal, counter_uniform, initial_values
from mesimp_engine.parameter import Parameter
from mesimp_engine.train.checkpoint import load_checkpoint, save_checkpoint


def _params(dtype=np.float64):
    return [Parameter(np.zeros((6, 5), dtype), "w1"), Parameter(np.zeros(6, dtype), "b1"),
            Parameter(np.zeros((3, 6), dtype), "w2")]


def _reference(w0, grads, k, lr):
    """DropBack written out on one flat vector with its initial values stored: score by
    |accumulated update after the tentative step|, keep the k largest (stable: ties to the
    lower index), reset the rest to w0."""
    w = w0.copy()
    for g in grads:
        tentative = w - lr * g
        score = np.abs(tentative - w0)
        keep = np.sort(np.argsort(-score, kind="stable")[:k])
        w = w0.copy()
        w[keep] = tentative[keep]
    return w


def _set_grads(params, flat):
    start = 0
    for p in params:
        p.zero_grad()
        p.add_grad(flat[start : start + p.size].reshape(p.shape))
        start += p.size


@pytest.mark.parametrize("init", ["pytorch", "lecun"])
def test_steps_match_a_reference_that_stores_the_initial_values(init):
    params = _params()
    opt = DropBack(params, k=7, lr=0.05, seed=11, init=init)
    w0 = np.concatenate([p.value.ravel() for p in params])
    np.testing.assert_array_equal(params[0].value, initial_values(11, 0, (6, 5), np.float64, init=init))
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(w0.size) for _ in range(6)]
    for g in grads:
        _set_grads(params, g)
        opt.step()
    w = np.concatenate([p.value.ravel() for p in params])
    np.testing.assert_allclose(w, _reference(w0, grads, 7, 0.05), rtol=0, atol=1e-15)
    assert opt.moved_entries() == np.count_nonzero(w != w0) <= 7
    assert opt.compression == w0.size / 7


def test_a_tracked_weight_is_dropped_when_others_outgrow_it():
    p = Parameter(np.zeros(4), "b")  # a vector: its initial values are 0
    opt = DropBack([p], k=1, lr=1.0)
    for grad, expected in [([0, -3, 0, 0], [0, 3, 0, 0]), ([0, 1, -1, 0], [0, 2, 0, 0]),
                           ([0, 0, -5, 0], [0, 0, 5, 0])]:
        _set_grads([p], np.array(grad, float))
        opt.step()
        np.testing.assert_array_equal(p.value, expected)
    assert p.state["tracked"].tolist() == [False, False, True, False]


def test_initial_values_are_regenerated_entry_by_entry():
    whole = initial_values(5, 100, (4, 9), np.float32)
    index = np.array([0, 7, 35, 12], dtype=np.int64)
    np.testing.assert_array_equal(initial_values(5, 100, (4, 9), np.float32, index), whole.ravel()[index])
    assert np.all(np.abs(whole) <= 1 / 3) and whole.std() > 0.1  # uniform in +-1/sqrt(9)
    assert not np.array_equal(initial_values(6, 100, (4, 9), np.float32), whole)
    assert not np.array_equal(initial_values(5, 136, (4, 9), np.float32), whole)


def test_counter_uniform_looks_uniform():
    u = counter_uniform(3, np.arange(200_000, dtype=np.int64))
    assert u.min() >= 0 and u.max() < 1
    counts = np.histogram(u, bins=20, range=(0, 1))[0]
    assert abs(u.mean() - 0.5) < 0.005 and counts.min() > 9_500 and counts.max() < 10_500


def test_counter_normal_looks_standard_normal_and_lecun_values_regenerate():
    """Box-Muller on counter uniforms: mean 0, variance 1, the normal's tail shares; "lecun"
    initial values are N(0, 1/in) and regenerate entry by entry like the uniform ones."""
    z = counter_normal(3, np.arange(200_000, dtype=np.int64))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.mean(np.abs(z) > 1.96) - 0.05) < 0.003 and abs(np.mean(np.abs(z) > 3) - 0.0027) < 0.0008
    whole = initial_values(5, 100, (300, 784), np.float32, init="lecun")
    assert whole.std() == pytest.approx(1 / np.sqrt(784), rel=0.01) and np.abs(whole).max() > 3 / np.sqrt(784)
    index = np.array([0, 7, 35_000, 12], dtype=np.int64)
    np.testing.assert_array_equal(initial_values(5, 100, (300, 784), np.float32, index, "lecun"), whole.ravel()[index])
    assert not initial_values(5, 0, (7,), np.float32, init="lecun").any()  # biases start at 0
    with pytest.raises(ValueError, match="init must be one of"):
        initial_values(5, 0, (3, 3), np.float32, init="authors")


def test_constructing_reinitialises_from_the_seed():
    a, b = _params(np.float32), _params(np.float32)
    DropBack(a, k=3, seed=2)
    DropBack(b, k=3, seed=2)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.value, q.value)
    assert np.all(a[1].value == 0) and np.all(a[0].value != 0)


@pytest.mark.parametrize("k", [0, 55])
def test_budget_outside_the_parameter_count_is_refused(k):
    with pytest.raises(ValueError, match=r"k must be between 1 and the 54 parameter entries, got k="):
        DropBack(_params(), k=k)


def test_state_survives_a_checkpoint(tmp_path):
    class Model:
        def __init__(self, params):
            self.params = params

        def named_parameters(self):
            return [(p.name, p) for p in self.params]

    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(54) for _ in range(4)]
    straight = _params()
    opt = DropBack(straight, k=9, lr=0.1, seed=4)
    for g in grads:
        _set_grads(straight, g)
        opt.step()
    halted = _params()
    opt = DropBack(halted, k=9, lr=0.1, seed=4)
    for g in grads[:2]:
        _set_grads(halted, g)
        opt.step()
    save_checkpoint(tmp_path / "c.npz", Model(halted), {}, {})
    resumed = _params()
    opt = DropBack(resumed, k=9, lr=0.1, seed=4)
    load_checkpoint(tmp_path / "c.npz", Model(resumed), {})
    for g in grads[2:]:
        _set_grads(resumed, g)
        opt.step()
    for p, q in zip(straight, resumed):
        np.testing.assert_array_equal(p.value, q.value)
