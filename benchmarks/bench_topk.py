"""Top-k benchmark, same as ``mesimp-engine bench topk [--json PATH] [--repeats N] [--quick]``."""

import sys

from mesimp_engine.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "topk", *sys.argv[1:]]))
