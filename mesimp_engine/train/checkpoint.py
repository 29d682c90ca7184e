"""Checkpoints: the model, the optimizer state, the random generators and the progress,
in one ``.npz`` written atomically (a temporary file in the same folder, then rename), so
an interruption at any point leaves the previous checkpoint intact."""

import contextlib
import json
import os
import zipfile
import zlib

import numpy as np

from mesimp_engine.atomic_file import atomic_write


def save_checkpoint(path, model, rngs, progress, extra_arrays=None):
    """Write every parameter's value and optimizer state, the generators' states (name ->
    ``numpy.random.Generator``), ``progress`` (a JSON-able dict) and ``extra_arrays`` (name
    -> array, a method's own state) to ``path``."""
    arrays = {f"extra/{k}": v for k, v in (extra_arrays or {}).items()}
    steps = {}
    for name, p in model.named_parameters():
        arrays[f"value/{name}"] = p.value
        for key, v in p.state.items():
            if key == "step":
                steps[name] = int(v)
            else:
                arrays[f"state/{name}/{key}"] = v
    meta = {
        "progress": progress,
        "steps": steps,
        "rngs": {k: g.bit_generator.state for k, g in rngs.items()},
    }
    arrays["meta"] = np.array(json.dumps(meta))
    atomic_write(path, lambda f: np.savez(f, **arrays))


RESUME_HINT = "remove it to train the run from the start"


def read_progress(path):
    """The ``progress`` dict of the checkpoint at ``path`` (its settings among it), read
    without touching a model: a resumed run compares the settings before loading weights."""
    with _open(path, RESUME_HINT) as data, _damaged(path, RESUME_HINT):
        return json.loads(str(data["meta"]))["progress"]


def load_checkpoint(path, model, rngs):
    """Restore what ``save_checkpoint`` wrote into ``model`` (values and optimizer state; the
    parameter handles stay the same objects) and ``rngs``; return (progress, extra_arrays)."""
    with _open(path, RESUME_HINT) as data, _damaged(path, RESUME_HINT):
        meta = json.loads(str(data["meta"]))
        for name, p in model.named_parameters():
            p.replace(data[f"value/{name}"].copy())
            p.state.clear()
            prefix = f"state/{name}/"
            for key in data.files:
                if key.startswith(prefix):
                    p.state[key[len(prefix):]] = data[key].copy()
            if name in meta["steps"]:
                p.state["step"] = meta["steps"][name]
        extra = {k[len("extra/"):]: data[k].copy() for k in data.files if k.startswith("extra/")}
    for k, state in meta["rngs"].items():
        rngs[k].bit_generator.state = state
    return meta["progress"], extra


def load_model_values(run_dir, model, same=(), settings=None, defaults=None):
    """Set ``model``'s parameter values from the checkpoint of a finished run (its ``--out``
    folder, or the checkpoint file itself): the last epoch's weights, for GSM's start from a
    trained dense model. Names and shapes must match, and so must the settings named in
    ``same`` between that run and ``settings`` (a dict; a setting the run predates is read
    from ``defaults``); ValueError names what does not."""
    path = os.path.join(run_dir, "checkpoint.npz") if os.path.isdir(run_dir) else run_dir
    if not os.path.isfile(path):
        raise ValueError(f"{run_dir}: no checkpoint.npz (give a finished run's --out folder)")
    with _open(path, "give a finished run's --out folder") as data, _damaged(path, "train that run again"):
        theirs = {**(defaults or {}), **json.loads(str(data["meta"]))["progress"].get("settings", {})}
        for name in same:
            if theirs.get(name) != settings[name]:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{path} was trained with {flag} {theirs.get(name)}, this run has "
                                 f"{settings[name]}: they must agree")
        for name, p in model.named_parameters():
            key = f"value/{name}"
            if key not in data.files:
                raise ValueError(f"{path} has no parameter {name!r}: it is not a run of this model")
            if data[key].shape != p.shape:
                raise ValueError(f"{path}: {name} is {data[key].shape}, this model's is {p.shape} (same --widths?)")
            p.value[...] = data[key]


@contextlib.contextmanager
def _damaged(path, hint):
    """Reading a checkpoint's arrays: a damaged member (its CRC wrong, its data cut) or a
    missing one raises ValueError naming the file, with ``hint``."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as error:
        raise ValueError(f"{path} is damaged ({type(error).__name__}: {error}): {hint}") from None


def _open(path, hint):
    """The checkpoint at ``path`` opened (an ``NpzFile``), or ValueError naming the file when
    it is not one this engine wrote (a file cut short, another file under the name), with
    ``hint`` on what to do."""
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable checkpoint ({type(error).__name__}: {error}): {hint}") from None
    if not isinstance(data, np.lib.npyio.NpzFile) or "meta" not in data.files:
        if isinstance(data, np.lib.npyio.NpzFile):
            data.close()
        raise ValueError(f"{path} is not a checkpoint of this engine (no training state in it): {hint}")
    return data
