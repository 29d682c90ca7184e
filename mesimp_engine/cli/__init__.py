"""The ``mesimp-engine`` command line: one module per sub-command, each with
``add_parser(subparsers)`` that registers it and sets ``func`` to run it."""

import argparse
import sys

from mesimp_engine import __version__
from mesimp_engine.cli import bench, report, reproduce, train


SUBCOMMANDS = (train, reproduce, bench, report)


class UserError(Exception):
    """An error the user can fix (bad flag, missing data): printed as one line, no traceback."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mesimp-engine",
        description="meProp / meSimp / meAct / DropBack / GSM on a CPU engine built from scratch.",
    )
    parser.add_argument("--version", action="version", version=f"mesimp-engine {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    from mesimp_engine.kernels.memory import keep_freed_memory

    args = build_parser().parse_args(argv)
    keep_freed_memory()  # every command repeats large arrays: reuse their memory
    try:
        return args.func(args) or 0
    except UserError as error:
        print(f"mesimp-engine: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mesimp-engine: interrupted", file=sys.stderr)
        return 130
