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
from mesimp_engine.reproduce.render import markdown, plot_sweep
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
    """Each meProp row's linear-backward speed-up over the dense row of its group (None for
    the dense rows, as in the paper)."""
    dense = {r["group"]: r for r in rows if r["method"] == "dense"}
    for r in rows:
        base = dense.get(r["group"]) if r["method"] != "dense" else None
        ours = r["ours"]["linear_backward_s"]
        r["ours"]["speedup"] = base["ours"]["linear_backward_s"] / ours if base and ours > 0 else None
