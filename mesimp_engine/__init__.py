"""mesimp_engine: a from-scratch CPU deep-learning engine for meProp, meSimp, meAct,
DropBack and Global Sparse Momentum SGD.

Layers of the package (dependencies point one way):
``kernels`` <- ``graph`` + ``ops`` <- ``sparsity`` <- ``nn`` <- ``models``;
``optim`` and ``simplify`` beside ``nn``; ``train`` and ``cli`` on top; ``data`` stands alone.
"""

__version__ = "0.1.0"

from mesimp_engine.sparsity.topk import topk  # noqa: E402  (the public top-k entry point)
