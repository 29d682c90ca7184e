"""Run the rows of a table or figure (resuming what an interrupted call left) and write
``OUT/<table>.md`` and ``OUT/<table>.json``: the published numbers and ours side by side;
for a figure also ``OUT/<table>.png`` (the paper's points and ours) when matplotlib is
installed (the ``plot`` extra).

Each row is an ordinary training run under ``OUT/<row>/`` (its ``results.json`` and
checkpoint), so a call that is interrupted goes on where it stopped when repeated, tables
that share a row (``Row.run_name``) train it once, and ``mesimp-engine report`` reads the
rows' folders like any run's. Scores are the test score at the best dev epoch, as the papers
select; times are means per epoch; backprop is the linear layers' backward, and its
speed-up is the dense row's over the meProp row's of the same group (the paper's, as
printed, from its two times). Tables 7 and 8 keep no runs: their rows are timings (of the
kernels; of training steps), measured anew on every call.
"""

import functools
import json
import os
import time

import numpy as np

from mesimp_engine.atomic_file import atomic_write, output_folder, write_json
from mesimp_engine.environment import environment
from mesimp_engine.reproduce.jobs import HEARTBEAT_S, finished_line, started_line, threads_per_job, train_runs
from mesimp_engine.reproduce.render import markdown, plot_curves, plot_sweep
from mesimp_engine.reproduce.tables import PROTOCOLS, TABLE8_SETTINGS, TABLES, protocol_settings
from mesimp_engine.train.build import build_run, make_extension
from mesimp_engine.train.loop import TIMES, Trainer
from mesimp_engine.train.report import mean_times
from mesimp_engine.train.settings import TrainSettings


def row_settings(row, scales, out, data_dir, seed=1, progress=False, protocol="defaults"):
    """The training settings of one row at one scale (``scales``: the table's settings for
    it, per task): the row's own settings over the scale's, the papers' defaults otherwise;
    with ``protocol`` "authors", MNIST rows train as the authors' C# program does
    (``PROTOCOLS``)."""
    overrides = {**protocol_settings(protocol, row), **scales[row.task], **row.overrides()}
    return TrainSettings(task=row.task, method=row.method, k=row.k, optimizer=row.optimizer, seed=seed,
                         out=os.path.join(out, row.run_name(scales[row.task])), data_dir=data_dir,
                         progress=progress, **overrides).resolve()


def train_row(settings, log, heartbeat_s=None):
    """Train (or finish, or just read) the run of one row; its results document. ``log``
    gets the run's lines (one per epoch, and a progress line every ``heartbeat_s`` seconds
    when given)."""
    task, model, optimizer, rngs = build_run(settings)
    extension = make_extension(settings, task, model, optimizer, log=log)
    trainer = Trainer(task, model, optimizer, settings, rngs, log=log, extension=extension, heartbeat_s=heartbeat_s)
    if trainer.resume() and trainer.epoch > settings.epochs:
        return trainer.results()
    return trainer.fit()


SEEDED_KINDS = ("pairs", "timing", "scores")
"""The kinds of table ``seeds`` applies to: tables of trained runs' scores and times (a figure
plots one seed's runs; tables 7 and 8 time kernels and steps)."""


def reproduce(table, scale="quick", out="runs/reproduce", data_dir="data", seed=1, log=print, progress=False,
              protocol="defaults", jobs=1, seeds=None):
    """Run every row of ``table`` at ``scale``; write ``TABLE.md`` and ``TABLE.json`` under
    ``out`` and return the JSON document. ``progress``: a progress bar per epoch (one run
    at a time only); ``protocol``: "defaults" or "authors" (``PROTOCOLS``); ``jobs``: runs
    trained at a time, each in a process of its own (``reproduce.jobs``; the timing tables,
    7 and 8, measure in this process whatever ``jobs`` says). ``seeds``: two or more seeds
    instead of ``seed`` (``SEEDED_KINDS``): each seed's rows run under ``OUT/seed<S>/``, as a
    call with that seed and that ``out`` would (with that seed's table there), and
    ``OUT/TABLE.md`` gives the rows' means over the seeds (``over_seeds``)."""
    spec = TABLES[table]
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if seeds is not None:
        return _reproduce_seeds(table, spec, scale, out, data_dir, list(seeds), log, progress, protocol, jobs)
    claim = {"scale": scale, "seed": seed, "protocol": protocol}
    _claim(out, claim)
    if spec["kind"] == "bench":
        rows = _measure_rows(spec, scale, seed, log)
    elif spec["kind"] == "steps":
        rows = _time_steps(spec, scale, data_dir, seed, log)
    else:
        runs = _row_runs(spec, scale, out, data_dir, seed, progress and jobs == 1, protocol)
        rows = _rows(spec, runs, _train(runs, jobs, log))
    return _write(table, spec, out, rows, claim, jobs, log)


