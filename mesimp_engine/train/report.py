"""Compare finished runs: one row per ``results.json``, as the papers' Table 1 lays them out.

For each run: task, method and k, the best dev epoch and its dev and test scores, the final
hidden widths and parameter count, the mean seconds per epoch (whole epoch, and the
linear-layer backward alone, the papers' "backprop time"), the fraction of weights updated
per step, and the linear-backward speed-up over the dense run of the same task when one is
among the runs compared (the papers' "69.2x" column). Epoch times are means over the epochs
run, so runs of different lengths compare; they are only comparable between runs made on
the same machine under the same load.
"""

import json
import os

from mesimp_engine.atomic_file import write_json

PHASES = ("build", "forward", "backward", "update")


class ReportError(ValueError):
    """A file that is not a readable results.json (named in the message)."""


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


def summarize(doc):
    """The row of one run (a dict of plain values)."""
    epochs = doc["epochs"]
    n = len(epochs) or 1
    mean = {phase: sum(e["time"][phase] for e in epochs) / n for phase in PHASES + ("linear_backward",)}
    return {
        "run": doc["path"],
        "task": doc["task"],
        "method": doc["method"],
        "k": doc.get("k"),
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


def report(docs):
    """Rows for the runs, with ``backprop_speedup`` = the dense run's mean linear-backward
    time over this run's (None when the task has no dense run among ``docs``)."""
    rows = [summarize(doc) for doc in docs]
    dense = {}
    for row in rows:
        if row["method"] == "dense":
            dense.setdefault(row["task"], row)
    for row in rows:
        base = dense.get(row["task"])
        ok = base is not None and row["linear_backward_s"] > 0
        row["backprop_speedup"] = base["linear_backward_s"] / row["linear_backward_s"] if ok else None
    return rows


def format_table(rows):
    """The rows as an aligned text table."""
    header = (f"{'task':<6} {'method':<8} {'k':>4} {'ep':>3} {'best':>4} {'dev':>7} {'test':>7} {'widths':<12}"
              f" {'params':>10} {'epoch s':>9} {'linbwd s':>9} {'speed-up':>8} {'updated':>8}  run")
    lines = [header, "-" * len(header)]
    for r in rows:
        widths = ",".join(str(w) for w in r["hidden_sizes"]) if r["hidden_sizes"] else "-"
        speedup = f"{r['backprop_speedup']:.1f}x" if r["backprop_speedup"] is not None else "-"
        updated = f"{100 * r['updated_fraction']:.1f}%" if r["updated_fraction"] is not None else "-"
        lines.append(
            f"{r['task']:<6} {r['method']:<8} {r['k'] if r['k'] is not None else '-':>4} {r['epochs']:>3}"
            f" {r['best_epoch'] if r['best_epoch'] is not None else '-':>4} {_score(r['dev']):>7} {_score(r['test']):>7}"
            f" {widths:<12} {r['parameters'] or 0:>10,} {r['epoch_s']:>9.1f} {r['linear_backward_s']:>9.2f}"
            f" {speedup:>8} {updated:>8}  {r['run']}"
        )
    return "\n".join(lines)


def write_report(rows, path):
    write_json({"runs": rows}, path)


def _score(value):
    return "-" if value is None else f"{value:.2f}"
