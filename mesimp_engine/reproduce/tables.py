"""The papers' tables that ``mesimp-engine reproduce`` runs, with their published numbers,
and the scales it runs them at.

Table 1 of the meProp paper (ICML 2017; SPEC section 6): for each task and optimizer, the
dense baseline and meProp at the paper's k, trained with the papers' settings (the
defaults of ``train.settings``). The paper's "backprop time" is the linear layers'
backward per run on the authors' C# engine; what compares across engines is the speed-up
of meProp over the dense row, which the table reports for both. POS and parsing run on UD
English EWT here, not the Penn Treebank, so their scores are lower by construction.

Figure 4 of the same paper (MNIST, Adam, values read off the plot; SPEC section 6): test
accuracy against the share of the hidden layer back-propagated, k/h at h = 500, for top-k
meProp, random-k, and dense MLPs whose hidden layers have k units; the dense 500-unit
baseline at 100%. The paper gives no top-k point at 2% and no MLP point at 16% (its MLP
series stops at 10%).

Scales: ``full`` is the papers' setting (hours: the POS rows take about 8 minutes an epoch
on one core); ``quick`` trains on a tenth of the data for a few epochs (minutes); ``smoke``
on a few hundred examples with small hidden layers, to check the pipeline end to end.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    task: str
    optimizer: str
    method: str
    k: int = None
    published: dict = field(default_factory=dict)
    """iter (best epoch), backprop_s, dev, test and (meProp rows) speedup, as printed."""
    series: str = None
    """Figures: the curve the row is a point of, and its x (percent of the hidden layer)."""
    percent: float = None
    hidden: int = None
    """A row's own hidden size (the figure's small MLPs), else the scale's or the paper's."""

    @property
    def group(self):
        names = {"mnist": "MNIST", "pos": "POS-Tag", "parse": "Parsing"}
        return f"{names[self.task]} ({'AdaGrad' if self.optimizer == 'adagrad' else 'Adam'})"

    def model(self, hidden=500):
        """The paper's name of the row's model, with the hidden size it was run at."""
        if self.method == "dense":
            return f"{'LSTM' if self.task == 'pos' else 'MLP'} (h={hidden})"
        return f"meProp (k={self.k})"

    @property
    def name(self):
        """A folder name for the row's run."""
        return (f"{self.task}_{self.optimizer}_{self.method}" + (f"_k{self.k}" if self.k else "")
                + (f"_h{self.hidden}" if self.hidden else ""))


def _pair(task, optimizer, k, dense, meprop):
    keys = ("iter", "backprop_s", "dev", "test", "speedup")
    return [Row(task, optimizer, "dense", None, dict(zip(keys, dense))),
            Row(task, optimizer, "meprop", k, dict(zip(keys, meprop)))]


def _figure4():
    top = {1: 96.0, 4: 98.0, 8: 98.1, 16: 98.15}
    random = {1: 86.8, 2: 90.5, 4: 92.2, 8: 94.1, 16: 96.0}
    small = {1: 90.6, 2: 94.1, 4: 96.4, 8: 97.1, 10: 97.3}
    rows = [Row("mnist", "adam", "dense", None, {"test": 97.82}, "dense (h=500)", 100)]
    rows += [Row("mnist", "adam", "meprop", 5 * p, {"test": top.get(p)}, "meProp top-k", p) for p in (1, 2, 4, 8, 16)]
    rows += [Row("mnist", "adam", "randk", 5 * p, {"test": v}, "meProp random-k", p) for p, v in random.items()]
    rows += [Row("mnist", "adam", "dense", None, {"test": v}, "dense MLP of h = k", p, 5 * p) for p, v in small.items()]
    return rows


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
    "figure4": {
        "kind": "sweep",
        "scales": MNIST_ONLY_SCALES,
        "title": "meProp (ICML 2017), Figure 4: MNIST test accuracy against k/h, top-k, random-k and small MLPs",
        "rows": _figure4(),
    },
}
