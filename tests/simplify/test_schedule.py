"""The meSimp schedule on small numbers: cycle parity, prune points, optimizer resets."""

import numpy as np
import pytest

from mesimp_engine import optim
from mesimp_engine.parameter import Parameter
from mesimp_engine.simplify import ActivityRecord, PruneSchedule


def _run(schedule, epochs, batches):
    """Drive the schedule like a trainer; return (cycle starts, prune points as (epoch, step))."""
    starts, points = [], []
    for epoch in range(1, epochs + 1):
        if schedule.start_epoch(epoch):
            starts.append(epoch)
        for step, n in enumerate(batches):
            if schedule.after_step(n):
                points.append((epoch, step))
    return starts, points


def test_cycles_alternate_from_a_simplifying_cycle_zero():
    s = PruneSchedule(interval_examples=10, cycle_epochs=2)
    assert [s.cycle(e) for e in range(1, 8)] == [0, 0, 1, 1, 2, 2, 3]
    assert [s.simplifies(e) for e in range(1, 8)] == [True, True, False, False, True, True, False]
    assert [s.cycle_starts(e) for e in range(1, 8)] == [True, False, True, False, True, False, True]
    with pytest.raises(ValueError):
        s.cycle(0)


def test_prune_points_every_interval_within_simplifying_cycles_only():
    s = PruneSchedule(interval_examples=30, cycle_epochs=1)
    starts, points = _run(s, 4, [10] * 6)  # 60 examples per epoch: 2 prune points
    assert starts == [1, 2, 3, 4]
    assert points == [(1, 2), (1, 5), (3, 2), (3, 5)]
    assert s.examples_seen == 240 and s.prune_points == 4


def test_prune_points_follow_multiples_of_the_interval_across_epochs():
    # batches of 4 against an interval of 10: crossings at 12, 20, 32, 40, ... examples
    s = PruneSchedule(interval_examples=10, cycle_epochs=2)
    starts, points = _run(s, 3, [4] * 5)  # 20 examples per epoch
    assert starts == [1, 3]
    assert points == [(1, 2), (1, 4), (2, 2), (2, 4)]
    s = PruneSchedule(interval_examples=7, cycle_epochs=None)
    starts, points = _run(s, 2, [5, 5, 5])
    assert starts == []  # no cycles: never a reset
    assert points == [(1, 1), (1, 2), (2, 1), (2, 2)]  # at 10, 15, 25, 30 examples (crossing 7, 14, 21, 28)


def test_a_new_simplifying_cycle_restarts_the_interval():
    s = PruneSchedule(interval_examples=25, cycle_epochs=1)
    starts, points = _run(s, 3, [10] * 3)  # 30 per epoch; 5 left over at the end of epoch 1
    assert points == [(1, 2), (3, 2)]  # epoch 3 counts from 0 again, not from the leftover 5


def test_a_batch_larger_than_the_interval_makes_one_prune_point():
    s = PruneSchedule(interval_examples=3, cycle_epochs=None)
    s.start_epoch(1)
    # 10 examples cross 3, 6 and 9 at once: one prune point; the next is at 12
    assert [s.after_step(10), s.after_step(1), s.after_step(1)] == [True, False, True]
    assert s.prune_points == 2


def _three_steps_then_cycle_start(keep_step):
    p = Parameter(np.ones(3), "w")
    optimizer = optim.Adam([p], lr=0.1)
    record = ActivityRecord(3)
    s = PruneSchedule(interval_examples=5, cycle_epochs=2, keep_step=keep_step)
    assert s.start_epoch(1, optimizer, [record])
    for _ in range(3):
        p.add_grad(np.array([1.0, -1.0, 0.5]))
        optimizer.step()
        p.zero_grad()
    record.update(np.array([[0, 1]]))
    assert p.state["step"] == 3
    assert not s.start_epoch(2, optimizer, [record])
    assert p.state["step"] == 3 and record.seen == 1
    assert s.start_epoch(3, optimizer, [record])
    assert record.seen == 0 and not record.hits.any()
    before = p.value.copy()
    p.add_grad(np.array([2.0, -3.0, 0.25]))
    optimizer.step()
    return p, np.abs(p.value - before)