def _reproduce_seeds(table, spec, scale, out, data_dir, seeds, log, progress, protocol, jobs):
    """``reproduce`` with ``seeds``: every seed's runs trained together, ``jobs`` at a time."""
    if spec["kind"] not in SEEDED_KINDS:
        raise ValueError(f"--seeds is for the tables of trained scores (table1-table6, mesimp); {table} "
                         f"{'plots one seed' if spec['kind'] in ('sweep', 'curves') else 'times kernels'}: give --seed")
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"--seeds needs two or more different seeds of at least 0, got {seeds}")
    _claim(out, {"scale": scale, "seeds": "a folder each", "protocol": protocol})
    per_seed = []
    for seed in seeds:
        folder, claim = os.path.join(out, f"seed{seed}"), {"scale": scale, "seed": seed, "protocol": protocol}
        _claim(folder, claim)
        per_seed.append((claim, folder, _row_runs(spec, scale, folder, data_dir, seed, progress and jobs == 1, protocol)))
    docs = iter(_train([run for _, _, runs in per_seed for run in runs], jobs, log))
    tables = []
    for claim, folder, runs in per_seed:
        rows = _rows(spec, runs, [next(docs) for _ in runs])
        tables.append(_write(table, spec, folder, rows, claim, jobs, lambda line: None))
    claim = {"scale": scale, "seed": None, "seeds": seeds, "protocol": protocol}
    return _write(table, spec, out, over_seeds([t["rows"] for t in tables]), claim, jobs, log)


def _write(table, spec, out, rows, claim, jobs, log):
    """The table's document (``claim``: its scale, seed or seeds and protocol): speed-ups
    added, written as ``TABLE.json`` and ``TABLE.md`` (and a figure's ``TABLE.png``) under
    ``out``, and returned."""
    if spec["kind"] in ("pairs", "timing"):
        _add_speedups(rows)
    document = {"table": table, "kind": spec["kind"], "title": spec["title"], **claim, "rows": rows,
                "environment": environment()}
    if jobs > 1 and spec["kind"] not in ("bench", "steps"):
        document["jobs"] = {"jobs": jobs, "threads": threads_per_job(jobs)}
    write_json(document, os.path.join(out, f"{table}.json"))  # out exists: _claim made it
    text = markdown(document)
    atomic_write(os.path.join(out, f"{table}.md"), lambda f: f.write(text.encode()))
    if spec["kind"] in ("sweep", "curves"):
        path = os.path.join(out, f"{table}.png")
        draw = plot_sweep if spec["kind"] == "sweep" else plot_curves
        log(f"wrote {path}" if draw(document, path) else
            f"{table}.png not drawn: matplotlib is not installed (pip install 'mesimp_engine[plot]')")
    return document


def _row_runs(spec, scale, out, data_dir, seed, progress, protocol):
    """(label, settings) of every row's run under ``out``."""
    runs = []
    for row in spec["rows"]:
        settings = row_settings(row, spec["scales"][scale], out, data_dir, seed, progress, protocol)
        runs.append((f"{row.group} {row.model_label(settings.hidden)}", settings))
    return runs


def _train(runs, jobs, log):
    """Train (or read) the runs, ``jobs`` at a time (``reproduce.jobs``); their results."""
    if jobs == 1:
        return _train_serially(runs, log)
    return train_runs(functools.partial(train_row, heartbeat_s=HEARTBEAT_S), runs, jobs, log)


def _rows(spec, runs, docs):
    """The rows of the table's document, from its runs' settings and results."""
    rows = []
    for row, (_, settings), doc in zip(spec["rows"], runs, docs):
        ours = {"best_epoch": doc["best_epoch"], "dev": doc["dev"], "test": doc["test"],
                "hidden_sizes": doc["hidden_sizes"], **epoch_times(doc["epochs"]), "run": settings.out}
        if spec["kind"] == "curves":
            ours.update(curves(doc, settings))
        rows.append({"group": row.group, "model": row.model_label(settings.hidden), "task": row.task,
                     "optimizer": row.optimizer, "method": row.method, "k": row.k, "hidden": settings.hidden,
                     "layers": settings.layers, "dropout": settings.dropout, "batch_size": settings.batch_size,
                     "series": row.series, "percent": row.percent, "published": dict(row.published), "ours": ours})
    return rows


def _train_serially(runs, log):
    """Train (or read) the runs one after another in this process, with its threads."""
    docs = []
    for i, (label, settings) in enumerate(runs, 1):
        log(started_line(i, len(runs), label, settings))
        start = time.perf_counter()
        doc = train_row(settings, lambda line: log(f"      {line}"))
        log(f"      {finished_line(doc, start)}")
        docs.append(doc)
    return docs


