"""Fused optimizer updates: one pass over (w, g, state) instead of NumPy's many.

On the papers' MNIST MLP (650k weights) NumPy's Adam makes about ten passes and
temporaries; the fused kernel makes one (``bench overhead``), on all of Numba's threads or on
one, whichever has been faster lately for the array's size (``kernels.timed_choice``).
All arrays are 1-D views of the same length, updated in place.

``clip`` > 0 clips each gradient element to [-clip, clip] before anything else (weight
decay included), as the authors' C# optimizers do with their ``ClipBound``; 0 turns it off.
"""

import functools

import numpy as np
from numba import njit, prange

from mesimp_engine.kernels.timed_choice import on_threads

PARALLEL_FROM = 1 << 14
"""Smallest array (elements) whose update may run on all threads (``kernels.timed_choice``
chooses per size and dtype): below it one thread is faster on an idle machine too, and
timing the choice would cost more than it could save. Measured (Zen 4, float32, warm, two
threads against one): 5,000 elements 6.6 us against 2.8; 20,000: 10.2 against 8.8; 50,000:
16.5 against 21.9."""


def flat_views(*arrays):
    """1-D views of C-contiguous arrays of one dtype (writes go through), else None."""
    dtype = arrays[0].dtype
    if all(a.flags.c_contiguous and a.dtype == dtype for a in arrays):
        return [a.reshape(-1) for a in arrays]
    return None


def cast_scalars(dtype, *scalars):
    """``scalars`` as the weights' dtype: a Numba kernel then computes in that dtype."""
    cast = np.dtype(dtype).type
    return tuple(cast(c) for c in scalars)


@njit(cache=True, inline="always")
def _clipped(x, clip):
    """``x`` clipped to [-clip, clip] when clip > 0."""
    if clip > 0:
        return min(max(x, -clip), clip)
    return x


@functools.lru_cache(maxsize=16)
def adam_coefficients(dtype, lr, beta1, beta2, eps, weight_decay, t, clip=0.0):
    """The scalars of ``adam_step`` for step t >= 1, in the weights' dtype: (step, beta1,
    1 - beta1, beta2, 1 - beta2, root2, eps, weight_decay, clip, scale, tiny), with
    step = lr / (1 - beta1^t), root2 = sqrt(1 - beta2^t), tiny the dtype's smallest normal
    number and scale = step / tiny (at most the dtype's largest number; 0 when lr = 0, which
    flushes every first moment: no weight moves then anyway). Cached: every parameter of a
    model asks for the same ones at a step (about 6 us a call, 36 us of a 750 us MNIST
    step for its six parameters)."""
    bias1, bias2 = 1 - beta1**t, 1 - beta2**t
    step = lr / bias1
    info = np.finfo(dtype)
    scale = min(step / float(info.tiny), float(info.max))
    return cast_scalars(dtype, step, beta1, 1 - beta1, beta2, 1 - beta2, np.sqrt(bias2), eps, weight_decay, clip,
                        scale, float(info.tiny))


@njit(cache=True, error_model="numpy")
def _adam_scalar(wi, gi, mi, vi, step, beta1, keep1, beta2, keep2, root2, eps, weight_decay, clip, scale, tiny):
    """``adam_step`` for one weight: its new (w, m, v). A function of numbers, not of the
    arrays and an index: the loops below vectorise with it (the serial loop with an
    array-and-index helper inlined by Numba did not: 3.0 ms against 0.35 ms for 392,000
    weights). NumPy's error model: a division by zero gives inf, as in the NumPy twin."""
    zero = tiny - tiny
    one = tiny / tiny
    gi = _clipped(gi, clip) + weight_decay * wi
    mi = beta1 * mi + keep1 * gi
    vi = beta2 * vi + keep2 * gi * gi
    if vi < tiny:
        vi = zero
    divisor = np.sqrt(vi) / root2 + eps
    if abs(mi) * scale < max(divisor, one):
        mi = zero
    return wi - step * mi / divisor, mi, vi


@njit(cache=True, parallel=True, error_model="numpy")
def adam_step_parallel(w, g, m, v, step, beta1, keep1, beta2, keep2, root2, eps, weight_decay, clip, scale, tiny):
    """``adam_step``'s update on all of Numba's threads."""
    for i in prange(w.size):
        w[i], m[i], v[i] = _adam_scalar(w[i], g[i], m[i], v[i], step, beta1, keep1, beta2, keep2, root2, eps,
                                        weight_decay, clip, scale, tiny)


@njit(cache=True, error_model="numpy")
def adam_step_serial(w, g, m, v, step, beta1, keep1, beta2, keep2, root2, eps, weight_decay, clip, scale, tiny):
    """``adam_step``'s update on the calling thread."""
    for i in range(w.size):
        w[i], m[i], v[i] = _adam_scalar(w[i], g[i], m[i], v[i], step, beta1, keep1, beta2, keep2, root2, eps,
                                        weight_decay, clip, scale, tiny)