def test_cycle_start_restarts_the_optimizer_and_clears_the_records():
    p, moved = _three_steps_then_cycle_start(keep_step=False)
    # re-initialised: the next step is Adam's first again, |dw| = lr
    np.testing.assert_allclose(moved, 0.1, rtol=1e-6)
    assert p.state["step"] == 1


def test_cycle_start_can_keep_adams_step_counter_as_the_authors_code_does():
    p, moved = _three_steps_then_cycle_start(keep_step=True)
    # moments zeroed, t = 4: m = 0.1 g, v = 0.001 g^2, bias corrections of t = 4
    b1, b2 = 0.9, 0.999
    expected = 0.1 * (0.1 / (1 - b1**4)) / np.sqrt(0.001 / (1 - b2**4))
    np.testing.assert_allclose(moved, expected, rtol=1e-5)
    assert p.state["step"] == 4


def test_epochs_must_advance():
    s = PruneSchedule(interval_examples=5, cycle_epochs=2)
    with pytest.raises(RuntimeError):
        s.after_step(3)
    s.start_epoch(1)
    with pytest.raises(ValueError):
        s.start_epoch(1)
    with pytest.raises(ValueError):
        PruneSchedule(interval_examples=0)
    with pytest.raises(ValueError):
        PruneSchedule(interval_examples=5, cycle_epochs=0)


def test_width_history_records_examples_epoch_and_widths():
    s = PruneSchedule(interval_examples=10, cycle_epochs=1)
    s.start_epoch(1)
    s.note_widths([500, 500])
    s.after_step(10)
    s.note_widths(np.array([480, 310]))
    s.start_epoch(2)
    s.after_step(10)
    assert s.width_history == [(0, 1, [500, 500]), (10, 1, [480, 310])]
    assert all(type(w) is int for w in s.width_history[1][2])
    assert not s.simplifying and s.examples_seen == 20


def test_schedule_records_and_pruning_together():
    """Two cycles of one epoch on a tiny MLP: the first prunes the units its (biased)
    selections seldom hit, the second only trains; the old optimizer keeps stepping."""
    from mesimp_engine.graph import Graph
    from mesimp_engine.models.mlp import MLP
    from mesimp_engine.simplify import prune_mlp_

    rng = np.random.default_rng(0)
    model = MLP(n_in=4, hidden=8, layers=2, n_out=3, rng=0, dtype=np.float64)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    records = [ActivityRecord(w) for w in model.hidden_sizes()]
    s = PruneSchedule(interval_examples=20, cycle_epochs=1, keep_step=False)
    favourite = [np.array([0, 2, 5]), np.array([1, 7])]
    for epoch in (1, 2):
        s.start_epoch(epoch, optimizer, records)
        for _ in range(4):
            x, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
            optimizer.zero_grad()
            Graph().backward(model.loss(x, y))
            optimizer.step()
            if s.simplifying:
                for record, fav in zip(records, favourite):
                    others = np.setdiff1d(np.arange(record.n_units), fav)
                    # every example selects the favourites and one other unit (while any is left)
                    selected = np.tile(fav, (10, 1))
                    if others.size:
                        selected = np.column_stack([selected, rng.choice(others, 10)])
                    record.update(selected)
            if s.after_step(10):
                s.note_widths(prune_mlp_(model, records, prune_rate=0.5))
                favourite = [np.arange(len(f)) for f in favourite]  # renumbered after the trim
    assert [(n, e, w) for n, e, w in s.width_history] == [(20, 1, [3, 2]), (40, 1, [3, 2])]
    assert model.hidden_sizes() == [3, 2] and s.examples_seen == 80
    assert all(p.state["step"] == 4 for p in model.parameters())  # reset at epoch 2, 4 steps since
