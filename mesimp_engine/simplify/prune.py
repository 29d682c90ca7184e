"""Physical, in-place removal of hidden units (meSimp).

Removing unit j of a layer removes row j of its weight and entry j of its bias, column j
of the consumer's weight, and the same slices of the gradients and of every optimizer
state array (Adam's moments, AdaGrad's sums, momentum buffers). The parameter handles stay
the same objects (layers and optimizers hold them); only their arrays are replaced by new,
smaller, contiguous ones. Scalar state (Adam's ``step``) is left alone.

Afterwards the model computes exactly what the untrimmed model computes with those units
forced to zero: a removed unit's activation would be f(0) = 0 (ReLU, cube; for an LSTM cell
g = tanh(0) = 0 and c stays 0, so h = o * tanh(0) = 0) and contributes nothing downstream.

Everything rests on one function, ``slice_parameter_``; the layer and model helpers only
say which indices of which axes belong to a unit.
"""

import numpy as np

from mesimp_engine.parameter import Parameter
from mesimp_engine.simplify.activity import GATES


def as_index(keep, n):
    """A bool mask (n,) or int indices into [0, n) -> sorted unique int64 indices."""
    keep = np.asarray(keep)
    if keep.dtype == bool:
        if keep.shape != (n,):
            raise ValueError(f"keep mask of shape {keep.shape} for an axis of length {n}")
        return np.flatnonzero(keep)
    if keep.dtype.kind not in "iu" or keep.ndim != 1:
        raise TypeError(f"keep must be a bool mask or 1-D int indices, got {keep.dtype} {keep.shape}")
    index = np.unique(keep).astype(np.int64)
    if index.size and (index[0] < 0 or index[-1] >= n):
        raise IndexError(f"keep index out of range [0, {n})")
    return index


def slice_parameter_(param, axis, keep):
    """Keep only the entries ``keep`` along ``axis`` of ``param``, in place.

    keep: bool mask (param.shape[axis],) or int indices. The value, the gradient and every
    state array of the value's shape are replaced by new contiguous arrays; scalar state
    (``step``) stays. The rows that received gradient since ``zero_grad()`` stay tracked
    (renumbered when axis 0 is sliced), so a sparse-aware optimizer still sees them.
    Returns ``param`` (the same handle).
    """
    shape = param.value.shape
    axis = axis % len(shape)
    index = as_index(keep, shape[axis])
    for name, s in param.state.items():
        if isinstance(s, np.ndarray) and s.ndim and s.shape != shape:
            raise ValueError(f"slice_parameter_: {param.name} state {name!r} of shape {s.shape} "
                             f"!= value shape {shape}; cannot tell how to slice it")
    state = {name: np.take(s, index, axis=axis) if isinstance(s, np.ndarray) and s.ndim else s
             for name, s in param.state.items()}
    touched = param.touched_rows()
    grad = np.take(param.grad, index, axis=axis)
    if touched is None:
        param.replace(np.take(param.value, index, axis=axis), grad)
    else:
        param.replace(np.take(param.value, index, axis=axis))
        param.grad[...] = grad
        rows = _renumber(touched, index, shape[0]) if axis == 0 else touched
        if rows.size:
            param.add_row_grad(rows, 0)  # adds nothing; re-registers the touched rows
    param.state.clear()
    param.state.update(state)
    return param


def _renumber(rows, index, n):
    """Old row numbers -> new ones after keeping ``index``; dropped rows disappear."""
    new = np.full(n, -1, dtype=np.int64)
    new[index] = np.arange(index.size)
    rows = new[rows]
    return rows[rows >= 0]


def slice_columns_(param, offset, width, keep):
    """Keep the columns ``offset + keep`` of the block [offset, offset + width) of a 2-D
    ``param``; the columns outside the block all stay. keep: mask (width,) or indices."""
    n = param.shape[1]
    if offset < 0 or offset + width > n:
        raise ValueError(f"column block [{offset}, {offset + width}) outside {param.name} with {n} columns")
    index = np.concatenate([np.arange(offset), offset + as_index(keep, width), np.arange(offset + width, n)])
    return slice_parameter_(param, 1, index)


def _consumer_weight(consumer):
    """A consumer is a layer with a ``weight`` (Linear, ...) or a weight Parameter."""
    if consumer is None or isinstance(consumer, Parameter):
        return consumer
    return consumer.weight


def trim_linear_units_(layer, consumer, keep, record=None, column_offset=0):
    """Remove the output units of ``layer`` not in ``keep``.

    layer: a Linear, weight (out, in), bias (out,) or None -> rows ``keep`` of both.
    consumer: the layer reading its output (a Linear or a weight Parameter (m, n)), or None;
    its columns [column_offset, column_offset + out) are the unit's, those not kept go.
    keep: bool mask (out,) or int indices, at least one unit (a layer never vanishes: the
    network would be cut in two). record: the layer's ActivityRecord, trimmed too.
    Returns the kept indices (into the old units).
    """
    n = layer.weight.shape[0]
    index, weight = _checked_trim(keep, n, consumer, column_offset, record, "unit")
    slice_parameter_(layer.weight, 0, index)
    if layer.bias is not None:
        slice_parameter_(layer.bias, 0, index)
    if weight is not None:
        slice_columns_(weight, column_offset, n, index)
    if record is not None:
        record.trim_(index)
    return index


