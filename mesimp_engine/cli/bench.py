"""``mesimp-engine bench NAME [--json PATH]``: the micro-benchmarks of SPEC section 5.

Each benchmark is a module ``mesimp_engine.bench.<name>`` with ``add_arguments(parser)``
(optional) and ``run(args) -> dict`` returning the JSON document
``{"bench", "environment", "results"}``; this module prints its table and writes the JSON.
"""

import importlib

from mesimp_engine.cli.arguments import positive_int

BENCHES = {
    "topk": "top-k selection: ours vs numpy.argpartition, argsort, heapq, torch.topk, read floor",
    "backprop": "backward of one linear layer: dense BLAS vs meProp per-example vs unified",
    "decode": "inference of a meSimp-trimmed model vs the full model",
    "overhead": "engine overhead: microseconds per op and one MLP training step vs PyTorch",
    "models": "a training step of each of the papers' three models on real data vs PyTorch",
}


def add_parser(subparsers):
    parser = subparsers.add_parser("bench", help="run a micro-benchmark (topk, backprop, decode, overhead, models)")
    bench_parsers = parser.add_subparsers(dest="bench", metavar="BENCH")
    bench_parsers.required = True
    for name, help_text in BENCHES.items():
        sub = bench_parsers.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
        sub.add_argument("--repeats", type=positive_int, default=None,
                         help="timed repeats per case (median reported)")
        sub.add_argument("--quick", action="store_true", help="small cases and few repeats (a smoke run)")
        module = _load(name)
        if module is not None and hasattr(module, "add_arguments"):
            module.add_arguments(sub)
        sub.set_defaults(func=run)


def _load(name):
    try:
        return importlib.import_module(f"mesimp_engine.bench.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"mesimp_engine.bench.{name}":
            return None
        raise


def run(args):
    from mesimp_engine.atomic_file import output_file, write_json
    from mesimp_engine.bench.harness import print_table
    from mesimp_engine.cli import UserError

    if args.json:
        try:
            output_file(args.json)
        except ValueError as error:
            raise UserError(str(error)) from None
    module = _load(args.bench)
    if module is None:
        raise UserError(f"benchmark '{args.bench}' is not built yet in this version")
    try:
        document = module.run(args)
    except ValueError as error:  # a setting the benchmark cannot run with (its message says which)
        raise UserError(str(error)) from None
    document["settings"] = {key: value for key, value in vars(args).items() if key not in ("func", "json")}
    print_table(document)
    if args.json:
        write_json(document, args.json)
        print(f"wrote {args.json}")
    return 0
