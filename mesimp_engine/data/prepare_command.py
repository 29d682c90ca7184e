"""The command-line front end shared by ``data_scripts/prepare_*.py``.

``prepare_main(dataset, argv)`` parses ``--source DIR``, ``--out DIR`` (default ``./data``),
``--no-verify`` and ``--no-download``, prepares the data set, prints a short summary and
returns 0; on bad or missing input it prints one line ``error: <file>:<line>: <what>`` to
stderr and returns 1, having written nothing (outputs are renamed into place only when
complete).
"""

import argparse
import sys

from mesimp_engine.data.errors import DataError
from mesimp_engine.data.prepared import DEFAULT_DATA_DIR, PREPARERS

DESCRIPTIONS = {
    "mnist": "Prepare MNIST (IDX files): the papers' split, written to OUT/mnist.npz.",
    "ud_ewt": "Prepare UD English EWT v2.16 (CoNLL-U) for POS tagging and parsing: "
              "vocabularies, tagger features, precomputed parser features, in OUT/ud_ewt.npz.",
}


def build_parser(dataset):
    parser = argparse.ArgumentParser(description=DESCRIPTIONS[dataset])
    parser.add_argument("--source", metavar="DIR",
                        help="folder with the raw files (default: $MESIMP_DATA, then "
                             "../shared/data beside the checkout, then download)")
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_DATA_DIR,
                        help="where to write the prepared data (default: ./data)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the SHA-256 check (your own copy, e.g. a newer release); "
                             "every format check still runs")
    parser.add_argument("--no-download", action="store_true",
                        help="never download; fail when no local copy is found")
    return parser


def format_summary(summary):
    """The summary printed after a successful run (a few lines)."""
    counts = summary["counts"]
    if summary["dataset"] == "mnist":
        lines = ["mnist: " + ", ".join(f"{split} {n:,}" for split, n in counts.items())
                 + " images"]
    else:
        lines = [f"ud_ewt {split}: {c['sentences']:,} sentences, {c['words']:,} words"
                 for split, c in counts.items()]
        lines.append(f"parser: {summary['train_oracle_states']:,} oracle states from the "
                     f"projective training sentences ({summary['train_nonprojective_left_out']} "
                     f"non-projective left out), features in "
                     f"{summary['feature_extraction_seconds']:.1f} s")
    lines.append(f"raw files: {summary['raw']}")
    lines.append(f"written: {summary['output']}")
    return "\n".join(lines)


def prepare_main(dataset, argv=None):
    """Run the prepare script of ``dataset`` ("mnist" or "ud_ewt"); returns the exit code."""
    args = build_parser(dataset).parse_args(argv)
    try:
        summary = PREPARERS[dataset](args.out, source=args.source, verify=not args.no_verify,
                                     download=not args.no_download)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; nothing written", file=sys.stderr)
        return 130
    print(format_summary(summary))
    return 0
