"""Backward of one linear layer: dense BLAS vs meProp per-example vs unified.

Same as ``mesimp-engine bench backprop``; run from the repository root:
``python benchmarks/bench_backprop.py [--quick] [--json PATH]``.
"""

import sys

from mesimp_engine.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "backprop", *sys.argv[1:]]))