def _measure_rows(spec, scale, seed, log):
    """Time the backward of one linear layer (``bench.backprop.measure_case``: dense BLAS,
    unified and per-example meProp, each validated first) at the scale's shape for every
    k of the table; the rows of its document. Nothing is saved between calls: a repeated
    call measures again."""
    from mesimp_engine.bench.backprop import measure_case

    B, n_in, n_out = spec["scales"][scale]["shape"]
    repeats = spec["scales"][scale]["repeats"]
    rng = np.random.default_rng(seed)
    rows = []
    for i, (k, published) in enumerate(spec["rows"], 1):
        log(f"[{i}/{len(spec['rows'])}] {B} x {n_in} -> {n_out}, k = {k}: dense, unified and per-example "
            f"backward, {repeats} rounds in turns")
        times = {name: t["median_s"] for name, t in measure_case(B, n_in, n_out, k, repeats, rng).items()}
        ours = {"dense_s": times["dense"], "unified_s": times["unified"], "per_example_s": times["per_example"],
                "speedup": times["dense"] / times["unified"],
                "per_example_speedup": times["dense"] / times["per_example"]}
        log(f"      dense {1e3 * ours['dense_s']:.2f} ms, unified {1e3 * ours['unified_s']:.2f} ms "
            f"({ours['speedup']:.1f}x), per-example {1e3 * ours['per_example_s']:.2f} ms ({ours['per_example_speedup']:.1f}x)")
        rows.append({"k": k, "shape": [B, n_in, n_out], "published": dict(published), "ours": ours})
    return rows


def _time_steps(spec, scale, data_dir, seed, log):
    """Time the backward of training steps of one MNIST MLP (``TABLE8_SETTINGS`` at the
    scale's width), its hidden layers switched between dense back propagation, unified
    meProp (the paper's) and per-example meProp (the engine's CPU method) at each k of the
    table (``_step_times``). The rows of the table's document: per method, medians per step
    of the overall backward and of its linear layers' part, and the overall backward of an
    epoch of the scale's data at that median (``epoch_backward_s``)."""
    cfg = spec["scales"][scale]
    settings = TrainSettings(task="mnist", method="dense", seed=seed, hidden=cfg["hidden"], data_dir=data_dir,
                             limit_train=cfg.get("limit_train"), out=os.devnull, progress=False,
                             **TABLE8_SETTINGS).resolve()
    methods = [(None, "dense")] + [(k, mode) for k, _ in spec["rows"] if k for mode in STEP_MODES]
    log(f"MLP 784-{cfg['hidden']}x{settings.layers}-10, mini-batch {settings.batch_size}: "
        f"{cfg['warmup'] + cfg['steps']} rounds of {len(methods)} methods in turns, two training steps each, "
        f"the second timed (from round {cfg['warmup'] + 1})")
    samples, steps_per_epoch = _step_times(settings, methods, cfg["warmup"], cfg["steps"])

    def measured(method):
        overall, linear = (float(np.median(values)) for values in samples[method])
        return {"backward_s": overall, "linear_backward_s": linear, "epoch_backward_s": overall * steps_per_epoch}

    dense = measured((None, "dense"))
    rows = []
    for k, published in spec["rows"]:
        ours = {"steps_per_epoch": steps_per_epoch, "steps": cfg["steps"]}
        if k is None:
            ours.update(dense, speedup=None, linear_speedup=None)
        else:
            for mode in STEP_MODES:
                m = measured((k, mode))
                prefix = "" if mode == "unified" else "per_example_"
                ours.update({prefix + key: value for key, value in m.items()})
                ours[prefix + "speedup"] = dense["backward_s"] / m["backward_s"]
                ours[prefix + "linear_speedup"] = dense["linear_backward_s"] / m["linear_backward_s"]
        rows.append({"k": k, "hidden": settings.hidden, "layers": settings.layers, "batch_size": settings.batch_size,
                     "dropout": settings.dropout, "published": dict(published), "ours": ours})
    return rows


def _step_times(settings, methods, warmup, steps):
    """Train one model of ``settings`` with its hidden layers' back propagation switched
    among ``methods`` ((k, mode); k None: dense), one method after another on the same
    mini-batch in each round, so that a change in the machine's load reaches every method
    alike. Each method takes two training steps a round and the second is timed, as a step
    follows one of its own in training: right after a dense step, whose products leave BLAS
    threads spinning, the next step's backward took 2-3x as long (a pause before each step
    instead made every time longer and more erratic: the threads' wake-up). Each step is a
    whole training step (forward, backward, Adam), so the model trains on, mixing the
    methods. Returns ({method: (overall backward seconds, linear layers' seconds), one per
    timed round}, steps in an epoch of the settings' data)."""
    task, model, optimizer, rngs = build_run(settings)
    trainer = Trainer(task, model, optimizer, settings, rngs)
    order = trainer.epoch_order(1)
    batches = len(order) // settings.batch_size
    if batches < 1:
        raise ValueError(f"table8 needs at least one mini-batch of {settings.batch_size} training examples")
    samples = {method: ([], []) for method in methods}
    for round_ in range(warmup + steps):
        start = (round_ % batches) * settings.batch_size
        batch = task.batch(order[start:start + settings.batch_size])
        for k, mode in methods:
            for layer in model.hidden_layers:
                layer.k = k
                if k:
                    layer.mode = mode
            for _ in range(2):
                times = dict.fromkeys(TIMES, 0.0)
                trainer.train_step(batch, times)
            if round_ >= warmup:
                samples[k, mode][0].append(times["backward"])
                samples[k, mode][1].append(times["linear_backward"])
    return samples, trainer.steps_per_epoch


