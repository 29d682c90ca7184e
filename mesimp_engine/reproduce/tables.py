"""The papers' tables that ``mesimp-engine reproduce`` runs, with their published numbers,
and the scales it runs them at (SPEC section 6; all of the meProp paper's tables are ICML
2017's, the last one is the meSimp paper's, TKDE).

- ``table1``: for each task and optimizer, the dense baseline and meProp at the paper's k,
  with the papers' settings (the defaults of ``train.settings``). The paper's "backprop
  time" is the linear layers' backward per run on the authors' C# engine; what compares
  across engines is the speed-up of meProp over the dense row, which the table reports for
  both.
- ``table2``: the Adam rows of Table 1 again (the same runs: a shared ``--out`` trains them
  once), with the time of an epoch split into forward, backward and the whole.
- ``table3``: meProp against a model trained normally whose hidden size is meProp's k
  (Adam): does meProp rely on a redundant hidden layer?
- ``table4``: with dropout (Adam): POS 0.5 (meProp k=20), parsing 0.5 (k=40), MNIST 0.2
  (k=25), the rates and k of the paper's table.
- ``table5``: MNIST with 2 to 5 hidden layers of 500, dropout 0.1, meProp k=25 (Adam).
- ``table6``: unified meProp (one top-k for the whole mini-batch), MNIST, Adam, mini-batch
  50: 2 hidden layers at k=30 and 5 at k=50. The paper gives Adam and the mini-batch for
  this table and says the experiment ran in PyTorch; the authors' PyTorch example of
  unified meProp (lancopku/meProp, ``src/pytorch/main.py``, ``main_unified``) trains
  exactly the first row's model with dropout 0.1, so the rows use dropout 0.1 (the
  paper's text states no rate for this table).
- ``table7``: the backward of one linear layer, 1,024 x 8,192 -> 8,192 (the paper: on a
  GPU, in PyTorch, unified top-k against the dense product), for k = 8 ... 512: no
  training, the engine's kernels timed as ``bench backprop`` times them (dense BLAS,
  unified and per-example meProp, in turns). The paper's times are a GPU's; what compares
  is the speed-up. The smaller scales shrink the shape (smoke 64 x 1,024 -> 1,024, quick
  256 x 2,048 -> 2,048).
- ``table8``: the overall backward (every op of the graph's reverse pass, not only the
  linear layers) of an MNIST MLP with hidden layers of 8,192, dense against unified meProp,
  for k = 8 ... 512 (the paper: on a GPU, in PyTorch), and per-example meProp (the
  engine's CPU method) beside it. No training to the end: training
  steps of one model on MNIST, the methods taking turns step by step (``TABLE8_SCALES``).
  The paper states neither the depth, the mini-batch nor the dropout of this model; the rows
  use what its unified experiment in PyTorch (Table 6, the authors' ``main_unified``) trains:
  2 hidden layers, mini-batch 50, dropout 0.1, Adam, the output layer dense. SPEC gives only
  the table's end points (k = 8 and 512): the other rows have no published numbers here.
- ``figure4``: MNIST test accuracy against the share of the hidden layer back-propagated,
  k/h at h = 500, for top-k meProp, random-k, and dense MLPs whose hidden layers have k
  units; the dense 500-unit baseline at 100% (values read off the plot; the paper gives no
  top-k point at 2% and no MLP point at 16%: its MLP series stops at 10%).
- ``meact``: the meSimp paper's meAct figure (MNIST, Adam): dev accuracy and the average
  absolute parameter update (``--record-update``) by epoch, for a dense run and a meAct run
  of the same seed that trains normally until meAct starts (at full scale from epoch 11
  of 20; the paper's figure has lost its numbers, so the start is our choice and the
  published values are the figure's two claims, not points). Both runs record the update,
  so their folders are their own (the ``ru`` tag), not Table 1's.
- ``mesimp``: the meSimp paper's simplification results (Adam): the hidden width left
  after simplification and the score, against the dense model. MNIST runs at the authors'
  setting (mini-batch 100, k = 160, prune rate 0.1, 8 prune points an epoch, cycles of 5
  epochs; the dense row at the same mini-batch); the paper does not give k for POS and
  parsing, so they use the meProp paper's (5 and 20) with the same prune rate, prune points
  and cycles (our choice). The paper's "dimension" is the average hidden width after
  simplification; ours averages the final widths of the layers (the tagger: its two LSTMs).

POS and parsing run on UD English EWT here, not the Penn Treebank, so their scores are lower
by construction; what must reproduce is each table's comparison.

Scales: ``full`` is the papers' setting (hours: the POS rows take about 8 minutes an epoch
on one core); ``quick`` trains on a tenth of the data for a few epochs (minutes); ``smoke``
on a few hundred examples with small hidden layers, to check the pipeline end to end.
Rows with the same settings have the same folder name (``Row.name``), so tables that share
rows (Tables 1, 2 and 3; Figure 4 and Table 3's small MNIST MLP) train them once when run
into the same ``--out``.
"""

