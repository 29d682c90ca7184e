"""Compare finished runs: one row per ``results.json``, as the papers' Table 1 lays them out.

For each run: task, method and k, the best dev epoch and its dev and test scores, the final
hidden widths and parameter count, the mean seconds per epoch (whole epoch, and the
linear-layer backward alone, the papers' "backprop time"), the fraction of weights updated
per step, and the linear-backward speed-up over the dense run of the same task when one is
among the runs compared (the papers' "69.2x" column). Epoch times are means over the epochs
run, so runs of different lengths compare; they are only comparable between runs made on
the same machine under the same load.

``report_by_seed`` gives one row per group of runs whose settings differ only in the seed
(and in flags that change nothing computed: the output folder, the data folder, progress,
checkpoints): the number of runs and their seeds, mean dev and test, the test scores'
standard deviation and range, and the mean times. A single run of a method whose scores
move by half a point from seed to seed (meProp on MNIST) says little; six of them say how
far it is from dense. Runs that have not finished all their epochs are left out of the
groups and listed.

The dense run (or group) a row's speed-up is taken against is the dense one of the same task,
model size and mini-batch whose settings agree with the row's in the most flags (the same
seed and protocol first), so that runs of several protocols compared in one table pair up.
"""

import json
import os
import statistics

from mesimp_engine.atomic_file import write_json
from mesimp_engine.train.loop import PHASES, TIMES
from mesimp_engine.train.settings import ADDED_LATER, TrainSettings

NOT_COMPUTED = ("out", "data_dir", "progress", "checkpoint_every", "stop_after", "check_finite", "record_update")
"""Settings that do not change what a run computes."""


class ReportError(ValueError):
    """A file that is not a readable results.json (named in the message)."""


def expand_runs(paths):
    """The run paths ``paths`` name: a ``mesimp-engine reproduce`` folder (it holds a
    reproduce.json), or a folder of run folders (it holds no results.json), stands for
    every finished run folder in it, and those of the seed folders in it (``reproduce
    --seeds``), in name order (one with none is an error: it would add nothing to the
    report); other paths stand for themselves."""
    runs = []
    for path in paths:
        reproduced = os.path.isfile(os.path.join(path, "reproduce.json"))
        if not reproduced and os.path.isdir(path) and not os.path.exists(os.path.join(path, "results.json")):
            found = _finished_runs(path)  # a folder of run folders
            if not found:
                raise ReportError(f"{path}: no results.json in it or in its sub-folders (a run writes results.json "
                                  f"under its --out folder)")
            runs += found
        elif reproduced:
            found = _finished_runs(path)
            if not found:
                tables = sorted(name for name in os.listdir(path) if name.endswith(".md"))
                raise ReportError(f"{path}: a reproduce folder with no finished run in it (tables 7 and 8 keep "
                                  f"none; the numbers are in its tables: {', '.join(tables) or 'none yet'})")
            runs += found
        else:
            runs.append(path)
    return runs


def _finished_runs(folder):
    """The finished run folders in a reproduce folder and in its seed folders, in name order."""
    found = []
    for name in sorted(os.listdir(folder)):
        inner = os.path.join(folder, name)
        if os.path.isfile(os.path.join(inner, "results.json")):
            found.append(inner)
        elif os.path.isfile(os.path.join(inner, "reproduce.json")):
            found += _finished_runs(inner)
    return found


def load_run(path):
    """The results document of a run: ``path`` is a results.json or the run's --out folder."""
    if os.path.isdir(path):
        path = os.path.join(path, "results.json")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file (a run writes results.json under its --out folder)") from None
    except json.JSONDecodeError as error:
        raise ReportError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    missing = [key for key in ("task", "method", "epochs", "dev", "test") if key not in doc]
    if missing:
        raise ReportError(f"{path}: not a results.json of mesimp-engine train (missing {', '.join(missing)})")
    doc["path"] = path
    return doc


def mean_times(epochs):
    """Mean seconds per epoch of each phase (``PHASES``) and of the linear layers' backward,
    over a run's epoch records (zeros for a run with none)."""
    n = len(epochs) or 1
    return {part: sum(e["time"][part] for e in epochs) / n for part in TIMES}


