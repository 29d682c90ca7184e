"""What ``mesimp-engine reproduce`` writes from a table's document: the Markdown table
(the paper's columns, then ours) and, for a figure, the plot (matplotlib, the ``plot``
extra, imported only here)."""

from mesimp_engine.atomic_file import atomic_write


def markdown(document):
    """The table as Markdown: the paper's columns, then ours."""
    title = f"# {document['title']}"
    note = f"Scale `{document['scale']}`, {_seeds(document)}; {SCALE_NOTES[document['scale']]}"
    if document.get("protocol") == "authors":
        note += (" MNIST rows with the authors' protocol (`--protocol authors`: their initialisation, clipping at 5, "
                 "11 dev evaluations an epoch, their Adam eps).")
    if document.get("jobs"):
        note += (f" The runs this call trained ran {document['jobs']['jobs']} at a time, "
                 f"{document['jobs']['threads']} thread(s) each (`--jobs`): their times are under that load.")
    if any(r.get("task") in ("pos", "parse") for r in document["rows"]):
        note += " POS and parsing: UD English EWT (the paper: Penn Treebank)."
    render = {"pairs": _pairs_markdown, "timing": _timing_markdown, "scores": _scores_markdown,
              "bench": _bench_markdown, "steps": _steps_markdown, "sweep": _sweep_markdown,
              "curves": _curves_markdown}[document.get("kind", "pairs")]
    return render(document, title, note)


