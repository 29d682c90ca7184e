"""``mesimp-engine reproduce TABLE [--scale {smoke,quick,full}] [--out DIR]``: run the rows of
one of the papers' tables and write the published numbers and ours side by side
(``TABLE.md``, ``TABLE.json``) under --out; repeating an interrupted call goes on where it
stopped, and tables run into the same --out share the runs they have in common."""


def add_parser(subparsers):
    from mesimp_engine.reproduce.tables import SCALES, TABLES

    parser = subparsers.add_parser("reproduce", help="run the rows of one of the papers' tables",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("table", choices=list(TABLES),
                        help="table1-table8 and figure4: the meProp paper's; mesimp: the meSimp paper's simplification; "
                             "meact: its meAct figure (accuracy and average update by epoch)")
    parser.add_argument("--scale", choices=list(SCALES), default="quick",
                        help="smoke (minutes: checks the pipeline), quick (a tenth of the data, the default) or "
                             "full (the papers' settings: hours)")
    parser.add_argument("--out", help="folder for the rows' runs and TABLE.md, TABLE.json (default "
                                      "runs/reproduce/SCALE, or SCALE-authors with --protocol authors)")
    parser.add_argument("--data-dir", default="data", help="prepared data folder (prepared on first use)")
    parser.add_argument("--seed", type=int, help="the runs' seed (default 1)")
    parser.add_argument("--seeds", type=_seed_list, metavar="S1,S2,...",
                        help="two or more seeds (a list, or a range as 1-4) for the tables of trained scores: each "
                             "seed's rows run under OUT/seed<S>/ and TABLE.md gives their means, +- the seeds' "
                             "standard deviation (default --out: runs/reproduce/SCALE-seeds)")
    parser.add_argument("--protocol", choices=["defaults", "authors"], default="defaults",
                        help="authors: the MNIST rows train as the authors' C# program does (their initialisation, "
                             "gradient clipping at 5, 11 dev evaluations an epoch, their Adam eps); "
                             "defaults: the engine's defaults")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs trained at a time, each in a process of its own with the cores shared out "
                             "(default 1; its lines also go to train.log in the run's folder); tables 7 and 8 "
                             "time in one process")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bars (there are none with --jobs above 1)")
    parser.set_defaults(func=run)


def run(args):
    import os

    from mesimp_engine.cli import UserError
    from mesimp_engine.data.errors import DataError
    from mesimp_engine.reproduce.jobs import RunFailed
    from mesimp_engine.reproduce.render import markdown
    from mesimp_engine.reproduce.run import reproduce

    if args.seeds and args.seed is not None:
        raise UserError("give --seed (one seed) or --seeds (several), not both")
    suffix = ("-authors" if args.protocol == "authors" else "") + ("-seeds" if args.seeds else "")
    out = args.out or os.path.join("runs", "reproduce", args.scale + suffix)
    try:
        seed = 1 if args.seed is None else args.seed
        document = reproduce(args.table, args.scale, out, args.data_dir, seed, progress=args.progress,
                             protocol=args.protocol, jobs=args.jobs, seeds=args.seeds)
    except (ValueError, DataError, RunFailed) as error:
        raise UserError(str(error)) from None
    print(markdown(document))
    print(f"wrote {os.path.join(out, args.table)}.md and .json")
    return 0


def _seed_list(text):
    """'1,2,5' or '1-4' (or both: '1-3,7') as a list of seeds."""
    import argparse

    seeds = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            seeds.extend(range(int(low), int(high or low) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are a list of integers or a range, as 1,2,3 or 1-4; got {text!r}")
    return seeds