from dataclasses import dataclass, field, replace

from mesimp_engine.bench.backprop import TABLE7_DENSE_MS, TABLE7_PUBLISHED
from mesimp_engine.train.settings import EPS_SETTINGS


TASK_NAMES = {"mnist": "MNIST", "pos": "POS-Tag", "parse": "Parsing"}
METHOD_NAMES = {"meprop": "meProp", "randk": "random-k", "unified": "unified meProp", "mesimp": "meSimp",
                "meact": "meAct"}


@dataclass(frozen=True)
class Row:
    task: str
    optimizer: str
    method: str
    k: int = None
    published: dict = field(default_factory=dict)
    """The paper's numbers for the row, as printed: per table, some of iter (best epoch),
    backprop_s, dev, test, speedup, forward_s, backward_s, total_s, dimension."""
    series: str = None
    """Figures: the curve the row is a point of, and its x (percent of the hidden layer)."""
    percent: float = None
    hidden: int = None
    """A row's own hidden size (small MLPs of h = k), else the scale's or the paper's."""
    layers: int = None
    dropout: float = None
    batch_size: int = None
    """A row's own number of hidden layers, dropout and mini-batch, else the task's defaults."""
    record_update: bool = None
    """The run records the average absolute update (``--record-update``)."""
    section: str = None
    """The row's group in the Markdown table when it is not the task and optimizer."""

    @property
    def group(self):
        if self.section:
            return self.section
        return f"{TASK_NAMES[self.task]} ({'AdaGrad' if self.optimizer == 'adagrad' else 'Adam'})"

    def model_label(self, hidden=500):
        """The paper's name of the row's model, with the hidden size it was run at."""
        if self.method == "dense":
            return f"{'LSTM' if self.task == 'pos' else 'MLP'} (h={hidden})"
        if self.k is None:
            return f"{METHOD_NAMES[self.method]} (h={hidden})"
        return f"{METHOD_NAMES[self.method]} (k={self.k})"

    def overrides(self):
        """The row's own training settings (``TrainSettings`` fields)."""
        own = {"hidden": self.hidden, "layers": self.layers, "dropout": self.dropout, "batch_size": self.batch_size,
               "record_update": self.record_update}
        return {key: value for key, value in own.items() if value is not None}

    def run_name(self, scale):
        """The folder name of the row's run at a scale (``scale``: its settings for the row's
        task): ``name``, with the scale's hidden size when it sets one and the row does not."""
        hidden = self.hidden or scale.get("hidden")
        return replace(self, hidden=hidden).name if hidden else self.name

    @property
    def name(self):
        """A folder name for the row's run: equal settings, equal names."""
        tags = (("k", self.k), ("h", self.hidden), ("l", self.layers), ("d", self.dropout), ("b", self.batch_size),
                ("ru", self.record_update))
        return "_".join([self.task, self.optimizer, self.method]
                        + [f"{tag}{value:g}" for tag, value in tags if value is not None])


def _pair(task, optimizer, k, dense, meprop, keys=("iter", "backprop_s", "dev", "test", "speedup"), method="meprop",
          dense_hidden=None, **common):
    """A dense row and a meProp row of the same task; ``dense``, ``meprop``: their published
    numbers in the order of ``keys``."""
    return [Row(task, optimizer, "dense", None, dict(zip(keys, dense)), hidden=dense_hidden, **common),
            Row(task, optimizer, method, k, dict(zip(keys, meprop)), **common)]


