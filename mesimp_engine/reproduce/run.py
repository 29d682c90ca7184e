"""Run the rows of a table or figure (resuming what an interrupted call left) and write
``table.md`` and ``table.json``: the published numbers and ours side by side; for a figure
also ``figure.png`` (the paper's points and ours) when matplotlib is installed (the
``plot`` extra).

Each row is an ordinary training run under ``OUT/<row>/`` (its ``results.json`` and
checkpoint), so a call that is interrupted goes on where it stopped when repeated, and
``mesimp-engine report`` reads the rows' folders like any run's. Scores are the test score
at the best dev epoch, as the papers select; backprop is the mean linear-layer backward per
epoch, and its speed-up is the dense row's over the meProp row's of the same task and
optimizer (the paper's, as printed, from its two times).
"""

import os
import time

from mesimp_engine.atomic_file import atomic_write, write_json
from mesimp_engine.bench.harness import environment
from mesimp_engine.reproduce.tables import TABLES
from mesimp_engine.train.build import build_run, make_extension
from mesimp_engine.train.loop import Trainer
from mesimp_engine.train.settings import TrainSettings


def row_settings(row, scales, out, data_dir, seed=1, progress=False):
    """The training settings of one row at one scale (``scales``: the table's settings for
    it, per task), the papers' defaults otherwise."""
    overrides = dict(scales[row.task])
    if row.hidden:
        overrides["hidden"] = row.hidden
    return TrainSettings(task=row.task, method=row.method, k=row.k, optimizer=row.optimizer, seed=seed,
                         out=os.path.join(out, row.name), data_dir=data_dir, progress=progress,
                         **overrides).resolve()


def train_row(settings, log):
    """Train (or finish, or just read) the run of one row; its results document. ``log``
    gets the run's lines (one per epoch)."""
    task, model, optimizer, rngs = build_run(settings)
    extension = make_extension(settings, task, model, optimizer, log=log)
    trainer = Trainer(task, model, optimizer, settings, rngs, log=log, extension=extension)
    if trainer.resume() and trainer.epoch > settings.epochs:
        return trainer.results()
    return trainer.fit()


def reproduce(table, scale="quick", out="runs/reproduce", data_dir="data", seed=1, log=print, progress=False):
    """Run every row of ``table`` at ``scale``; write ``table.md`` and ``table.json`` under
    ``out`` and return the JSON document. ``progress``: a progress bar per epoch."""
    spec = TABLES[table]
    rows = []
    for i, row in enumerate(spec["rows"], 1):
        settings = row_settings(row, spec["scales"][scale], out, data_dir, seed, progress)
        model = row.model(settings.hidden)
        log(f"[{i}/{len(spec['rows'])}] {row.group} {model}: {settings.epochs} epoch(s) -> {settings.out}")
        start = time.perf_counter()
        doc = train_row(settings, lambda line: log(f"      {line}"))
        epochs = doc["epochs"]
        ours = {"best_epoch": doc["best_epoch"], "dev": doc["dev"], "test": doc["test"],
                "linear_backward_s": sum(e["time"]["linear_backward"] for e in epochs) / len(epochs),
                "run": settings.out}
        log(f"      dev {ours['dev']:.2f}  test {ours['test']:.2f}  ({time.perf_counter() - start:.0f} s)")
        rows.append({"group": row.group, "model": model, "task": row.task, "optimizer": row.optimizer,
                     "method": row.method, "k": row.k, "hidden": settings.hidden, "series": row.series,
                     "percent": row.percent, "published": dict(row.published), "ours": ours})
    if spec["kind"] == "pairs":
        _add_speedups(rows)
    document = {"table": table, "kind": spec["kind"], "title": spec["title"], "scale": scale, "seed": seed,
                "rows": rows, "environment": environment()}
    os.makedirs(out, exist_ok=True)
    write_json(document, os.path.join(out, "table.json"))
    text = markdown(document)
    atomic_write(os.path.join(out, "table.md"), lambda f: f.write(text.encode()))
    if spec["kind"] == "sweep":
        path = os.path.join(out, "figure.png")
        log(f"wrote {path}" if plot_sweep(document, path) else
            "figure.png not drawn: matplotlib is not installed (pip install 'mesimp_engine[plot]')")
    return document


