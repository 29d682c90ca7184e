"""Training settings: every flag of ``mesimp-engine train``, with the papers' defaults.

Defaults that depend on the task or the optimizer are ``None`` here and filled in by
``resolve``: hidden 500; MNIST 2 hidden layers, mini-batch 10, 20 epochs, k 20; POS one
BiLSTM layer, one sentence per update, 5 epochs, k 5; parsing 2 hidden layers, mini-batches
of 10,000 transitions, 15 epochs, k 20 (the papers' best epochs were 2-17); learning rates
Adam 0.001, AdaGrad 0.01 (POS, parsing) or 0.1 (MNIST), SGD 0.1.
"""

from dataclasses import asdict, dataclass, field

from mesimp_engine.nn.linear import INITS
from mesimp_engine.optim.adam import EPS_FORMS

TASKS = ("mnist", "pos", "parse")
DTYPES = ("float32", "float64")
METHODS = ("dense", "meprop", "unified", "randk", "mesimp", "meact")
OPTIMIZERS = ("adam", "adagrad", "sgd")

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
    optimizer: str = "adam"
    lr: float = None
    epochs: int = None
    batch_size: int = None
    hidden: int = None
    widths: list = None
    layers: int = None
    dropout: float = 0.0
    init: str = "pytorch"
    dtype: str = "float32"
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
    adam_eps: str = "pytorch"
    evals_per_epoch: int = 1
    check_finite: bool = False
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
        for name, value in TASK_DEFAULTS[self.task].items():
            if getattr(self, name) is None:
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
        for name in ("epochs", "batch_size", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.k is not None and not 1 <= self.k <= self.hidden:
            raise ValueError(f"--k must be between 1 and the hidden size {self.hidden}, got {self.k}")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"--clip must be positive, got {self.clip}")
        if self.adam_eps not in EPS_FORMS:
            raise ValueError(f"--adam-eps must be one of {EPS_FORMS}, got {self.adam_eps!r}")
        if self.adam_eps != "pytorch" and self.optimizer != "adam":
            raise ValueError(f"--adam-eps is for --optimizer adam, not {self.optimizer}")
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
        if not 0 <= self.dropout < 1:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")
        return self

    @property
    def hidden_widths(self):
        """The hidden layers' widths: ``widths`` when given, else ``hidden`` x ``layers``."""
        return list(self.widths) if self.widths else [self.hidden] * self.layers

    def as_dict(self):
        return asdict(self)
