"""``results.json``: what a run reports, written atomically."""

from mesimp_engine.bench.harness import environment
from mesimp_engine.atomic_file import write_json


def best_epoch(history):
    """The epoch with the best dev score (the earliest on ties), as the papers select."""
    return max(history, key=lambda e: (e["dev"], -e["epoch"])) if history else None


def results_document(settings, history, model, extra=None):
    best = best_epoch(history)
    steps = sum(e["steps"] for e in history)
    updated = sum(e["updated_fraction"] * e["steps"] for e in history) / steps if steps else None
    return {
        "task": settings.task,
        "method": settings.method,
        "k": settings.k,
        "settings": settings.as_dict(),
        "epochs": history,
        "best_epoch": best["epoch"] if best else None,
        "dev": best["dev"] if best else None,
        "test": best["test"] if best else None,
        "updated_fraction": updated,
        "parameters": model.num_parameters(),
        "hidden_sizes": model.hidden_sizes(),
        "environment": environment(),
        **(extra or {}),
    }


def write_results(path, document):
    write_json(document, path)
