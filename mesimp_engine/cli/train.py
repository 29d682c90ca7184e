"""``mesimp-engine train``: train one of the papers' models and report what they report."""

import dataclasses
import os
import sys

from mesimp_engine.cli.arguments import integers
from mesimp_engine.train.settings import (DTYPES, EPS_FORMS, INITS, LR_SCHEDULES, METHODS, OPTIMIZERS, TASKS,
                                          WEIGHT_BUDGET_METHODS, TrainSettings)

DEFAULT_OUT = os.path.join("runs", "last")


def add_parser(subparsers):
    p = subparsers.add_parser("train", help="train a model (dense, meProp, unified, random-k, meSimp, meAct, DropBack, GSM)",
                              description="Train a model of the papers on real data; writes results.json and a "
                                          "checkpoint under --out.")
    p.add_argument("--task", choices=TASKS, default="mnist")
    p.add_argument("--method", choices=METHODS, default="dense")
    p.add_argument("--k", type=int, help="top-k per example (meProp, unified, random-k, meSimp; default: MNIST 20, "
                                         "POS 5, parsing 20); DropBack, GSM: weights kept in the whole model")
    p.add_argument("--optimizer", choices=OPTIMIZERS,
                   help="default adam; DropBack and GSM are SGD methods")
    p.add_argument("--lr", type=float, help="learning rate (default: the papers' for the optimizer and task)")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                   help="constant (the default, the papers'); cosine: annealed from --lr to 0 over --epochs; "
                        "step: multiplied by --lr-decay after each epoch of --lr-steps")
    p.add_argument("--lr-steps", type=integers, metavar="E1,E2,...",
                   help="--lr-schedule step: the epochs after which the rate is multiplied by --lr-decay "
                        "(e.g. 160,200,240: the GSM authors' LeNet-300-100 run)")
    p.add_argument("--lr-decay", type=float, default=0.1, help="--lr-schedule step: the factor (default 0.1)")
    p.add_argument("--warmup-epochs", type=float, default=0.0,
                   help="raise the rate linearly from 0 over this many epochs (default 0; the GSM authors: 5)")
    p.add_argument("--epochs", type=int, help="default: MNIST 20, POS 5, parsing 15")
    p.add_argument("--batch-size", type=int,
                   help="examples per update (default: MNIST 10 images, POS 1 sentence, parsing 10,000 transitions)")
    p.add_argument("--hidden", type=int, help="hidden units per layer (default 500)")
    p.add_argument("--layers", type=int, help="hidden layers (MNIST default 2)")
    p.add_argument("--widths", type=integers, help="one width per hidden layer, e.g. 154,160 (MLP tasks; "
                                                   "overrides --hidden and --layers)")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="inverted dropout rate on each hidden layer's output (default 0)")
    p.add_argument("--init", choices=INITS, default="pytorch",
                   help="weight initialisation of the MLP tasks: pytorch (U(+-1/sqrt(in)), the default), authors "
                        "(N(0, 6/(in+out)), zero biases: the meProp authors' C# code) or lecun (N(0, 1/in), zero "
                        "biases: Chainer's default, which the DropBack authors' code trains)")
    p.add_argument("--standardize", action="store_true",
                   help="MNIST pixels as (x - 0.1307) / 0.3081 instead of x in [0, 1] (torchvision's MNIST example, "
                        "the GSM authors' data; a GSM run's --from model must have been trained the same way)")
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="floating-point type of the MNIST model and data (default float32; the authors' C# code: "
                        "float64, about 1.5x slower)")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of every random choice: initial weights, example order, dropout (default 1)")
    p.add_argument("--out", default=DEFAULT_OUT,
                   help=f"folder for results.json and checkpoint.npz (default {DEFAULT_OUT}, replaced by each run; "
                        f"another folder that holds a run needs --resume or --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="train a new run in an --out folder that holds one")
    p.add_argument("--data-dir", default="data", help="prepared data folder (prepared on first use)")
    p.add_argument("--limit-train", type=int,
                   help="use only the first N training examples: MNIST images, POS sentences, parsing transitions "
                        "(smoke runs)")
    p.add_argument("--limit-eval", type=int,
                   help="use only the first N dev and test examples (MNIST images, POS and parsing sentences)")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also checkpoint every N steps")
    p.add_argument("--dense-output", dest="sparse_output", action="store_false",
                   help="keep the output layer's backward dense (default: sparsified like the hidden layers)")
    p.add_argument("--sparse-update", action="store_true",
                   help="optimizer touches only rows that received gradient (Adam moments of other rows not decayed)")
    p.add_argument("--clip", type=float, metavar="C",
                   help="clip each gradient element to [-C, C] before the update (the authors' C# code: 5; default off)")
    p.add_argument("--momentum", type=float, help="SGD momentum (default 0; GSM 0.99)")
    p.add_argument("--nesterov", action="store_true", default=None, help="SGD: Nesterov momentum (GSM: on)")
    p.add_argument("--weight-decay", type=float, help="SGD weight decay (default 0; GSM 5e-4)")
    p.add_argument("--compression", type=float,
                   help="DropBack, GSM: keep parameters / C weights (default 25 and 60, their papers'); or give --k")
    p.add_argument("--from", dest="from_run", metavar="DIR",
                   help="GSM: the finished run (its --out folder) whose trained weights GSM starts from (the GSM "
                        "paper: a trained dense model)")
    p.add_argument("--adam-eps", choices=EPS_FORMS, default="pytorch",
                   help="where Adam's eps goes: pytorch (after the bias correction, the default) or authors (before it, "
                        "as the authors' C# code; differs in the first few thousand steps)")
    p.add_argument("--adagrad-eps", choices=EPS_FORMS, default="pytorch",
                   help="where AdaGrad's eps goes: pytorch (outside the square root, the default) or authors "
                        "(inside it, as the authors' C# code and Chen & Manning's parser: smaller steps for "
                        "small gradients)")
    p.add_argument("--evals-per-epoch", type=int, default=1, metavar="N",
                   help="evaluate dev (and test) N times per epoch, at equal step intervals; the best dev point is "
                        "selected (the authors' C# MNIST code: 11; default 1, at the epoch's end)")
    p.add_argument("--check-finite", action="store_true", help="check every op for NaN/inf (slower)")
    p.add_argument("--record-update", action="store_true",
                   help="record each epoch's mean |w_t - w_(t-1)| over every parameter and step (the meSimp paper's "
                        "average absolute update, its meAct figure); one more pass over the weights a step")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--prune-rate", type=float, default=0.1,
                   help="meSimp: a unit survives if selected by at least this share of the examples since the last prune")
    p.add_argument("--prune-interval", type=int, help="meSimp: examples between prune points (default: epoch / --prune-points)")
    p.add_argument("--prune-points", type=int, default=8, help="meSimp: prune points per epoch (default 8)")
    p.add_argument("--cycle", type=int, default=5,
                   help="meSimp: epochs per cycle; even cycles simplify, odd ones train normally (0: no cycles)")
    p.add_argument("--reset-step", action="store_true",
                   help="meSimp: restart Adam's step counter at each cycle start (default: keep it and zero the "
                        "moments, as the authors' code does; see simplify.schedule)")
    p.add_argument("--meact-threshold", type=float, default=1.0,
                   help="meAct: a unit is inactive for an example when its accumulated |gradient| is below this "
                        "times the layer's mean (default 1)")
    p.add_argument("--meact-start", type=int, default=2, help="meAct: first epoch that uses the active paths")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="stop after N training steps in this run, with a checkpoint (--resume goes on)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint under --out")
    p.set_defaults(func=run)