def trim_lstm_cells_(lstm_or_cell, consumer, column_offset, keep, record=None):
    """Remove the memory cells of an LSTM (or LSTMCell) not in ``keep``.

    Cell j of an LSTM with H cells lives in rows j, H + j, 2H + j, 3H + j (gates i, f, g, o)
    of weight_ih (4H, in), weight_hh (4H, H) and bias (4H,), in column j of weight_hh, and
    in column ``column_offset + j`` of the consumer (a Linear or a weight Parameter, or
    None). keep: bool mask (H,) or int indices, at least one cell. record: the cells'
    ActivityRecord, trimmed too. Returns the kept indices (into the old cells).
    """
    cell = getattr(lstm_or_cell, "cell", lstm_or_cell)
    H = cell.hidden_size
    index, weight = _checked_trim(keep, H, consumer, column_offset, record, "cell")
    rows = np.concatenate([gate * H + index for gate in range(GATES)])
    slice_parameter_(cell.weight_ih, 0, rows)
    slice_parameter_(cell.weight_hh, 0, rows)
    slice_parameter_(cell.weight_hh, 1, index)
    slice_parameter_(cell.bias, 0, rows)
    if weight is not None:
        slice_columns_(weight, column_offset, H, index)
    if record is not None:
        record.trim_(index)
    return index


def _checked_trim(keep, n, consumer, column_offset, record, what):
    """The kept indices of n units and the consumer's weight, after checking that at least
    one unit stays, that the consumer has the units' columns and the record their count."""
    index = as_index(keep, n)
    _check_not_empty(index, what)
    weight = _consumer_weight(consumer)
    if weight is not None and weight.shape[1] < column_offset + n:
        raise ValueError(f"consumer {weight.name} has {weight.shape[1]} columns, "
                         f"fewer than offset {column_offset} + {n} {what}s")
    _check_record(record, n)
    return index, weight


def _check_not_empty(index, what):
    if index.size == 0:
        raise ValueError(f"trimming would remove every {what} of the layer; at least one must stay "
                         "(ActivityRecord.keep_mask keeps the most-hit one)")


def _check_record(record, n):
    if record is not None and record.n_units != n:
        raise ValueError(f"record of {record.n_units} units for a layer of {n}")


def trim_mlp_(model, keeps, records=None):
    """Trim the hidden layers of an MLP or ParserMLP (``hidden_layers`` of Linear, then
    ``output``): ``keeps[i]`` (mask or indices, or None to leave layer i alone) for hidden
    layer i, whose consumer is layer i + 1 or the output layer. ``records[i]`` is trimmed
    with its layer. Returns the new hidden widths."""
    layers = list(model.hidden_layers)
    if len(keeps) != len(layers):
        raise ValueError(f"trim_mlp_: {len(keeps)} keep masks for {len(layers)} hidden layers")
    records = [None] * len(layers) if records is None else list(records)
    consumers = layers[1:] + [model.output]
    for layer, consumer, keep, record in zip(layers, consumers, keeps, records):
        if keep is not None:
            trim_linear_units_(layer, consumer, keep, record)
    return model.hidden_sizes()


def trim_tagger_(model, keep_forward, keep_backward, records=None):
    """Trim the cells of a BiLSTMTagger's two directions (either keep may be None).
    The output layer reads [forward states, backward states]: forward cell j is its column
    j, backward cell j its column H_forward + j. ``records`` = (forward, backward) or None.
    Returns the new widths [H_forward, H_backward]."""
    fwd, bwd = model.bilstm.forward_lstm, model.bilstm.backward_lstm
    rec_f, rec_b = (None, None) if records is None else records
    # backward first: its column offset is the forward width before that one changes
    if keep_backward is not None:
        trim_lstm_cells_(bwd, model.output, fwd.cell.hidden_size, keep_backward, rec_b)
    if keep_forward is not None:
        trim_lstm_cells_(fwd, model.output, 0, keep_forward, rec_f)
    return model.hidden_sizes()


def prune_mlp_(model, records, prune_rate, min_units=1):
    """A prune point for an MLP or ParserMLP: keep the units each record says survive
    (``ActivityRecord.keep_mask``), trim layers and records, reset the records.
    Returns the new hidden widths."""
    keeps = [r.keep_mask(prune_rate, min_units) for r in records]
    widths = trim_mlp_(model, keeps, records)
    for r in records:
        r.reset()
    return widths


def prune_tagger_(model, records, prune_rate, min_units=1):
    """A prune point for a BiLSTMTagger; ``records`` = (forward cells, backward cells),
    each fed by ``ActivityRecord.update_gates``. Returns [H_forward, H_backward]."""
    keeps = [r.keep_mask(prune_rate, min_units) for r in records]
    widths = trim_tagger_(model, keeps[0], keeps[1], records)
    for r in records:
        r.reset()
    return widths
