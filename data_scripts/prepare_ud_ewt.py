#!/usr/bin/env python3
"""Prepare UD English EWT: find the CoNLL-U files, verify them, encode them, write OUT/ud_ewt.npz.

Usage: python data_scripts/prepare_ud_ewt.py [--source DIR] [--out DIR] [--no-verify] [--no-download]
See data_scripts/README.md for sources, licences and the layout.
"""

import pathlib
import sys

# run from a checkout without installing: the package sits beside this folder
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from mesimp_engine.data.prepare_command import prepare_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(prepare_main("ud_ewt"))
