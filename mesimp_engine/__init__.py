"""mesimp_engine: a from-scratch CPU deep-learning engine for meProp, meSimp, meAct,
DropBack and Global Sparse Momentum SGD.

Layers of the package (dependencies point one way):
``kernels`` <- ``graph`` + ``ops`` <- ``sparsity`` <- ``nn`` <- ``models``;
``optim`` and ``simplify`` beside ``nn``; ``train`` and ``cli`` on top; ``data`` stands alone.
"""

__version__ = "0.1.0"

import os
import sys

NUMPY_LOADED_FIRST = "numpy" in sys.modules
"""Whether NumPy (and its OpenBLAS) was loaded before this package, too early for the BLAS
setting below; ``bench`` records it with the environment."""

if not NUMPY_LOADED_FIRST:
    # OpenBLAS reads this once, when NumPy loads it: an idle BLAS worker thread then sleeps
    # after 2^4 cycles instead of spinning for 2^28 (about 0.1 s) after every product, which
    # took a core from the Numba kernel that followed it. Parser shape (10,000 x 2,400 ->
    # 500, k = 20), per-example meProp run right after a dense BLAS backward: 78 ms against
    # 41 ms with the short wait; the BLAS product itself is unchanged (2 cores, EPYC).
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from mesimp_engine.sparsity.topk import topk  # noqa: E402, F401  (the public top-k entry point)