def _table2():
    keys = ("forward_s", "backward_s", "total_s")
    return [*_pair("pos", "adam", 5, (7334, 16522, 23856), (7362, 540, 7903), keys),
            *_pair("parse", "adam", 20, (3906, 9114, 13020), (4002, 513, 4516), keys),
            *_pair("mnist", "adam", 20, (69, 171, 240), (68, 9, 77), keys)]


def _table3():
    rows = []
    for task, k, small, meprop in (("pos", 5, 96.40, 97.12), ("parse", 20, 88.37, 90.01), ("mnist", 20, 95.77, 98.01)):
        rows += _pair(task, "adam", k, (small,), (meprop,), ("test",), dense_hidden=k)
    return rows


def _table4():
    rows = []
    for task, rate, k, dense, meprop in (("pos", 0.5, 20, 97.20, 97.31), ("parse", 0.5, 40, 91.53, 91.99),
                                         ("mnist", 0.2, 25, 98.09, 98.32)):
        rows += _pair(task, "adam", k, (dense,), (meprop,), ("test",), dropout=rate,
                      section=f"{TASK_NAMES[task]} (Adam), dropout {rate:g}")
    return rows


def _table5():
    rows = []
    for layers, dense, meprop in ((2, 98.10, 98.20), (3, 98.21, 98.37), (4, 98.10, 98.15), (5, 98.05, 98.21)):
        rows += _pair("mnist", "adam", 25, (dense,), (meprop,), ("test",), layers=layers, dropout=0.1,
                      section=f"MNIST (Adam), {layers} hidden layers, dropout 0.1")
    return rows


def _table6():
    rows = []
    for layers, k, dense, unified in ((2, 30, 97.97, 98.08), (5, 50, 98.09, 98.36)):
        rows += _pair("mnist", "adam", k, (dense,), (unified,), ("test",), method="unified", layers=layers,
                      dropout=0.1, batch_size=50, section=f"MNIST (Adam), {layers} hidden layers, dropout 0.1, mini-batch 50")
    return rows


def _mesimp():
    rows = []
    for task, k, batch, dimension, dense, simplified in (("parse", 20, None, 51, 89.80, 90.11),
                                                          ("pos", 5, None, 60, 97.22, 97.25),
                                                          ("mnist", 160, 100, 154, 98.20, 98.31)):
        section = f"{TASK_NAMES[task]} (Adam)" + (f", mini-batch {batch}" if batch else "")
        rows += _pair(task, "adam", k, (500, dense), (dimension, simplified), ("dimension", "test"), method="mesimp",
                      batch_size=batch, section=section)
    return rows


def _figure4():
    top = {1: 96.0, 4: 98.0, 8: 98.1, 16: 98.15}
    random = {1: 86.8, 2: 90.5, 4: 92.2, 8: 94.1, 16: 96.0}
    small = {1: 90.6, 2: 94.1, 4: 96.4, 8: 97.1, 10: 97.3}
    rows = [Row("mnist", "adam", "dense", None, {"test": 97.82}, "dense (h=500)", 100)]
    rows += [Row("mnist", "adam", "meprop", 5 * p, {"test": top.get(p)}, "meProp top-k", p) for p in (1, 2, 4, 8, 16)]
    rows += [Row("mnist", "adam", "randk", 5 * p, {"test": v}, "meProp random-k", p) for p, v in random.items()]
    rows += [Row("mnist", "adam", "dense", None, {"test": v}, "dense MLP of h = k", p, 5 * p) for p, v in small.items()]
    return rows


def _meact():
    claims = {"dense": {}, "meact": {"accuracy": "rises above the baseline once meAct is on",
                                     "update": "drops sharply once meAct is on"}}
    return [Row("mnist", "adam", method, None, claims[method], record_update=True) for method in ("dense", "meact")]


