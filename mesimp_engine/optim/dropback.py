"""DropBack (Golub, Lemieux, Lis, arXiv 1806.06949): train with a fixed budget of k weights
that may differ from their initial values; every other weight stays at (or returns to) its
initial value, which is regenerated from (seed, index) instead of being stored.

One step, over all the parameters together (one global budget)::

    u = -lr * g                         the tentative SGD step (g clipped first if clip)
    score = |w + u - w0|                the accumulated update of a weight after this step
                                        (= |u| for an untracked weight, whose w is w0)
    T = the k entries of largest score  (ties to the lower global index)
    w <- w + u on T,  w <- w0 elsewhere

Compression = total weights / k: only the k tracked entries need storing, the rest are
regenerated from the seed.

Choices where the paper and its code leave room (each stated here):

- Initial values come from a counter-based generator (``initial_values``: SplitMix64 of
  the seed and the entry's global index), so that any entry's initial value can be
  regenerated alone. Weight matrices (out, in) start uniform in +-1/sqrt(in), the
  distribution of PyTorch's default ``nn.Linear`` weights, or with ``init="lecun"`` normal
  N(0, 1/in), Chainer's default ``L.Linear`` weights, which the authors' code trains (a
  counter-based Box-Muller, ``counter_normal``); vectors (biases) start at 0. Constructing
  the optimizer writes these values into the parameters. (The authors' code records the
  values after the first SGD step as the initial ones; here they are the values before it.)
- The budget covers every parameter, biases included, as the reference code ranks every
  entry of ``model.parameters()``.
- Plain SGD (no momentum, no weight decay): the update that is tracked is the SGD step.
- The tracked set is kept as a boolean mask per parameter in ``p.state["tracked"]`` (a byte
  per weight, checkpointed with the rest of the optimizer state); a deployment would keep
  the k indices and values only.
- Scores are computed in the parameters' precision (float32 by default), where the
  accumulated update of a tracked entry, w + u - w0, is rounded like the weight itself.
- The selection is the engine's exact top-k (``sparsity.topk``); the reference code's NumPy
  path partitions at the wrong place (SPEC section 3), which this does not reproduce.
- The paper's optional freezing of the tracked set after some epochs is not implemented.
"""

import numpy as np