def run(args):
    from mesimp_engine.cli import UserError
    from mesimp_engine.data.errors import DataError
    from mesimp_engine.train.build import build_run, make_extension
    from mesimp_engine.train.loop import Trainer, TrainingDiverged, TrainingStopped

    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    settings = TrainSettings(**{k: v for k, v in vars(args).items() if k in fields})
    try:
        settings.resolve()
        replaced = _check_out(settings.out, args.resume, args.overwrite)
        task, model, optimizer, rngs = build_run(settings)
        extension = make_extension(settings, task, model, optimizer)
    except (ValueError, DataError) as error:
        raise UserError(str(error)) from None
    for path in replaced:
        os.remove(path)
    if args.k is not None and settings.k is None:
        print(f"note: --method {settings.method} keeps every gradient; --k {args.k} is not used", file=sys.stderr)
    trainer = Trainer(task, model, optimizer, settings, rngs, extension=extension)
    if args.resume:
        try:
            trainer.resume()
        except ValueError as error:
            raise UserError(str(error)) from None
    k = f" k={settings.k}" if settings.k else ""
    if settings.method in WEIGHT_BUDGET_METHODS:
        k = f" keeping {extension.k:,} of {extension.total:,} weights ({extension.total / extension.k:.1f}x)"
    print(f"{settings.task} {settings.method}{k}: {model.num_parameters():,} parameters, hidden {model.hidden_sizes()}, "
          f"{settings.optimizer} lr {settings.lr}, batch {settings.batch_size}, {task.n_train:,} training examples")
    try:
        results = trainer.fit()
    except KeyboardInterrupt:
        print(_resume_hint(trainer.checkpoint_path), file=sys.stderr)
        raise
    except TrainingDiverged as error:
        raise UserError(f"training stopped: {error}; last good checkpoint: {trainer.checkpoint_path}") from None
    except TrainingStopped as stopped:
        print(f"{stopped}; checkpoint: {trainer.checkpoint_path}")
        return 0
    best = f"{results['best_epoch']}"
    if settings.evals_per_epoch > 1:
        best += f" (step {results['best_step']})"
    print(f"best dev epoch {best}: dev {results['dev']:.2f}  test {results['test']:.2f} ({task.metric})")
    print(f"wrote {trainer.results_path}")
    return 0


def _check_out(out, resume, overwrite):
    """Make the --out folder before any work goes into it. A new run refuses a folder that
    holds another run unless told to replace it (the default folder is replaced by every
    run). Returns the files of the run it replaces, for the caller to remove once the new
    run is built: no checkpoint of it is left for ``--resume`` to take for the new run's."""
    from mesimp_engine.atomic_file import output_folder

    output_folder(out)
    if resume:
        return []
    held = [os.path.join(out, name) for name in ("checkpoint.npz", "results.json")
            if os.path.exists(os.path.join(out, name))]
    if held and not overwrite and os.path.normpath(out) != DEFAULT_OUT:
        names = " and ".join(os.path.basename(path) for path in held)
        raise ValueError(f"{out} holds a run ({names}): --resume continues it, --overwrite trains a new run in its "
                         f"place, or give another --out")
    return held


def _resume_hint(checkpoint_path):
    """What an interrupted run left, and how to go on from it."""
    from mesimp_engine.train.checkpoint import read_progress

    if not os.path.exists(checkpoint_path):
        return ("no checkpoint of this run written yet (one is written after each epoch, and every N steps "
                "with --checkpoint-every N)")
    try:
        progress = read_progress(checkpoint_path)
    except ValueError as error:
        return str(error)
    return (f"checkpoint {checkpoint_path}: the same command with --resume continues at epoch "
            f"{progress['epoch']}, step {progress['step']}")
