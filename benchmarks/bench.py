"""The micro-benchmarks from a checkout without installing:
``python benchmarks/bench.py {topk,backprop,decode,overhead} [--json PATH] [--repeats N] [--quick]``,
the same as ``mesimp-engine bench ...`` (the code is in ``mesimp_engine/bench/``)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from mesimp_engine.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