from mesimp_engine.optim.optimizer import Optimizer
from mesimp_engine.sparsity.topk import topk

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(z):
    """SplitMix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z = z * _MIX1
    z = z ^ (z >> np.uint64(27))
    z = z * _MIX2
    return z ^ (z >> np.uint64(31))


def counter_uniform(seed, index):
    """Uniform floats in [0, 1), one per entry of ``index`` (int64 array of global indices),
    each a function of (seed, index) alone: the same entry always gets the same number."""
    with np.errstate(over="ignore"):
        key = _splitmix64(np.array([seed], dtype=np.uint64) * _GOLDEN + _GOLDEN)
        z = _splitmix64(np.asarray(index).astype(np.uint64) * _GOLDEN + key)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def counter_normal(seed, index):
    """Standard normal floats, one per entry of ``index``, each a function of (seed, index)
    alone: Box-Muller on the counter uniforms of 2 index and 2 index + 1."""
    index = np.asarray(index).astype(np.int64)
    radius = np.sqrt(-2.0 * np.log1p(-counter_uniform(seed, 2 * index)))  # 1 - u in (0, 1]
    return radius * np.cos(2.0 * np.pi * counter_uniform(seed, 2 * index + 1))


INITS = ("pytorch", "lecun")
"""The initial distributions DropBack regenerates (``initial_values``)."""


def init_bound(shape):
    """Half-width of the uniform initial values: 1/sqrt(fan_in) for a weight matrix (out,
    in), 0 for a vector (a bias starts at 0)."""
    return 1.0 / np.sqrt(shape[1]) if len(shape) >= 2 else 0.0


def initial_values(seed, offset, shape, dtype, flat_index=None, init="pytorch"):
    """The initial values of a parameter whose entries have global indices ``offset + i``:
    the whole array (``shape``), or the entries ``flat_index`` (int64, flat positions);
    ``init`` "pytorch" (uniform in +-1/sqrt(in)) or "lecun" (N(0, 1/in)) for a weight matrix,
    0 for a vector either way."""
    if init not in INITS:
        raise ValueError(f"DropBack: init must be one of {INITS}, got {init!r}")
    bound = init_bound(shape)
    index = np.arange(int(np.prod(shape)), dtype=np.int64) if flat_index is None else flat_index
    if bound == 0.0:
        values = np.zeros(index.shape, dtype=dtype)
    elif init == "lecun":
        values = (counter_normal(seed, offset + index) * bound).astype(dtype)
    else:
        values = ((2.0 * counter_uniform(seed, offset + index) - 1.0) * bound).astype(dtype)
    return values.reshape(shape) if flat_index is None else values


class DropBack(Optimizer):
    """DropBack over ``params`` with a budget of ``k`` tracked entries (see the module
    docstring). ``seed`` keys the regenerated initial values, ``init`` their distribution
    ("pytorch" or "lecun"); the parameters are re-initialised from them here. ``total``
    (parameter entries) and ``compression`` (total / k) are kept for the report."""

    def __init__(self, params, k, lr=0.1, seed=0, clip=None, init="pytorch"):
        super().__init__(params, sparse=False, clip=clip)
        self.total = sum(p.size for p in self.params)
        if not 1 <= k <= self.total:
            raise ValueError(f"DropBack: k must be between 1 and the {self.total} parameter entries, got k={k}")
        self.k, self.lr, self.seed, self.init = int(k), lr, seed, init
        self.offsets = np.cumsum([0] + [p.size for p in self.params[:-1]]).tolist()
        self._scores = np.empty(self.total, dtype=np.result_type(*(p.dtype for p in self.params)))
        for p, offset in zip(self.params, self.offsets):
            p.value[...] = initial_values(seed, offset, p.shape, p.dtype, init=init)

    @property
    def compression(self):
        return self.total / self.k

    def updated_fraction(self):
        """The share of the entries a step moves by SGD: k / total (those dropped from the
        tracked set in the step go back to their initial values as well)."""
        return self.k / self.total

    def moved_entries(self):
        """The entries that differ from their initial values now (at most k)."""
        return sum(int(np.count_nonzero(p.value != self._initial(p, offset, None)))
                   for p, offset in zip(self.params, self.offsets))

    def _initial(self, p, offset, flat_index):
        return initial_values(self.seed, offset, p.shape, p.dtype, flat_index, self.init)

    def _step(self):
        scores, steps = self._scores, []
        for p, offset in zip(self.params, self.offsets):
            self._count(p)
            g = p.grad.reshape(-1)
            if self.clip is not None:
                g = np.clip(g, -self.clip, self.clip)
            u = g * p.dtype.type(-self.lr)
            score = scores[offset : offset + p.size]
            np.abs(u, out=score)
            was = np.flatnonzero(self._mask(p))
            w = p.value.reshape(-1)
            score[was] = np.abs(w[was] + u[was] - self._initial(p, offset, was))
            steps.append((u, was))
        keep = topk(scores, self.k)  # ascending global indices: each parameter's are one run
        bounds = np.searchsorted(keep, self.offsets + [self.total])
        for p, offset, (u, was), start, stop in zip(self.params, self.offsets, steps, bounds[:-1], bounds[1:]):
            mine = keep[start:stop] - offset
            w, mask = p.value.reshape(-1), self._mask(p).reshape(-1)
            w[mine] += u[mine]
            mask[was] = False
            mask[mine] = True
            dropped = was[~mask[was]]
            w[dropped] = self._initial(p, offset, dropped)

    def _mask(self, p):
        mask = p.state.get("tracked")
        if mask is None:
            mask = p.state["tracked"] = np.zeros(p.shape, dtype=bool)
        return mask
