"""``results.json``: what a run reports (the trainer writes it atomically)."""

from mesimp_engine.environment import environment


def best_point(history):
    """The evaluation point with the best dev score (the earliest on ties), as the papers
    select: ``{epoch, step, dev, test}``, or None. An epoch's points are its mid-epoch
    ``evaluations`` (``--evals-per-epoch``; the authors' C# MNIST code evaluates 11 times
    an epoch and reports the test score at the best dev point), else its end."""
    points = [
        {"epoch": e["epoch"], "step": point["step"], "dev": point["dev"], "test": point["test"]}
        for e in history
        for point in e.get("evaluations") or [{"step": e["steps"], "dev": e["dev"], "test": e["test"]}]
    ]
    return max(points, key=lambda p: (p["dev"], -p["epoch"], -p["step"])) if points else None


def results_document(settings, history, model, extra=None):
    best = best_point(history)
    steps = sum(e["steps"] for e in history)
    updated = sum(e["updated_fraction"] * e["steps"] for e in history) / steps if steps else None
    return {
        "task": settings.task,
        "method": settings.method,
        "k": settings.k,
        "settings": settings.as_dict(),
        "epochs": history,
        "best_epoch": best["epoch"] if best else None,
        "best_step": best["step"] if best else None,
        "dev": best["dev"] if best else None,
        "test": best["test"] if best else None,
        "updated_fraction": updated,
        "parameters": model.num_parameters(),
        "hidden_sizes": model.hidden_sizes(),
        "environment": environment(),
        **(extra or {}),
    }