def adam_step(w, g, m, v, step, beta1, keep1, beta2, keep2, root2, eps, weight_decay, clip, scale, tiny):
    """m = beta1 m + keep1 g; v = beta2 v + keep2 g^2; w -= step * m / (sqrt(v) / root2 + eps),
    after g is clipped and weight decay added (see ``optim.adam``; ``adam_coefficients``
    gives the scalars). A second moment below ``tiny`` (the dtype's smallest normal number)
    is stored as 0, and so is a first moment whose step would be below it: |m| * scale <
    max(1, d) with d = sqrt(v) / root2 + eps the step's divisor and scale = step / tiny
    (the test for |step * m / d| < tiny, without computing a subnormal number: both
    step * m and the quotient stay normal).

    The scalars come in the weights' dtype, so float32 weights are updated in float32
    arithmetic, as PyTorch does. With Python floats (float64) every element went through
    float64 conversions, square root and division: the MNIST MLP's step (648k weights,
    one thread, hot caches) took 1.6 ms against 0.48 ms.

    Why the flush to zero: every float32 operation that reads or produces a subnormal
    number takes a microcode assist of about a hundred cycles. The first moment of a weight
    whose gradient has stopped (an input pixel that is 0 from then on, a unit whose ReLU
    died, a row meProp has not selected lately) shrinks by beta1 per step; below
    tiny / step its product with the step is subnormal, and after a few hundred steps it is
    subnormal itself. In float32 arithmetic without the flush, 1,000 MNIST steps left 55,000
    subnormal first moments, and the update took 3.2-3.4 ms (dense) instead of 0.5; with the
    flush at ``tiny`` alone, meProp's update still took 1.8 ms, from the subnormal products.
    Flushing m below tiny / step alone (the divisor taken as 1) was enough on an Intel
    Xeon; on an AMD EPYC (Zen 4) the quotient's subnormal results, where the divisor is
    above 1, still made meProp's update 1.5 ms a step after 1,000 steps (0.3 ms before).
    A flushed first moment would move its weight by less than the smallest normal number,
    so storing 0 changes no weight. The second moment is flushed below tiny (it needs some
    60,000 steps without gradient to get there).

    The update runs on all of Numba's threads or on the calling one, whichever has been
    faster lately for arrays of w's size (``kernels.timed_choice``; on one below
    ``PARALLEL_FROM`` elements): a parallel region
    waits for a free core, and on a machine busy with other work that took 45 ms of an
    MNIST step whose update takes 1.2 ms on one thread."""
    on_threads(("adam", w.size, w.dtype.num),
               lambda parallel, _: (adam_step_parallel if parallel else adam_step_serial)(
                   w, g, m, v, step, beta1, keep1, beta2, keep2, root2, eps, weight_decay, clip, scale, tiny),
               worth_threads=w.size >= PARALLEL_FROM)


def adam_step_numpy(w, g, m, v, step, beta1, keep1, beta2, keep2, root2, eps, weight_decay, clip, scale, tiny):
    """NumPy twin of ``adam_step`` (same scalars; NumPy keeps float32 arrays in float32 with
    float32 scalars)."""
    if clip > 0:
        g = np.clip(g, -clip, clip)
    if weight_decay:
        g = g + weight_decay * w
    m *= beta1
    m += keep1 * g
    v *= beta2
    v += keep2 * (g * g)
    v[v < tiny] = 0
    divisor = np.sqrt(v) / root2 + eps
    m[np.abs(m) * scale < np.maximum(divisor, 1)] = 0
    w -= step * m / divisor


@njit(cache=True, error_model="numpy")
def _adagrad_scalar(wi, gi, si, lr, eps, weight_decay, clip, eps_inside):
    """``adagrad_step`` for one weight: its new (w, s) (a function of numbers, as
    ``_adam_scalar``)."""
    gi = _clipped(gi, clip) + weight_decay * wi
    si = si + gi * gi
    divisor = np.sqrt(si + eps) if eps_inside else np.sqrt(si) + eps
    return wi - lr * gi / divisor, si


@njit(cache=True, parallel=True, error_model="numpy")
def adagrad_step_parallel(w, g, s, lr, eps, weight_decay, clip, eps_inside=False):
    """``adagrad_step``'s update on all of Numba's threads."""
    for i in prange(w.size):
        w[i], s[i] = _adagrad_scalar(w[i], g[i], s[i], lr, eps, weight_decay, clip, eps_inside)


@njit(cache=True, error_model="numpy")
def adagrad_step_serial(w, g, s, lr, eps, weight_decay, clip, eps_inside=False):
    """``adagrad_step``'s update on the calling thread."""
    for i in range(w.size):
        w[i], s[i] = _adagrad_scalar(w[i], g[i], s[i], lr, eps, weight_decay, clip, eps_inside)


def adagrad_step(w, g, s, lr, eps, weight_decay, clip, eps_inside=False):
    """s += g^2; w -= lr * g / (sqrt(s) + eps), or lr * g / sqrt(s + eps) with
    ``eps_inside``, after g is clipped and g += weight_decay * w. The scalars come in the
    weights' dtype (``cast_scalars``), as for ``adam_step``, which also says how the threads
    are chosen."""
    on_threads(("adagrad", w.size, w.dtype.num),
               lambda parallel, _: (adagrad_step_parallel if parallel else adagrad_step_serial)(
                   w, g, s, lr, eps, weight_decay, clip, eps_inside),
               worth_threads=w.size >= PARALLEL_FROM)


def adagrad_step_numpy(w, g, s, lr, eps, weight_decay, clip, eps_inside=False):
    """NumPy twin of ``adagrad_step``."""
    if clip > 0:
        g = np.clip(g, -clip, clip)
    if weight_decay:
        g = g + weight_decay * w
    s += g * g
    w -= lr * g / (np.sqrt(s + eps) if eps_inside else np.sqrt(s) + eps)