MEACT_SCALES = {
    "smoke": {"mnist": {"limit_train": 500, "limit_eval": 200, "epochs": 3, "hidden": 64, "meact_start": 2}},
    "quick": {"mnist": {"limit_train": 11000, "epochs": 6, "meact_start": 4}},
    "full": {"mnist": {"meact_start": 11}},
}
"""The meAct figure's scales: the dense row gets ``meact_start`` too (it does not use it),
so the two runs share every setting but the method."""


MNIST_ONLY_SCALES = {
    "smoke": {"mnist": {"limit_train": 500, "limit_eval": 200, "epochs": 1}},
    "quick": {"mnist": {"limit_train": 11000, "epochs": 3}},
    "full": {"mnist": {}},
}

SCALES = {
    "smoke": {
        "mnist": {"limit_train": 500, "limit_eval": 200, "epochs": 1, "hidden": 64},
        "pos": {"limit_train": 60, "limit_eval": 40, "epochs": 1, "hidden": 32},
        "parse": {"limit_train": 3000, "limit_eval": 40, "epochs": 1, "hidden": 64, "batch_size": 1000},
    },
    "quick": {
        "mnist": {"limit_train": 11000, "epochs": 3},
        "pos": {"limit_train": 1250, "limit_eval": 500, "epochs": 1},
        "parse": {"limit_train": 100000, "limit_eval": 500, "epochs": 3},
    },
    "full": {"mnist": {}, "pos": {}, "parse": {}},
}
"""Settings each scale adds to a row's (``TrainSettings`` fields), per task."""

MESIMP_SCALES = {**SCALES, "smoke": {**SCALES["smoke"], "mnist": {**SCALES["smoke"]["mnist"], "hidden": 256}}}
"""meSimp's MNIST row keeps k = 160 units per example: its smoke model needs more than 160."""


PROTOCOLS = {
    "defaults": {},
    "authors": {"init": "authors", "clip": 5.0, "evals_per_epoch": 11, "adam_eps": "authors",
                "adagrad_eps": "authors"},
}
"""Settings added to the MNIST rows (``--protocol``). "authors": what the meProp authors' C#
MNIST program does and the paper's text does not state (docs/mnist-meprop.md): Glorot-normal
weights and zero biases, each element of the mini-batch's mean gradient clipped at 5, the
test score taken at the best of 11 dev evaluations an epoch, Adam's eps added to sqrt(v)
before the bias correction (Adam rows only) and AdaGrad's inside the square root (AdaGrad
rows only). Their program is MNIST's only; POS and parsing rows train with the defaults
under either protocol."""

def protocol_settings(protocol, row):
    """The settings ``protocol`` adds to ``row``'s run."""
    if row.task != "mnist":
        return {}
    return {key: value for key, value in PROTOCOLS[protocol].items()
            if EPS_SETTINGS.get(key, row.optimizer) == row.optimizer}  # an eps form: its optimizer's rows only


TABLE7_SCALES = {
    "smoke": {"shape": (64, 1024, 1024), "repeats": 1},
    "quick": {"shape": (256, 2048, 2048), "repeats": 3},
    "full": {"shape": (1024, 8192, 8192), "repeats": 3},
}
"""Table 7: the layer's shape (batch, inputs, outputs) and the timed rounds at each scale."""

def _table7():
    return [(k, {"ms": ms, "speedup": speedup, "dense_ms": TABLE7_DENSE_MS}) for k, (ms, speedup) in TABLE7_PUBLISHED.items()]


TABLE8_SCALES = {
    "smoke": {"hidden": 512, "limit_train": 1000, "warmup": 1, "steps": 7},
    "quick": {"hidden": 2048, "limit_train": 11000, "warmup": 2, "steps": 10},
    "full": {"hidden": 8192, "warmup": 2, "steps": 20},
}
"""Table 8: the hidden width, the training examples, and the untimed and timed steps of
each method at each scale (the steps of all the methods in turns: one of each per round)."""

TABLE8_DENSE_MS = 17696.2
"""Table 8's baseline: the overall backward of the MNIST MLP of h = 8,192 on the paper's GPU."""

TABLE8_PUBLISHED = {8: (1501.5, 11.8), 512: (4874.1, 3.6)}
"""Table 8: k -> (unified meProp's overall backward ms, speed-up), the rows SPEC gives."""

