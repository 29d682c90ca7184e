"""``mesimp-engine report RUN [RUN ...] [--by-seed] [--json PATH]``: a table comparing finished
runs (scores, widths, epoch and backprop times, backprop speed-up over the dense run of the
same task). RUN is a run's --out folder or its results.json. With ``--by-seed``, one row per
group of runs that differ only in the seed: mean scores, the test scores' spread."""


def add_parser(subparsers):
    parser = subparsers.add_parser("report", help="compare finished runs (their results.json) in one table",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="a run's --out folder or its results.json, or a `reproduce` --out folder (all its runs)")
    parser.add_argument("--by-seed", action="store_true",
                        help="one row per group of runs whose settings differ only in the seed (mean, sd, range)")
    parser.add_argument("--json", metavar="PATH", help="also write the table as JSON to PATH")
    parser.set_defaults(func=run)


def run(args):
    from mesimp_engine.atomic_file import output_file
    from mesimp_engine.cli import UserError
    from mesimp_engine.train.report import (ReportError, expand_runs, format_group_table, format_table, load_run,
                                            report, report_by_seed, write_report)

    try:
        if args.json:
            output_file(args.json)
        docs = [load_run(path) for path in expand_runs(args.runs)]
    except (ReportError, ValueError) as error:
        raise UserError(str(error)) from None
    left_out = None
    if args.by_seed:
        rows, left_out = report_by_seed(docs)
        print(format_group_table(rows))
        for r in left_out:
            print(f"left out, not finished: {r['run']} (stopped after epoch {r['epochs']})")
    else:
        rows = report(docs)
        print(format_table(rows))
    if args.json:
        write_report(rows, args.json, left_out)
        print(f"wrote {args.json}")
    return 0
