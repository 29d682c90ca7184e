"""How large the hidden layers' outputs are: a summary the training loop records each epoch.

It makes visible what decides meProp's MNIST accuracy in the papers' setting: with Adam and
the top-20 of 500 units per example, the first hidden layer's outputs grow step after step
(after 300 steps their mean |h| is about 20 times dense back propagation's), the second
layer's largest output reaches the hundreds and most of its units fall silent; the network
then recovers slowly (docs/mnist-meprop.md).

Computed on a fixed probe, the task's first ``PROBE_EXAMPLES`` training inputs, in
evaluation mode (no dropout, no meProp), so that epochs and runs compare.
"""

import numpy as np

PROBE_EXAMPLES = 1000


def hidden_activity(outputs):
    """Per hidden layer, a summary of its outputs ``h`` (B, width) over the probe:
    ``mean_abs`` the mean of |h| over examples and units, ``max_abs`` the largest |h|, and
    ``silent`` the share of units whose output is 0 for every example (dead ReLUs)."""
    summary = []
    for h in outputs:
        magnitude = np.abs(h)
        summary.append({
            "mean_abs": float(magnitude.mean()) if h.size else 0.0,
            "max_abs": float(magnitude.max()) if h.size else 0.0,
            "silent": float(np.mean(~np.any(h != 0, axis=0))) if h.shape[1] else 0.0,
        })
    return summary


def model_activity(task, model):
    """``hidden_activity`` of ``model`` on ``task``'s probe, or None when the task has no
    probe or the model no ``hidden_outputs`` (the POS tagger's LSTM)."""
    probe = getattr(task, "probe_inputs", None)
    if probe is None or not hasattr(model, "hidden_outputs"):
        return None
    return hidden_activity(model.hidden_outputs(probe()))