TABLE8_SETTINGS = {"layers": 2, "batch_size": 50, "dropout": 0.1, "optimizer": "adam"}
"""Table 8's model and training beside the width (the module docstring says why)."""


def _table8():
    rows = [(None, {"ms": TABLE8_DENSE_MS})]
    for k in (8, 16, 32, 64, 128, 256, 512):
        ms, speedup = TABLE8_PUBLISHED.get(k, (None, None))
        rows.append((k, {"ms": ms, "speedup": speedup} if ms else {}))
    return rows


TABLES = {
    "table1": {
        "kind": "pairs",
        "scales": SCALES,
        "title": "meProp (ICML 2017), Table 1: dense back propagation against meProp, per task and optimizer",
        "rows": [
            *_pair("pos", "adagrad", 5, (4, 17534.4, 96.89, 96.93), (4, 253.2, 97.18, 97.25, 69.2)),
            *_pair("parse", "adagrad", 20, (11, 8899.7, 89.07, 88.92), (8, 492.3, 89.17, 88.95, 18.1)),
            *_pair("mnist", "adagrad", 10, (8, 171.0, 98.20, 97.52), (16, 4.1, 98.20, 98.00, 41.7)),
            *_pair("pos", "adam", 5, (2, 16167.3, 97.18, 97.07), (5, 247.2, 97.14, 97.12, 65.4)),
            *_pair("parse", "adam", 20, (14, 9077.7, 90.12, 89.84), (6, 488.7, 90.02, 90.01, 18.6)),
            *_pair("mnist", "adam", 20, (17, 169.5, 98.32, 97.82), (15, 7.9, 98.22, 98.01, 21.4)),
        ],
    },
    "table2": {
        "kind": "timing",
        "scales": SCALES,
        "title": "meProp (ICML 2017), Table 2: time of an epoch, forward and backward, dense against meProp (Adam)",
        "rows": _table2(),
    },
    "table3": {
        "kind": "scores",
        "scales": SCALES,
        "title": "meProp (ICML 2017), Table 3: meProp against a model trained normally whose hidden size is k (Adam)",
        "rows": _table3(),
    },
    "table4": {
        "kind": "scores",
        "scales": SCALES,
        "title": "meProp (ICML 2017), Table 4: dense back propagation against meProp, both with dropout (Adam)",
        "rows": _table4(),
    },
    "table5": {
        "kind": "scores",
        "scales": MNIST_ONLY_SCALES,
        "title": "meProp (ICML 2017), Table 5: MNIST with 2 to 5 hidden layers, dropout 0.1, meProp k=25 (Adam)",
        "rows": _table5(),
    },
    "table6": {
        "kind": "scores",
        "scales": MNIST_ONLY_SCALES,
        "title": "meProp (ICML 2017), Table 6: unified meProp (one top-k per mini-batch), MNIST, dropout 0.1, mini-batch 50 (Adam)",
        "rows": _table6(),
    },
    "table7": {
        "kind": "bench",
        "scales": TABLE7_SCALES,
        "title": "meProp (ICML 2017), Table 7: backward of one linear layer, dense against unified meProp, by k",
        "rows": _table7(),
    },
    "table8": {
        "kind": "steps",
        "scales": TABLE8_SCALES,
        "title": "meProp (ICML 2017), Table 8: overall backward of an MNIST MLP of h = 8,192, dense against unified meProp, by k",
        "rows": _table8(),
    },
    "figure4": {
        "kind": "sweep",
        "scales": MNIST_ONLY_SCALES,
        "title": "meProp (ICML 2017), Figure 4: MNIST test accuracy against k/h, top-k, random-k and small MLPs",
        "rows": _figure4(),
    },
    "meact": {
        "kind": "curves",
        "scales": MEACT_SCALES,
        "title": "meSimp (TKDE), the meAct figure: dev accuracy and average absolute update by epoch, dense against meAct (Adam)",
        "rows": _meact(),
    },
    "mesimp": {
        "kind": "scores",
        "scales": MESIMP_SCALES,
        "title": "meSimp (TKDE), model simplification: hidden width and score, dense against meSimp (Adam)",
        "rows": _mesimp(),
    },
}
