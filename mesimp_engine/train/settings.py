"""Training settings: every flag of ``mesimp-engine train``, with the papers' defaults.

Defaults that depend on the task or the optimizer are ``None`` here and filled in by
``resolve``: hidden 500; MNIST 2 hidden layers, mini-batch 10, 20 epochs, k 20; POS one
BiLSTM layer, one sentence per update, 5 epochs, k 5; parsing 2 hidden layers, mini-batches
of 10,000 transitions, 15 epochs, k 20 (the papers' best epochs were 2-17); learning rates
Adam 0.001, AdaGrad 0.01 (POS, parsing) or 0.1 (MNIST), SGD 0.1.

DropBack and GSM are SGD methods on the MNIST MLP (their papers' LeNet-300-100 is
``--widths 300,100``); their ``k`` counts weights of the whole model, not units per example,
and defaults to the parameter count / ``compression`` (their papers' 25x and 60x). GSM starts
from a trained dense model (``--from DIR``, a finished run's folder) with the GSM paper's
phase settings: lr 0.01, Nesterov momentum 0.99, weight decay 5e-4, mini-batch 256.
"""

import bisect
import math
from dataclasses import asdict, dataclass, field

from mesimp_engine.nn.linear import INITS
from mesimp_engine.optim.adam import EPS_FORMS
from mesimp_engine.optim.dropback import INITS as DROPBACK_INITS

TASKS = ("mnist", "pos", "parse")
DTYPES = ("float32", "float64")
METHODS = ("dense", "meprop", "unified", "randk", "mesimp", "meact", "dropback", "gsm")
WEIGHT_BUDGET_METHODS = ("dropback", "gsm")
"""Methods whose k is a budget of weights for the whole model (SGD methods, MNIST only)."""
DEFAULT_COMPRESSION = {"dropback": 25.0, "gsm": 60.0}
GSM_DEFAULTS = {"lr": 0.01, "momentum": 0.99, "nesterov": True, "weight_decay": 5e-4, "batch_size": 256}
EPS_SETTINGS = {"adam_eps": "adam", "adagrad_eps": "adagrad"}
"""Where an optimizer's eps goes (``EPS_FORMS``): each setting and the optimizer it is for."""
ADDED_LATER = {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0, "compression": None, "from_run": None,
               "lr_schedule": "constant", "lr_steps": None, "lr_decay": 0.1, "warmup_epochs": 0.0,
               "standardize": False, "record_update": False, "adagrad_eps": "pytorch"}
"""Flags added after runs had been made, with the value those runs had: resuming such a run,
or comparing it in ``report``, reads a missing flag as this value."""
OPTIMIZERS = ("adam", "adagrad", "sgd")
LR_SCHEDULES = ("constant", "cosine", "step")

TASK_DEFAULTS = {
    "mnist": {"hidden": 500, "layers": 2, "batch_size": 10, "epochs": 20, "k": 20},
    "pos": {"hidden": 500, "layers": 1, "batch_size": 1, "epochs": 5, "k": 5},
    "parse": {"hidden": 500, "layers": 2, "batch_size": 10000, "epochs": 15, "k": 20},
}
LEARNING_RATES = {"adam": {}, "adagrad": {"mnist": 0.1}, "sgd": {}}
DEFAULT_LR = {"adam": 0.001, "adagrad": 0.01, "sgd": 0.1}