STEP_MODES = ("unified", "per_example")
"""The meProp methods Table 8 times at each k: the paper's, and the engine's on a CPU."""


def _claim(out, mine):
    """Record in ``OUT/reproduce.json`` what the runs ``out`` holds are (``mine``: scale, seed
    or seeds, protocol), or refuse other runs (its rows would mix with runs of other
    settings, or stop at the first whose settings differ)."""
    path = os.path.join(out, "reproduce.json")
    if os.path.exists(path):
        with open(path) as f:
            theirs = {"protocol": "defaults", **json.load(f)}
        if theirs != mine:
            def says(claim):
                return ", ".join(f"{key} {claim[key]}" for key in ("scale", "seed", "seeds", "protocol") if key in claim)

            raise ValueError(f"{out} holds the runs of {says(theirs)}: give another --out for {says(mine)}")
        return
    output_folder(out)
    write_json(mine, path)


def over_seeds(rows_by_seed):
    """The rows of several seeds' documents of one table (``rows_by_seed``, one list a seed,
    the rows in the same order) as one: each row's ``ours`` is the mean over the seeds of
    every number (so a speed-up here is the mean times' ratio: ``_add_speedups``), with
    ``dev_sd`` and ``test_sd`` the seeds' sample standard deviations, ``best_epoch`` the
    seeds' range ("14-20"), ``hidden_sizes`` each layer's mean width and ``seeds`` every
    seed's own numbers."""
    rows = []
    for same in zip(*rows_by_seed):
        ours = [r["ours"] for r in same]
        mean = {}
        for key, value in ours[0].items():
            values = [o[key] for o in ours]
            if key == "best_epoch":
                low, high = min(values), max(values)
                mean[key] = str(low) if low == high else f"{low}-{high}"
            elif key == "hidden_sizes":
                mean[key] = [round(float(np.mean(widths)), 1) for widths in zip(*values)]
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and None not in values:
                mean[key] = float(np.mean(values))
        for key in ("dev", "test"):
            mean[f"{key}_sd"] = float(np.std([o[key] for o in ours], ddof=1))
        mean["seeds"] = ours
        rows.append({**same[0], "ours": mean})
    return rows


def curves(doc, settings):
    """A figure's per-epoch lines from a run's results: dev and test, training loss and the
    average absolute update (``--record-update``); for meAct, the epoch it starts and the
    share of units active each epoch."""
    epochs = [{"epoch": e["epoch"], "dev": e["dev"], "test": e["test"], "train_loss": e["train_loss"],
               "mean_abs_update": e.get("mean_abs_update")} for e in doc["epochs"]]
    lines = {"epochs": epochs}
    if settings.method == "meact":
        lines["meact_start"] = settings.meact_start
        for line, record in zip(epochs, doc["meact"]["epochs"]):
            line["active_share"] = record["active_share"]
    return lines


def epoch_times(epochs):
    """A run's mean seconds per epoch: ``forward_s`` (graph build and forward, as the
    paper's forward), ``backward_s``, ``update_s``, ``total_s`` (the four) and
    ``linear_backward_s`` (the linear layers' share of the backward, the paper's "backprop")."""
    mean = mean_times(epochs)
    return {"forward_s": mean["build"] + mean["forward"], "backward_s": mean["backward"], "update_s": mean["update"],
            "total_s": mean["build"] + mean["forward"] + mean["backward"] + mean["update"],
            "linear_backward_s": mean["linear_backward"]}


def _add_speedups(rows):
    """Each meProp row's speed-ups over the dense row of its group: ``speedup`` of the
    linear-layer backward, ``backward_speedup`` of the whole backward (None for the dense
    rows, as in the paper)."""
    dense = {r["group"]: r for r in rows if r["method"] == "dense"}
    for r in rows:
        base = dense.get(r["group"]) if r["method"] != "dense" else None
        for key, seconds in (("speedup", "linear_backward_s"), ("backward_speedup", "backward_s")):
            ours = r["ours"][seconds]
            r["ours"][key] = base["ours"][seconds] / ours if base and ours > 0 else None