def _add_speedups(rows):
    dense = {r["group"]: r for r in rows if r["method"] == "dense"}
    for r in rows:
        base = dense.get(r["group"])
        ours = r["ours"]["linear_backward_s"]
        r["ours"]["speedup"] = base["ours"]["linear_backward_s"] / ours if base and ours > 0 else None


def markdown(document):
    """The table as Markdown: the paper's columns, then ours."""
    header = [f"# {document['title']}", "", f"Scale `{document['scale']}`, seed {document['seed']}; "
              f"{SCALE_NOTES[document['scale']]}"]
    if document.get("kind") == "sweep":
        return _sweep_markdown(document, header)
    lines = [header[0], "", header[2] +
             " POS and parsing: UD English EWT (the paper: Penn Treebank). Backprop: the paper's time, "
             "ours the linear layers' backward per epoch; the speed-up is over the dense row.", "",
             "| Task (optimizer) | Model | paper: iter | paper: backprop s | paper: dev | paper: test "
             "| ours: best epoch | ours: backprop s | ours: dev | ours: test |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in document["rows"]:
        p, o = r["published"], r["ours"]
        lines.append(f"| {r['group']} | {r['model']} | {p['iter']} | {p['backprop_s']:,.1f}{_times(p.get('speedup'))} "
                     f"| {p['dev']:.2f} | {p['test']:.2f} | {o['best_epoch']} "
                     f"| {o['linear_backward_s']:.2f}{_times(o['speedup'])} | {o['dev']:.2f} | {o['test']:.2f} |")
    return "\n".join(lines) + "\n"


def _sweep_markdown(document, header):
    lines = header + ["", "| series | k/h (%) | k or h | paper: test | ours: best epoch | ours: dev | ours: test |",
                      "|---|---|---|---|---|---|---|"]
    for r in document["rows"]:
        paper = r["published"].get("test")
        size = r["k"] if r["k"] else r["hidden"]
        lines.append(f"| {r['series']} | {r['percent']:g} | {size} | {'-' if paper is None else f'{paper:.2f}'} "
                     f"| {r['ours']['best_epoch']} | {r['ours']['dev']:.2f} | {r['ours']['test']:.2f} |")
    return "\n".join(lines) + "\n"


def plot_sweep(document, path):
    """Draw the figure's series, the paper's dashed and ours solid, test accuracy against k/h
    on a log axis; False (nothing drawn) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = [r["series"] for r in document["rows"] if r["percent"] < 100]
    for i, name in enumerate(dict.fromkeys(series)):
        points = [r for r in document["rows"] if r["series"] == name]
        color = f"C{i}"
        paper = [(r["percent"], r["published"]["test"]) for r in points if r["published"].get("test") is not None]
        ax.plot(*zip(*paper), "--o", color=color, alpha=0.6, label=f"{name} (paper)")
        ax.plot([r["percent"] for r in points], [r["ours"]["test"] for r in points], "-s", color=color,
                label=f"{name} (ours)")
    for r in document["rows"]:
        if r["percent"] >= 100:
            ax.axhline(r["published"]["test"], color="gray", ls="--", lw=0.8, label=f"{r['series']} (paper)")
            ax.axhline(r["ours"]["test"], color="black", lw=0.8, label=f"{r['series']} (ours)")
    ax.set_xscale("log")
    ticks = sorted({r["percent"] for r in document["rows"] if r["percent"] < 100})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlabel("k / h (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{document['title'].split(':')[0]}, scale {document['scale']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
    return True


def _times(speedup):
    return f" ({speedup:.1f}x)" if speedup and abs(speedup - 1.0) > 1e-12 else ""


SCALE_NOTES = {
    "smoke": "a few hundred examples and small hidden layers: checks the pipeline, not the numbers.",
    "quick": ("a tenth of the training data and a few epochs: minutes, not the papers' scores; on MNIST meProp's "
              "first epochs are unstable (docs/mnist-meprop.md), so only `full` shows the papers' comparison there."),
    "full": "the papers' settings on the full data.",
}