def _pairs_markdown(document, title, note):
    lines = [title, "", note + " Backprop: the paper's time, ours the linear layers' backward per epoch; the "
             "speed-up is over the dense row.", "",
             "| Task (optimizer) | Model | paper: iter | paper: backprop s | paper: dev | paper: test "
             "| ours: best epoch | ours: backprop s | ours: dev | ours: test |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in document["rows"]:
        p, o = r["published"], r["ours"]
        lines.append(f"| {r['group']} | {r['model']} | {p['iter']} | {p['backprop_s']:,.1f}{_times(p.get('speedup'))} "
                     f"| {p['dev']:.2f} | {p['test']:.2f} | {o['best_epoch']} "
                     f"| {o['linear_backward_s']:.2f}{_times(o['speedup'])} | {_score(o, 'dev')} | {_score(o, 'test')} |")
    return "\n".join(lines) + "\n"


def _timing_markdown(document, title, note):
    lines = [title, "", note + " Seconds per epoch. The paper's total is its forward and backward; ours adds "
             "the update (the optimizer's step), which its table leaves out, in a column of its own. Our "
             "forward includes building the graph. Speed-ups are the dense row's backward over the row's.", "",
             "| Task | Model | paper: forward | paper: backward | paper: total "
             "| ours: forward | ours: backward | ours: update | ours: total |",
             "|---|---|---|---|---|---|---|---|---|"]
    dense = {}
    for r in document["rows"]:
        p, o = r["published"], r["ours"]
        base = dense.setdefault(r["group"], p["backward_s"])
        paper_speedup = base / p["backward_s"] if r["method"] != "dense" else None
        lines.append(f"| {r['group']} | {r['model']} | {p['forward_s']:,.0f} | {p['backward_s']:,.0f}{_times(paper_speedup)} "
                     f"| {p['total_s']:,.0f} | {o['forward_s']:.2f} | {o['backward_s']:.2f}{_times(o['backward_speedup'])} "
                     f"| {o['update_s']:.2f} | {o['total_s']:.2f} |")
    return "\n".join(lines) + "\n"


def _scores_markdown(document, title, note):
    widths = any("dimension" in r["published"] for r in document["rows"])
    header = ["Group", "Model", *(["paper: dimension"] if widths else []), "paper: test", "ours: best epoch",
              "ours: dev", "ours: test", *(["ours: dimension (widths)"] if widths else [])]
    lines = [title, "", note + (" Dimension: the hidden width after simplification, averaged over the layers."
                                if widths else ""), "", _cells(header), _cells(["---"] * len(header))]
    for r in document["rows"]:
        p, o = r["published"], r["ours"]
        sizes = o["hidden_sizes"]
        lines.append(_cells([r["group"], r["model"], *([f"{p['dimension']:g}"] if widths else []), f"{p['test']:.2f}",
                             str(o["best_epoch"]), _score(o, "dev"), _score(o, "test"),
                             *([f"{sum(sizes) / len(sizes):.0f} ({', '.join(f'{w:g}' for w in sizes)})"]
                               if widths else [])]))
    return "\n".join(lines) + "\n"


def _bench_markdown(document, title, note):
    rows = document["rows"]
    B, n_in, n_out = rows[0]["shape"] if rows else (0, 0, 0)
    lines = [title, "", f"Scale `{document['scale']}`, seed {document['seed']}: our shape {B:,} x {n_in:,} -> {n_out:,} "
             "(the paper's 1,024 x 8,192 -> 8,192). The paper's times are on a GPU (dense: "
             f"{rows[0]['published']['dense_ms'] if rows else 0:.2f} ms); ours on this CPU, medians of rounds in turns, "
             "top-k selection and the bias gradient included. Speed-ups are over the dense backward of the same run.", "",
             _cells(["k", "paper: unified ms", "paper: speed-up", "ours: dense ms", "ours: unified ms",
                     "ours: per-example ms"]), _cells(["---"] * 6)]
    for r in rows:
        p, o = r["published"], r["ours"]
        lines.append(_cells([str(r["k"]), f"{p['ms']:.2f}", f"{p['speedup']:.1f}x", f"{1e3 * o['dense_s']:.2f}",
                             f"{1e3 * o['unified_s']:.2f}{_times(o['speedup'])}",
                             f"{1e3 * o['per_example_s']:.2f}{_times(o['per_example_speedup'])}"]))
    return "\n".join(lines) + "\n"


def _steps_markdown(document, title, note):
    rows = document["rows"]
    first = rows[0]  # the dense row: every row shares its model and step counts
    o0 = first["ours"]
    lines = [title, "",
             f"Scale `{document['scale']}`, seed {document['seed']}: MLP 784-{first['hidden']:,}x{first['layers']}-10 "
             f"(the paper's h = 8,192), mini-batch {first['batch_size']}, dropout {first['dropout']:g}, Adam, on MNIST. "
             "The paper's times are on a GPU; ours on this CPU: the whole backward (every op of the reverse pass) of "
             f"a training step, the median of {o0['steps']} steps, the methods taking turns step by step, and "
             f"the backward of an epoch of {o0['steps_per_epoch']:,} steps at that median (dense and unified). "
             "Speed-ups are over the dense row of the same run; \"linear layers\" is unified meProp's linear layers' "
             "part of the backward; per-example meProp (the engine's CPU method) is timed in the same turns. The "
             "paper's intermediate rows are not given here (-).", "",
             _cells(["k", "paper: backprop ms", "paper: speed-up", "ours: ms a step", "ours: s an epoch",
                     "ours: linear layers, ms a step", "ours: per-example, ms a step"]), _cells(["---"] * 7)]
    for r in rows:
        p, o = r["published"], r["ours"]
        per_example = o.get("per_example_backward_s")
        lines.append(_cells(["dense" if r["k"] is None else str(r["k"]),
                             f"{p['ms']:,.1f}" if p.get("ms") else "-",
                             f"{p['speedup']:.1f}x" if p.get("speedup") else "-",
                             f"{1e3 * o['backward_s']:.2f}{_times(o['speedup'])}", f"{o['epoch_backward_s']:.2f}",
                             f"{1e3 * o['linear_backward_s']:.2f}{_times(o['linear_speedup'])}",
                             "-" if per_example is None else
                             f"{1e3 * per_example:.2f}{_times(o['per_example_speedup'])}"]))
    return "\n".join(lines) + "\n"


def _seeds(document):
    """'seed 1', or for a table over several seeds what its numbers are."""
    seeds = document.get("seeds")
    if not seeds:
        return f"seed {document['seed']}"
    return (f"seeds {', '.join(map(str, seeds))}: each number is the mean over the seeds, +- the seeds' standard "
            "deviation for dev and test, the best epochs their range; each seed's own table is under seed<S>/")


def _score(ours, key):
    """A dev or test score, with the seeds' standard deviation when there are several."""
    sd = ours.get(f"{key}_sd")
    return f"{ours[key]:.2f}" if sd is None else f"{ours[key]:.2f} +- {sd:.2f}"


def _cells(values):
    return "| " + " | ".join(values) + " |"


def _sweep_markdown(document, title, note):
    lines = [title, "", note, "", "| series | k/h (%) | k or h | paper: test | ours: best epoch | ours: dev | ours: test |",
                      "|---|---|---|---|---|---|---|"]
    for r in document["rows"]:
        paper = r["published"].get("test")
        size = r["k"] if r["k"] else r["hidden"]
        lines.append(f"| {r['series']} | {r['percent']:g} | {size} | {'-' if paper is None else f'{paper:.2f}'} "
                     f"| {r['ours']['best_epoch']} | {r['ours']['dev']:.2f} | {r['ours']['test']:.2f} |")
    return "\n".join(lines) + "\n"


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or None when matplotlib is not
    installed (the ``plot`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _curve_rows(document):
    """(the dense row, the meAct row) of a curves document."""
    rows = {r["method"]: r for r in document["rows"]}
    return rows["dense"], rows["meact"]


def _after_start(row, start):
    return [e for e in row["ours"]["epochs"] if e["epoch"] >= start]


def _curves_markdown(document, title, note):
    dense, meact = _curve_rows(document)
    start = meact["ours"]["meact_start"]
    claims = meact["published"]
    lines = [title, "", note + f" Both runs share the seed; meAct starts at epoch {start}, so the lines coincide "
             f"before it. The paper's figure has lost its numbers; its claims: accuracy {claims['accuracy']}, and the "
             f"average absolute update {claims['update']}. Mean \\|dw\\|: the mean of \\|w_t - w_(t-1)\\| over every "
             "parameter and step of the epoch.", "",
             _cells(["epoch", "dense: dev", "dense: test", "dense: mean \\|dw\\|", "meAct: dev", "meAct: test",
                     "meAct: mean \\|dw\\|", "meAct: units active"]), _cells(["---"] * 8)]
    for d, m in zip(dense["ours"]["epochs"], meact["ours"]["epochs"]):
        lines.append(_cells([str(d["epoch"]), f"{d['dev']:.2f}", f"{d['test']:.2f}", f"{d['mean_abs_update']:.3g}",
                             f"{m['dev']:.2f}", f"{m['test']:.2f}", f"{m['mean_abs_update']:.3g}",
                             f"{100 * m['active_share']:.1f}%"]))
    d_after, m_after = _after_start(dense, start), _after_start(meact, start)
    if d_after and m_after:
        n = min(len(d_after), len(m_after))
        gap = sum(m["dev"] - d["dev"] for d, m in zip(d_after, m_after)) / n
        ratio = sum(m["mean_abs_update"] / d["mean_abs_update"] for d, m in zip(d_after, m_after)) / n
        lines += ["", f"From epoch {start} on ({n} epochs): meAct's dev accuracy minus dense's, on average "
                  f"{gap:+.2f} points; meAct's mean \\|dw\\| over dense's, on average {ratio:.2f}x."]
    return "\n".join(lines) + "\n"


def plot_curves(document, path):
    """Draw the meAct figure: dev accuracy and the average absolute update by epoch, dense and
    meAct, with meAct's start marked; False (nothing drawn) without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    from matplotlib.ticker import MaxNLocator

    dense, meact = _curve_rows(document)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for row, label, style in ((dense, "dense", "-o"), (meact, "meAct", "-s")):
        epochs = [e["epoch"] for e in row["ours"]["epochs"]]
        top.plot(epochs, [e["dev"] for e in row["ours"]["epochs"]], style, label=label)
        bottom.plot(epochs, [e["mean_abs_update"] for e in row["ours"]["epochs"]], style, label=label)
    for ax in (top, bottom):
        ax.axvline(meact["ours"]["meact_start"] - 0.5, color="gray", ls="--", lw=0.8)
        ax.legend(fontsize=8)
    top.set_ylabel("dev accuracy (%)")
    bottom.set_ylabel("mean |w_t - w_(t-1)|")
    bottom.set_yscale("log")
    bottom.set_xlabel("epoch")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_title(f"meSimp paper, the meAct figure (ours), scale {document['scale']}")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
    return True


def plot_sweep(document, path):
    """Draw the figure's series, the paper's dashed and ours solid, test accuracy against k/h
    on a log axis; False (nothing drawn) without matplotlib."""
    plt = _pyplot()
    if plt is None:
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
    return "" if speedup is None else f" ({speedup:.1f}x)"


SCALE_NOTES = {
    "smoke": "a few hundred examples and small hidden layers: checks the pipeline, not the numbers.",
    "quick": ("a tenth of the training data and a few epochs: minutes, not the papers' scores; on MNIST meProp's "
              "first epochs are unstable (docs/mnist-meprop.md), so only `full` shows the papers' comparison there."),
    "full": "the papers' settings on the full data.",
}