@dataclass
class TrainSettings:
    task: str = "mnist"
    method: str = "dense"
    k: int = None
    optimizer: str = None
    lr: float = None
    lr_schedule: str = "constant"
    lr_steps: list = None
    lr_decay: float = 0.1
    warmup_epochs: float = 0.0
    epochs: int = None
    batch_size: int = None
    hidden: int = None
    widths: list = None
    layers: int = None
    dropout: float = 0.0
    init: str = "pytorch"
    dtype: str = "float32"
    standardize: bool = False
    seed: int = 1
    out: str = "runs/last"
    data_dir: str = "data"
    limit_train: int = None
    limit_eval: int = None
    checkpoint_every: int = 0
    stop_after: int = None
    sparse_output: bool = True
    sparse_update: bool = False
    clip: float = None
    momentum: float = None
    nesterov: bool = None
    weight_decay: float = None
    compression: float = None
    from_run: str = None
    adam_eps: str = "pytorch"
    adagrad_eps: str = "pytorch"
    evals_per_epoch: int = 1
    check_finite: bool = False
    record_update: bool = False
    prune_rate: float = 0.1
    prune_interval: int = None
    prune_points: int = 8
    cycle: int = 5
    reset_step: bool = False
    meact_threshold: float = 1.0
    meact_start: int = 2
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def resolve(self):
        """Fill the task's and optimizer's defaults into unset fields; check the values."""
        if self.method in WEIGHT_BUDGET_METHODS:
            self._resolve_weight_budget()
        elif self.optimizer is None:
            self.optimizer = "adam"
        for name, value in TASK_DEFAULTS[self.task].items():
            if getattr(self, name) is None and not (name == "k" and self.method in WEIGHT_BUDGET_METHODS):
                setattr(self, name, value)
        if self.lr is None:
            self.lr = LEARNING_RATES[self.optimizer].get(self.task, DEFAULT_LR[self.optimizer])
        if self.method in ("dense", "meact"):
            self.k = None
        if self.widths:
            if self.task == "pos":
                raise ValueError("--widths is for the MLP tasks (mnist, parse)")
            self.layers, self.hidden = len(self.widths), max(self.widths)
            if min(self.widths) < 1:
                raise ValueError(f"--widths must be positive, got {self.widths}")
        self._check_counts()
        if self.k is not None and self.method not in WEIGHT_BUDGET_METHODS and not 1 <= self.k <= self.hidden:
            raise ValueError(f"--k must be between 1 and the hidden size {self.hidden}, got {self.k}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"--lr-schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if (self.lr_schedule == "step") != bool(self.lr_steps):
            raise ValueError("--lr-steps (the epochs after which the rate is multiplied by --lr-decay) goes with "
                             "--lr-schedule step, and step needs it")
        if self.lr_steps and (min(self.lr_steps) < 1 or list(self.lr_steps) != sorted(set(self.lr_steps))):
            raise ValueError(f"--lr-steps must be increasing epochs of at least 1, got {self.lr_steps}")
        if not 0 < self.lr_decay <= 1 or not self.warmup_epochs >= 0:
            raise ValueError(f"--lr-decay must be in (0, 1] and --warmup-epochs at least 0, got {self.lr_decay} "
                             f"and {self.warmup_epochs}")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"--clip must be positive, got {self.clip}")
        for name, optimizer in EPS_SETTINGS.items():
            flag, value = "--" + name.replace("_", "-"), getattr(self, name)
            if value not in EPS_FORMS:
                raise ValueError(f"{flag} must be one of {EPS_FORMS}, got {value!r}")
            if value != "pytorch" and self.optimizer != optimizer:
                raise ValueError(f"{flag} is for --optimizer {optimizer}, not {self.optimizer}")
        if self.evals_per_epoch < 1:
            raise ValueError(f"--evals-per-epoch must be at least 1, got {self.evals_per_epoch}")
        if not 0 <= self.prune_rate < 1:
            raise ValueError(f"--prune-rate must be in [0, 1), got {self.prune_rate}")
        if self.method == "meact" and self.task != "mnist":
            raise ValueError("--method meact is built for the MNIST MLP (the task the paper reports it on)")
        if self.init not in INITS:
            raise ValueError(f"--init must be one of {INITS}, got {self.init!r}")
        if self.init != "pytorch" and self.task == "pos":
            raise ValueError("--init is for the MLP tasks (mnist, parse)")
        if self.dtype not in DTYPES:
            raise ValueError(f"--dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.dtype != "float32" and self.task != "mnist":
            raise ValueError("--dtype is for the MNIST task (the authors' C# MNIST code runs in float64)")
        if self.standardize and self.task != "mnist":
            raise ValueError("--standardize is for --task mnist (its pixels)")
        if self.from_run is not None and self.method != "gsm":
            raise ValueError("--from is for --method gsm (the trained dense model it starts from)")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not (math.isfinite(self.lr) and self.lr >= 0):
            raise ValueError(f"--lr must be a number at least 0, got {self.lr}")
        if not (math.isfinite(self.meact_threshold) and self.meact_threshold >= 0):
            raise ValueError(f"--meact-threshold must be a number at least 0, got {self.meact_threshold}")
        self._check_sgd_options()
        return self

    def _check_counts(self):
        """The integer flags: sizes and counts at least 1 (the optional ones when given),
        the seed, --checkpoint-every and --cycle (0 turns them off) at least 0."""
        at_least = {"epochs": 1, "batch_size": 1, "hidden": 1, "layers": 1, "limit_train": 1, "limit_eval": 1,
                    "stop_after": 1, "prune_points": 1, "prune_interval": 1, "meact_start": 1,
                    "seed": 0, "checkpoint_every": 0, "cycle": 0}
        for name, least in at_least.items():
            value = getattr(self, name)
            if value is not None and value < least:
                raise ValueError(f"--{name.replace('_', '-')} must be at least {least}, got {value}")

    def _resolve_weight_budget(self):
        """DropBack's and GSM's defaults and checks (before the task's defaults fill k)."""
        name = self.method
        if self.task != "mnist":
            raise ValueError(f"--method {name} is built for the MNIST MLP (its paper's LeNet-300-100 is --widths 300,100)")
        if self.optimizer not in (None, "sgd"):
            raise ValueError(f"--method {name} is an SGD method; --optimizer {self.optimizer} does not apply")
        self.optimizer = "sgd"
        if self.sparse_update:
            raise ValueError(f"--method {name} updates every weight each step: --sparse-update does not apply")
        if name == "gsm" and self.init != "pytorch":
            raise ValueError("--method gsm: the initial weights come from --from; --init does not apply")
        if name == "dropback" and self.init not in DROPBACK_INITS:
            raise ValueError(f"--method dropback regenerates its initial weights from the seed, as one of "
                             f"{DROPBACK_INITS}: --init {self.init} does not apply")
        if self.k is not None and self.compression is not None:
            raise ValueError(f"--method {name}: give --k (weights kept) or --compression, not both")
        if self.k is None and self.compression is None:
            self.compression = DEFAULT_COMPRESSION[name]
        if self.compression is not None and not self.compression >= 1:
            raise ValueError(f"--compression must be at least 1, got {self.compression}")
        if self.k is not None and self.k < 1:
            raise ValueError(f"--k (weights kept) must be at least 1, got {self.k}")
        if name == "gsm":
            if self.from_run is None:
                raise ValueError("--method gsm starts from a trained dense model: give --from DIR (a finished run's --out)")
            for key, value in GSM_DEFAULTS.items():
                if getattr(self, key) is None:
                    setattr(self, key, value)
        elif self.momentum or self.nesterov or self.weight_decay:
            raise ValueError("--method dropback tracks plain SGD steps: --momentum, --nesterov and --weight-decay do not apply")

    def _check_sgd_options(self):
        """--momentum, --nesterov, --weight-decay: SGD's (and GSM's); default 0 / off."""
        given = [flag for flag, value in (("momentum", self.momentum), ("nesterov", self.nesterov),
                                          ("weight-decay", self.weight_decay)) if value]
        if given and self.optimizer != "sgd":
            raise ValueError(f"--{given[0]} is for --optimizer sgd, not {self.optimizer}")
        self.momentum = self.momentum or 0.0
        self.nesterov = bool(self.nesterov)
        self.weight_decay = self.weight_decay or 0.0
        if self.momentum < 0 or self.weight_decay < 0:
            raise ValueError("--momentum and --weight-decay must be non-negative")
        if self.nesterov and self.momentum == 0:
            raise ValueError("--nesterov needs --momentum > 0")

    def lr_at(self, step, steps_per_epoch):
        """The learning rate of training step ``step`` (0-based) of a run of ``epochs`` epochs
        of ``steps_per_epoch`` steps:

        - constant: ``lr`` throughout;
        - cosine: annealed from ``lr`` to 0 over the run, lr (1 + cos(pi step / steps)) / 2;
        - step: ``lr`` times ``lr_decay`` for every epoch of ``lr_steps`` that has ended
          (the GSM authors' ``WarmupMultiStepLR``: their LeNet-300-100 run, in
          ``gsm/gsm_lottery_ticket_lenet300.py`` of github.com/DingXiaoH/GSM-SGD, trains the
          dense model 200 epochs at 0.03 decayed 10x after epochs 40, 80, 120 and 160, and
          GSM 280 epochs at 0.01 decayed after 160, 200 and 240);
        - with ``warmup_epochs`` w, any of these times step / (w steps_per_epoch) over the
          first w epochs, a linear warm-up from 0 as the same scheduler's (warm-up factor 0:
          the very first step has rate 0, as theirs does).
        """
        if self.lr_schedule == "cosine":
            lr = 0.5 * self.lr * (1.0 + math.cos(math.pi * step / (self.epochs * steps_per_epoch)))
        elif self.lr_schedule == "step":
            lr = self.lr * self.lr_decay ** bisect.bisect_right(self.lr_steps, step / steps_per_epoch)
        else:
            lr = self.lr
        warmup_steps = self.warmup_epochs * steps_per_epoch
        return lr * step / warmup_steps if step < warmup_steps else lr

    def weight_budget(self, total):
        """The number of weights DropBack or GSM keeps in a model of ``total`` weights."""
        k = self.k if self.k is not None else max(1, round(total / self.compression))
        if k > total:
            raise ValueError(f"--k {k} is more than the model's {total} weights")
        return k

    @property
    def hidden_widths(self):
        """The hidden layers' widths: ``widths`` when given, else ``hidden`` x ``layers``."""
        return list(self.widths) if self.widths else [self.hidden] * self.layers

    def as_dict(self):
        return asdict(self)
