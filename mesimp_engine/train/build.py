"""From settings to a ready run: task, model, optimizer and generators."""

import numpy as np

from mesimp_engine import optim
from mesimp_engine.optim.dropback import DropBack
from mesimp_engine.optim.gsm import GlobalSparseMomentum, weight_count
from mesimp_engine.train.checkpoint import load_model_values
from mesimp_engine.train.meact import MeAct
from mesimp_engine.train.mnist_task import MnistTask
from mesimp_engine.train.simplification import MeSimp
from mesimp_engine.train.parse_task import ParseTask
from mesimp_engine.train.pos_task import PosTask
from mesimp_engine.train.settings import ADDED_LATER
from mesimp_engine.train.weight_budget import WeightBudget

TASK_CLASSES = {"mnist": MnistTask, "pos": PosTask, "parse": ParseTask}


def linear_options(settings, rng):
    """The ``nn.Linear`` options that select the back-propagation method."""
    if settings.method in ("dense", "meact", "dropback", "gsm"):
        return {}
    mode = {"meprop": "per_example", "mesimp": "per_example", "unified": "unified", "randk": "random"}[settings.method]
    options = {"k": settings.k, "mode": mode}
    if mode == "random":
        options["select_rng"] = rng
    return options


def make_optimizer(settings, params):
    name = settings.optimizer
    if settings.method == "dropback":
        total = sum(p.size for p in params)
        return DropBack(params, settings.weight_budget(total), settings.lr, settings.seed, settings.clip, settings.init)
    if settings.method == "gsm":
        return GlobalSparseMomentum(params, settings.weight_budget(weight_count(params)), settings.lr,
                                    settings.momentum, settings.nesterov, settings.weight_decay, settings.clip)
    common = {"lr": settings.lr, "clip": settings.clip, "sparse": settings.sparse_update}
    if name == "adam":
        return optim.Adam(params, eps_form=settings.adam_eps, **common)
    if name == "adagrad":
        return optim.AdaGrad(params, eps=1e-6, eps_form=settings.adagrad_eps, **common)
    return optim.SGD(params, momentum=settings.momentum, nesterov=settings.nesterov,
                     weight_decay=settings.weight_decay, **common)


def build_run(settings):
    """Return (task, model, optimizer, rngs) for resolved ``settings``.

    Generators: ``init`` (weights, from the seed) and ``train`` (dropout masks, random-k
    indices), both derived from the seed; only ``train`` is used after initialisation, so
    it is the one checkpointed.
    """
    task = TASK_CLASSES[settings.task](settings)
    init_rng = np.random.default_rng([settings.seed, 0])
    train_rng = np.random.default_rng([settings.seed, 1])
    model = task.build_model(init_rng, train_rng, linear_options(settings, train_rng))
    if settings.from_run is not None:
        load_model_values(settings.from_run, model, ("standardize",), settings.as_dict(), ADDED_LATER)
    optimizer = make_optimizer(settings, list(model.parameters()))
    return task, model, optimizer, {"train": train_rng}


def make_extension(settings, task, model, optimizer, log=print):
    """The method's hooks into the training loop (meSimp's pruning, meAct's paths, DropBack's
    and GSM's report and GSM's cut), or None."""
    if settings.method in ("dropback", "gsm"):
        return WeightBudget(settings.method, optimizer, log)
    if settings.method == "meact":
        return MeAct(model, task.n_train, settings.meact_threshold, settings.meact_start, log)
    if settings.method != "mesimp":
        return None
    return MeSimp(model, optimizer, task.n_train, settings.prune_rate, settings.prune_interval,
                  settings.prune_points, settings.cycle or None, log, keep_step=not settings.reset_step)
