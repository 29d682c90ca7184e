"""The decode benchmark, the same as ``mesimp-engine bench decode [--json PATH] [--repeats N]
[--quick]``; runs from a checkout without installing (``python benchmarks/bench_decode.py``)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from mesimp_engine.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["bench", "decode", *sys.argv[1:]]))