def summarize(doc):
    """The row of one run (a dict of plain values)."""
    epochs = doc["epochs"]
    mean = mean_times(epochs)
    return {
        "run": doc["path"],
        "task": doc["task"],
        "method": doc["method"],
        "k": _k(doc),
        "metric": doc.get("metric", "score"),
        "epochs": len(epochs),
        "best_epoch": doc.get("best_epoch"),
        "dev": doc["dev"],
        "test": doc["test"],
        "hidden_sizes": doc.get("hidden_sizes"),
        "parameters": doc.get("parameters"),
        "epoch_s": sum(mean[phase] for phase in PHASES),
        "linear_backward_s": mean["linear_backward"],
        "updated_fraction": doc.get("updated_fraction"),
    }


def _k(doc):
    """The k column: top-k per example, or for DropBack and GSM (whose k counts weights of
    the whole model) the compression, e.g. ``25x``."""
    if doc.get("compression"):
        return f"{round(doc['compression'], 1):g}x"
    return doc.get("k")


def settings_of(doc):
    """The settings that decide what a run computes (a dict; runs from before a flag existed
    count as having its default)."""
    settings = {**TrainSettings().__dict__, **ADDED_LATER, **doc.get("settings", {}), "task": doc["task"], "method": doc["method"],
                "k": doc.get("k")}
    return {name: value for name, value in settings.items() if name not in NOT_COMPUTED}


def finished(doc):
    """Whether the run trained all the epochs its settings asked for."""
    wanted = doc.get("settings", {}).get("epochs")
    return wanted is None or len(doc["epochs"]) >= wanted


def report(docs):
    """Rows for the runs, with ``backprop_speedup`` = the mean linear-backward time of the
    run's dense partner (see the module docstring) over this run's (None when the task has
    no dense run among ``docs``)."""
    rows = [summarize(doc) for doc in docs]
    _add_speedups(rows, [settings_of(doc) for doc in docs])
    return rows


def report_by_seed(docs):
    """(rows, left_out): one row per group of finished runs that differ only in the seed, in
    the order the groups first appear; ``left_out`` the unfinished runs' rows."""
    groups, keys, left_out = {}, {}, []
    for doc in docs:
        if not finished(doc):
            left_out.append(summarize(doc))
            continue
        settings = settings_of(doc)
        key = json.dumps({name: value for name, value in settings.items() if name != "seed"}, sort_keys=True)
        groups.setdefault(key, []).append(doc)
        keys.setdefault(key, settings)
    rows = [_group_row(group) for group in groups.values()]
    _add_speedups(rows, list(keys.values()))
    _add_distinctions(rows, list(keys.values()))
    return rows, left_out


def _add_distinctions(rows, settings):
    """``settings`` of each group row: the flags (besides task, method and k) whose values are
    not the same in every group, as "name=value" text, so groups of several protocols tell
    apart in the table."""
    names = sorted({name for s in settings for name in s})
    varying = [name for name in names if name not in ("task", "method", "k", "seed")
               and len({json.dumps(s.get(name)) for s in settings}) > 1]
    for row, mine in zip(rows, settings):
        row["settings"] = " ".join(f"{name}={mine.get(name)}" for name in varying)


def _group_row(docs):
    runs = [summarize(doc) for doc in docs]
    tests = [r["test"] for r in runs]
    widths = [r["hidden_sizes"] for r in runs]
    same_depth = all(w and len(w) == len(widths[0]) for w in widths)
    fractions = [r["updated_fraction"] for r in runs if r["updated_fraction"] is not None]
    row = {name: runs[0][name] for name in ("task", "method", "k", "metric")}
    row.update(
        run=_common_folder([r["run"] for r in runs]),
        runs=len(runs),
        seeds=[doc.get("settings", {}).get("seed") for doc in docs],
        best_epochs=[r["best_epoch"] for r in runs],
        dev=statistics.fmean(r["dev"] for r in runs),
        test=statistics.fmean(tests),
        test_sd=statistics.stdev(tests) if len(tests) > 1 else 0.0,
        test_min=min(tests),
        test_max=max(tests),
        tests=tests,
        hidden_sizes=[round(statistics.fmean(w[i] for w in widths)) for i in range(len(widths[0]))] if same_depth else None,
        parameters=round(statistics.fmean(r["parameters"] or 0 for r in runs)),
        epoch_s=statistics.fmean(r["epoch_s"] for r in runs),
        linear_backward_s=statistics.fmean(r["linear_backward_s"] for r in runs),
        updated_fraction=statistics.fmean(fractions) if fractions else None,
    )
    return row


def _common_folder(paths):
    """What the runs' paths share (their common folder, or the one run's path)."""
    if len(paths) == 1:
        return paths[0]
    return os.path.commonpath([os.path.abspath(p) for p in paths]) + os.sep + "..."


