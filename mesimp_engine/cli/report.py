"""``mesimp-engine report RUN [RUN ...] [--json PATH]``: a table comparing finished runs
(scores, widths, epoch and backprop times, backprop speed-up over the dense run of the same
task). RUN is a run's --out folder or its results.json."""


def add_parser(subparsers):
    parser = subparsers.add_parser("report", help="compare finished runs (their results.json) in one table",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="a run's --out folder or its results.json")
    parser.add_argument("--json", metavar="PATH", help="also write the table as JSON to PATH")
    parser.set_defaults(func=run)


def run(args):
    from mesimp_engine.cli import UserError
    from mesimp_engine.train.report import ReportError, format_table, load_run, report, write_report

    try:
        rows = report([load_run(path) for path in args.runs])
    except ReportError as error:
        raise UserError(str(error)) from None
    print(format_table(rows))
    if args.json:
        write_report(rows, args.json)
        print(f"wrote {args.json}")
    return 0
