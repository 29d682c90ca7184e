"""Sparsity: top-k selection by magnitude, on which meProp's backward builds.

``mesimp_engine.sparsity.topk`` is the module (contract, dispatch); its entry point
``topk(x, k, out=None)`` is exported as ``mesimp_engine.topk``.
"""

from mesimp_engine.sparsity.topk import TopKSelector, topk_reference

__all__ = ["TopKSelector", "topk_reference"]
