"""Row-wise gradient accumulation for row-sparse gradients (meProp's weights, embeddings).

``add_rows_(grad, rows, values)`` does grad[rows[r]] += values[r] and ``zero_rows_(grad,
rows)`` grad[rows[r]] = 0, each reading and writing a row once. NumPy's ``grad[rows] +=
values`` gathers the rows into a temporary, adds, and scatters the temporary back: three
passes, which at MNIST's 174 touched rows of 784 cost more than meProp's whole product.
Rows are checked against grad's first axis (IndexError), as NumPy would; a row listed
twice is added twice (NumPy's fancy ``+=`` would add it once), so callers pass unique rows.

``sum_rows_by_id(ids, dy, rank, rows, values)`` is an embedding lookup's gradient: the
sorted unique ids and, for each, the sum of the rows of dy at its positions. NumPy's
``np.unique`` (a sort) and ``np.add.at`` took 95 ms for the parser's word features (10,000
x 18 ids of 50-wide rows) and 87 ms for its 18 tag features; one marking pass over the ids
and one pass over dy take a few milliseconds.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def _check_rows(rows, n):
    for p in range(rows.shape[0]):
        if not 0 <= rows[p] < n:
            raise IndexError("row index out of range")


@njit(cache=True)
def add_rows_(grad, rows, values):
    """grad (n, m), rows (r,) int64 unique, values (r, m): grad[rows[p]] += values[p]."""
    _check_rows(rows, grad.shape[0])
    for p in range(rows.shape[0]):
        g = grad[rows[p]]
        v = values[p]
        for i in range(g.shape[0]):
            g[i] += v[i]


def add_rows_numpy(grad, rows, values):
    """NumPy twin of ``add_rows_``."""
    grad[rows] += values


@njit(cache=True)
def zero_rows_(grad, rows):
    """grad (n, m), rows (r,) int64: grad[rows[p]] = 0."""
    _check_rows(rows, grad.shape[0])
    for p in range(rows.shape[0]):
        g = grad[rows[p]]
        for i in range(g.shape[0]):
            g[i] = 0


def zero_rows_numpy(grad, rows):
    """NumPy twin of ``zero_rows_``."""
    grad[rows] = 0


@njit(cache=True)
def selected_rows(idx, rows, rank):
    """Mark the units selected by any example (meProp's selection idx (B, k); an embedding's
    ids (n, F)).

    idx (B, k) integers in [0, n_out). Outputs: rank (n_out,) int64, set to the position of unit j
    in the sorted list of selected units, or -1; rows (n_out,) int64, whose first n_rows
    entries become that sorted list. Returns n_rows.
    """
    rank[:] = -1
    for b in range(idx.shape[0]):
        for t in range(idx.shape[1]):
            rank[idx[b, t]] = 0
    n_rows = 0
    for j in range(rank.shape[0]):
        if rank[j] == 0:
            rank[j] = n_rows
            rows[n_rows] = j
            n_rows += 1
    return n_rows


def selected_rows_numpy(idx, rows, rank):
    """NumPy twin of ``selected_rows``."""
    mask = np.zeros(rank.shape[0], dtype=bool)
    mask[idx.ravel()] = True
    chosen = np.flatnonzero(mask)
    rank[:] = -1
    rank[chosen] = np.arange(chosen.size)
    rows[: chosen.size] = chosen
    return chosen.size


@njit(cache=True)
def sum_rows_by_id(ids, dy, rank, rows, values):
    """ids (n, F) integers in [0, V); dy (n, F * m), any strides (the lookup's slice of a
    concatenation's gradient); rank (V,) int64 scratch; rows (>= u,) int64 and values
    (>= u, m), u the number of unique ids. Writes rows[:u] = the sorted unique ids and
    values[:u] = for each, the sum of dy[b, f * m : (f + 1) * m] over the positions (b, f)
    with that id, in row-major order of the positions (the order of ``np.add.at`` on the
    flattened ids); returns u. IndexError for an id outside [0, V)."""
    n, F = ids.shape
    m = values.shape[1]
    for b in range(n):
        _check_rows(ids[b], rank.shape[0])
    u = selected_rows(ids, rows, rank)
    for r in range(u):
        values[r, :] = 0
    for b in range(n):
        for f in range(F):
            v = values[rank[ids[b, f]]]
            d = dy[b, f * m : f * m + m]
            for i in range(m):
                v[i] += d[i]
    return u


def sum_rows_by_id_numpy(ids, dy, rank, rows, values):
    """NumPy twin of ``sum_rows_by_id``."""
    unique, inverse = np.unique(ids.reshape(-1), return_inverse=True)
    u = unique.size
    rows[:u] = unique
    values[:u] = 0
    np.add.at(values[:u], inverse, dy.reshape(-1, values.shape[1]))
    return u