SAME_WORK = ("hidden", "layers", "widths", "batch_size")
"""Settings that decide the backward's work: a speed-up is only taken over a dense run that
agrees in all of them (a dense model of another size, or another mini-batch, is no partner)."""


def _add_speedups(rows, settings):
    """``backprop_speedup`` of each row over its dense partner: the dense row of the same
    task and the same ``SAME_WORK`` settings whose other settings agree with the row's in
    the most flags (the first on a tie); None without one."""
    dense = [i for i, row in enumerate(rows) if row["method"] == "dense"]
    for row, mine in zip(rows, settings):
        partners = [i for i in dense if rows[i]["task"] == row["task"]
                    and all(settings[i].get(name) == mine.get(name) for name in SAME_WORK)]
        if not partners or not row["linear_backward_s"] > 0:
            row["backprop_speedup"] = None
            continue
        best = max(partners, key=lambda i: (sum(settings[i].get(name) == value for name, value in mine.items()), -i))
        row["backprop_speedup"] = rows[best]["linear_backward_s"] / row["linear_backward_s"]


def format_table(rows):
    """The rows as an aligned text table."""
    ww = _widths_column(rows)
    header = (f"{'task':<6} {'method':<8} {'k':>4} {'ep':>3} {'best':>4} {'dev':>7} {'test':>7} {'widths':<{ww}}"
              f" {'params':>10} {'epoch s':>9} {'linbwd s':>9} {'speed-up':>8} {'updated':>8}  run")
    lines = [header, "-" * len(header)]
    for r in rows:
        widths, speedup, updated = _shared_cells(r)
        lines.append(
            f"{r['task']:<6} {r['method']:<8} {r['k'] if r['k'] is not None else '-':>4} {r['epochs']:>3}"
            f" {r['best_epoch'] if r['best_epoch'] is not None else '-':>4} {_score(r['dev']):>7} {_score(r['test']):>7}"
            f" {widths:<{ww}} {r['parameters'] or 0:>10,} {r['epoch_s']:>9.1f} {r['linear_backward_s']:>9.2f}"
            f" {speedup:>8} {updated:>8}  {r['run']}"
        )
    return "\n".join(lines)


def format_group_table(rows):
    """Rows of ``report_by_seed`` as an aligned text table (test: mean, standard deviation
    and range over the seeds)."""
    ww = _widths_column(rows)
    header = (f"{'task':<6} {'method':<8} {'k':>4} {'runs':>4} {'best':>7} {'dev':>7} {'test':>7} {'sd':>5}"
              f" {'range':>13} {'widths':<{ww}} {'epoch s':>9} {'linbwd s':>9} {'speed-up':>8} {'updated':>8}  settings where groups differ (else folder)")
    lines = [header, "-" * len(header)]
    for r in rows:
        epochs = [e for e in r["best_epochs"] if e is not None]
        best = "-" if not epochs else str(epochs[0]) if min(epochs) == max(epochs) else f"{min(epochs)}-{max(epochs)}"
        widths, speedup, updated = _shared_cells(r)
        spread = f"{r['test_min']:.2f}-{r['test_max']:.2f}"
        sd = f"{r['test_sd']:.2f}" if r["runs"] > 1 else "-"  # one run has no spread
        lines.append(
            f"{r['task']:<6} {r['method']:<8} {r['k'] if r['k'] is not None else '-':>4} {r['runs']:>4} {best:>7}"
            f" {_score(r['dev']):>7} {_score(r['test']):>7} {sd:>5} {spread:>13} {widths:<{ww}}"
            f" {r['epoch_s']:>9.1f} {r['linear_backward_s']:>9.2f} {speedup:>8} {updated:>8}  {r['settings'] or r['run']}"
        )
    return "\n".join(lines)


def write_report(rows, path, left_out=None):
    doc = {"runs": rows}
    if left_out is not None:
        doc["left_out"] = left_out
    write_json(doc, path)


def _widths_column(rows):
    """The widths column's width: its longest cell, at least 12."""
    return max([12] + [len(_shared_cells(r)[0]) for r in rows])


def _shared_cells(row):
    """The widths, speed-up and updated-fraction cells of a row (either table)."""
    widths = ",".join(str(w) for w in row["hidden_sizes"]) if row["hidden_sizes"] else "-"
    speedup = f"{row['backprop_speedup']:.1f}x" if row["backprop_speedup"] is not None else "-"
    updated = f"{100 * row['updated_fraction']:.1f}%" if row["updated_fraction"] is not None else "-"
    return widths, speedup, updated


def _score(value):
    return "-" if value is None else f"{value:.2f}"
