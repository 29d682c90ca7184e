"""The activity record and the prune rule on hand-made selections."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesimp_engine.simplify import ActivityRecord


def test_per_example_selections_count_each_unit_once_per_example():
    r = ActivityRecord(5)
    r.update(np.array([[0, 3], [3, 3], [4, 0]]))  # example 1 lists unit 3 twice
    np.testing.assert_array_equal(r.hits, [2, 0, 0, 2, 1])
    assert r.seen == 3 and r.hits.dtype == np.int64


def test_a_shared_selection_counts_for_every_example_of_the_batch():
    r = ActivityRecord(4)
    r.update(np.array([2, 0, 2]), batch_size=10)
    r.update(np.array([[1, 2]]))
    np.testing.assert_array_equal(r.hits, [10, 1, 11, 0])
    assert r.seen == 11
    with pytest.raises(ValueError, match="batch_size"):
        r.update(np.array([1, 2]))
    with pytest.raises(ValueError, match="batch_size"):
        r.update(np.array([[1, 2]]), batch_size=3)


def test_selections_are_checked():
    r = ActivityRecord(4)
    with pytest.raises(IndexError):
        r.update(np.array([[0, 4]]))
    with pytest.raises(IndexError):
        r.update(np.array([-1]), batch_size=1)
    with pytest.raises(TypeError):
        r.update(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError):
        r.update(np.zeros((1, 2, 2), dtype=int))
    assert r.seen == 0 and not r.hits.any()


@settings(max_examples=50, deadline=None, derandomize=True)
@given(rows=st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=5), min_size=1, max_size=8))
def test_hits_match_a_brute_force_count(rows):
    width = max(len(row) for row in rows)
    selected = np.array([row + [row[0]] * (width - len(row)) for row in rows])  # pad with repeats
    r = ActivityRecord(7)
    r.update(selected)
    expected = [sum(j in row for row in rows) for j in range(7)]
    np.testing.assert_array_equal(r.hits, expected)
    assert r.seen == len(rows) and r.hits.max() <= r.seen


def test_gates_merge_as_a_per_example_union():
    r = ActivityRecord(3)
    i, f, g, o = (np.array([[0], [1]]), np.array([[0], [2]]), np.array([[1], [1]]), np.array([[0], [0]]))
    r.update_gates([i, f, g, o])
    # example 0: cells {0, 1}; example 1: cells {1, 2, 0}
    np.testing.assert_array_equal(r.hits, [2, 2, 1])
    assert r.seen == 2


def test_gates_merge_from_fused_indices_and_shared_selections():
    r = ActivityRecord(3)
    r.update_gates(np.array([[0, 3, 6, 11], [4, 7, 10, 1]]))  # cells {0, 2}, {1}
    np.testing.assert_array_equal(r.hits, [1, 1, 1])
    r.update_gates([np.array([0]), np.array([0, 2]), np.array([2]), np.array([1])], batch_size=5)
    np.testing.assert_array_equal(r.hits, [6, 6, 6])
    assert r.seen == 7
    with pytest.raises(IndexError):
        r.update_gates(np.array([[12]]))
    with pytest.raises(ValueError, match="mix"):
        r.update_gates([np.array([0]), np.array([[0]])], batch_size=1)


def test_prune_rule_is_floor_of_rate_times_seen():
    r = ActivityRecord(6)
    r.hits[:] = [0, 1, 2, 3, 4, 10]
    r.seen = 10
    assert r.threshold(0.35) == 3  # floor(3.5)
    np.testing.assert_array_equal(r.keep_mask(0.35), [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(r.keep_mask(0.3), [0, 0, 0, 1, 1, 1])  # exactly 3 survives
    np.testing.assert_array_equal(r.keep_mask(0.29), [0, 0, 1, 1, 1, 1])  # floor(2.9) = 2
    np.testing.assert_array_equal(r.keep_mask(0.0), np.ones(6))
    np.testing.assert_array_equal(r.keep_mask(0.09), np.ones(6))  # floor(0.9) = 0
    np.testing.assert_array_equal(r.keep_mask(1.0), [0, 0, 0, 0, 0, 1])


def test_decimal_rates_are_not_cut_by_binary_rounding():
    r = ActivityRecord(2)
    r.hits[:] = [28, 29]
    r.seen = 100
    assert 0.29 * 100 < 29  # the binary product falls short of the decimal one
    assert r.threshold(0.29) == 29
    np.testing.assert_array_equal(r.keep_mask(0.29), [False, True])


def test_a_record_never_removes_every_unit():
    r = ActivityRecord(4)
    r.hits[:] = [1, 3, 0, 3]
    r.seen = 10
    np.testing.assert_array_equal(r.keep_mask(0.5), [False, True, False, False])  # most hit, lower index
    np.testing.assert_array_equal(r.keep_mask(0.5, min_units=3), [True, True, False, True])
    r.reset()
    np.testing.assert_array_equal(r.keep_mask(1.0), np.ones(4))  # nothing seen: threshold 0
    with pytest.raises(ValueError):
        r.keep_mask(1.5)
    with pytest.raises(ValueError):
        r.keep_mask(0.5, min_units=0)


def test_reset_and_trim():
    r = ActivityRecord(4)
    r.update(np.array([[0, 1], [1, 3]]))
    r.trim_(np.array([False, True, True, True]))
    np.testing.assert_array_equal(r.hits, [2, 0, 1])
    assert r.n_units == 3 and r.seen == 2
    r.trim_(np.array([0, 2]))
    np.testing.assert_array_equal(r.hits, [2, 1])
    r.reset()
    assert r.seen == 0 and not r.hits.any() and r.n_units == 2
    with pytest.raises(ValueError):
        r.trim_(np.array([True]))
    with pytest.raises(ValueError):
        ActivityRecord(0)


def test_only_selections_that_carried_a_gradient_count():
    record = ActivityRecord(5)
    selected = np.array([[0, 1, 2], [2, 3, 3]])
    carried = np.array([[True, False, True], [False, True, True]])
    record.update(selected, carried=carried)
    np.testing.assert_array_equal(record.hits, [1, 0, 1, 1, 0])
    assert record.seen == 2
    # a shared (unified) selection: column p of row b is unit selected[p] in example b
    record.update(np.array([4, 1]), batch_size=3, carried=np.array([[True, True], [True, False], [False, False]]))
    np.testing.assert_array_equal(record.hits, [1, 1, 1, 1, 2])
    assert record.seen == 5
    with pytest.raises(ValueError, match="carried"):
        record.update(selected, carried=carried[:, :2])


def test_a_layer_no_wider_than_k_can_still_shrink():
    """With k >= width every unit is selected; units whose gradient is zero (here a ReLU
    that never fires) carry nothing, are not counted, and are pruned."""
    record = ActivityRecord(4)
    selected = np.broadcast_to(np.arange(4), (10, 4))
    carried = np.zeros((10, 4), dtype=bool)
    carried[:, :2] = True
    record.update(selected, carried=carried)
    np.testing.assert_array_equal(record.keep_mask(0.1), [True, True, False, False])


def test_gates_merge_what_any_gate_carried():
    record = ActivityRecord(3)
    fused = np.array([[0, 3, 7, 11]])  # cells 0, 0, 1, 2 through gates i, f, g, o
    record.update_gates(fused, carried=np.array([[False, True, False, True]]))
    np.testing.assert_array_equal(record.hits, [1, 0, 1])
    record.update_gates([np.array([[1]]), np.array([[1]])], carried=[np.array([[False]]), np.array([[True]])])
    np.testing.assert_array_equal(record.hits, [1, 1, 1])
