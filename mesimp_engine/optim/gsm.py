"""Global Sparse Momentum SGD (GSM; Ding et al., NeurIPS 2019, arXiv 1909.12778).

Start from a trained dense model. At every step the Q weight-matrix entries with the largest
first-order Taylor score |dL/dw * w|, taken over all weight matrices together, receive the
loss gradient; every entry keeps its weight decay and its momentum buffer, so the others
decay towards zero. At the end ``magnitude_cut_`` keeps the Q entries of largest |w| and sets
the rest to exactly 0, with no fine-tuning.

Choices, each checked against the authors' code (github.com/DingXiaoH/GSM-SGD,
``gsm/gsm_train.py``, ``gsm/gsm_prune_pipeline.py``) where it says so:

- Weights are the parameters whose value has ndim >= 2 (the authors: dim 2 or 4, linear and
  convolution kernels); every other parameter (biases) is updated by ordinary momentum SGD,
  as in the authors' code, where biases go through the same ``torch.optim.SGD``. Their
  biases get ``weight_decay_bias``, 0 by default in their configs, and so do ours
  (``bias_weight_decay``, 0 unless given).
- The update is PyTorch's SGD (``sgd_update_``) on the masked gradient: the authors multiply
  the gradient by the mask and call ``torch.optim.SGD``, which adds ``weight_decay * w`` to
  every entry (coupled L2). So an unselected entry follows ``buf <- momentum buf + wd w``
  (``buf <- wd w`` at the first step, PyTorch's ``buf = g``) and ``w <- w - lr d`` with
  ``d = wd w + momentum buf`` (Nesterov) or ``buf``. Nesterov is on by default: the authors'
  LeNet-300-100 run (``gsm_lottery_ticket``) passes ``use_nesterov=True``.
- Selection: exactly Q entries, through the engine's ``topk`` on g * w (|x| is its key),
  ties to the lower global index, the weights taken in the order given, each flattened in
  C order. The authors keep every entry whose score is >= the Q-th largest, which selects
  more than Q on ties at the threshold; with real-valued gradients ties are rare.
- The score uses the raw gradient; clipping (``clip``), as in every engine optimizer, then
  bounds each element of the masked gradient before the update (``sgd_update_``). The
  authors do not clip; ranking by the unclipped gradient keeps the Taylor score the paper
  defines, and clipping stays what it is elsewhere, a bound on the step.
- Every parameter is updated densely at every step (the decay of the unselected entries is
  the method), so there is no ``sparse`` mode and ``row_sparse`` is ignored.
- The parameters that take part are those with ``requires_grad`` when the optimizer is
  built; Q is checked against their weight entries.

State, per parameter in ``p.state`` (what the trainer checkpoints): ``momentum_buffer`` when
momentum > 0, and the base class's ``step`` counter.
"""

import operator

import numpy as np

from mesimp_engine.optim.optimizer import Optimizer
from mesimp_engine.optim.sgd import sgd_update_
from mesimp_engine.sparsity.topk import topk


def is_weight(p):
    """A weight matrix (or kernel): value.ndim >= 2. Biases (ndim 1) are not."""
    return p.value.ndim >= 2


def weight_count(params):
    """Entries of the weight matrices among ``params``."""
    return sum(p.size for p in params if is_weight(p))


def nonzero_weights(params):
    """Non-zero entries of the weight matrices among ``params``."""
    return sum(int(np.count_nonzero(p.value)) for p in params if is_weight(p))


def check_q(q, total, who):
    """q as an int in 1..total (the weight entries), else ValueError naming both."""
    q = operator.index(q)
    if not 1 <= q <= total:
        raise ValueError(f"{who}: q={q} must be in 1..{total} (the entries of the weight matrices)")
    return q


def global_top_masks(arrays, q):
    """Boolean masks, one per array and of its shape, marking the q entries of largest
    magnitude over all arrays together (``topk``: ties to the lower index of the arrays
    flattened in C order and concatenated in the order given; NaN counts as largest)."""
    flat = np.concatenate([a.ravel() for a in arrays])
    keep = np.zeros(flat.size, dtype=bool)
    keep[topk(flat, q)] = True
    ends = np.cumsum([a.size for a in arrays])
    return [part.reshape(a.shape) for a, part in zip(arrays, np.split(keep, ends[:-1]))]


def magnitude_cut_(params, q):
    """GSM's final cut, in place: over all weight matrices together keep the q entries of
    largest |w| (ties to the lower global index, as ``global_top_masks``) and set every other
    weight entry to exactly 0; biases are untouched. Returns the non-zero weight entries
    left (q, less when some kept entries were already 0)."""
    weights = [p for p in params if is_weight(p)]
    q = check_q(q, sum(p.size for p in weights), "magnitude_cut_")
    for p, keep in zip(weights, global_top_masks([p.value for p in weights], q)):
        p.value[~keep] = 0
    return nonzero_weights(weights)


class GlobalSparseMomentum(Optimizer):
    """GSM (see the module docstring): each step only the global top-q weight entries by
    |g * w| receive the loss gradient; all entries keep weight decay and momentum.

    ``lr`` may be changed between steps (a schedule). ``last_selected``: the entries selected
    in the last step, per weight matrix in the order of ``weights`` (they sum to q); empty
    before the first step."""

    def __init__(self, params, q, lr=0.01, momentum=0.99, nesterov=True, weight_decay=5e-4, clip=None, bias_weight_decay=0.0):
        super().__init__(params, sparse=False, clip=clip)
        if nesterov and momentum <= 0:
            raise ValueError("GlobalSparseMomentum: Nesterov momentum needs momentum > 0")
        trainable = [p for p in self.params if p.requires_grad]
        self.weights = [p for p in trainable if is_weight(p)]
        self.others = [p for p in trainable if not is_weight(p)]
        self.q = check_q(q, weight_count(self.weights), "GlobalSparseMomentum")
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.weight_decay = weight_decay
        self.bias_weight_decay = bias_weight_decay
        self.last_selected = ()

    def init_state(self, w):
        return {"momentum_buffer": np.zeros_like(w)} if self.momentum else {}

    def _step(self):
        masks = global_top_masks([p.grad * p.value for p in self.weights], self.q)
        self.last_selected = tuple(int(np.count_nonzero(m)) for m in masks)
        for p, mask in zip(self.weights, masks):
            self._update(p, np.where(mask, p.grad, 0), self.weight_decay)
        for p in self.others:
            self._update(p, p.grad, self.bias_weight_decay)

    def _update(self, p, g, weight_decay):
        """One momentum-SGD step of ``p`` from gradient ``g`` (``sgd_update_``, no dampening)."""
        state, t = self._state(p), self._count(p)
        sgd_update_(
            p.value, g, state.get("momentum_buffer"), self.lr, self.momentum, 0.0,
            self.nesterov, weight_decay, self.clip, first=(t == 1),
        )
