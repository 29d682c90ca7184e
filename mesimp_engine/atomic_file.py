"""Atomic file writes: results and checkpoints are never left half-written."""

import glob
import json
import os
import tempfile

TEMPORARY_PREFIX = ".tmp-"


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary binary file beside ``path``, then rename it to
    ``path``; on any error the temporary file is removed and ``path`` is untouched."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMPORARY_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def output_folder(path, flag="--out"):
    """Create the folder ``path`` (and its parents) unless it exists, before any work goes
    into it; ValueError naming ``flag`` when it cannot be a folder (a file by that name, a
    file on the way, no permission)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path} is a file: give a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{flag} {path} cannot be a folder: {error.strerror}") from None


def output_file(path, flag="--json"):
    """Check that ``path`` can be written as a file (not an existing folder, no file on the
    way to it); ValueError naming ``flag`` if not."""
    if os.path.isdir(path):
        raise ValueError(f"{flag} {path} is a folder: give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"{flag} {path}: {folder} is a file, not a folder")


def write_json(document, path):
    """``document`` as indented JSON at ``path``, atomically."""
    atomic_write(path, lambda f: f.write((json.dumps(document, indent=2) + "\n").encode()))


def remove_temporaries(folder):
    """Delete the temporary files that a writer killed mid-write (SIGKILL, power loss) left
    in ``folder``; returns their names. Only for a folder one process owns, such as a
    training run's ``--out`` when it resumes."""
    stale = glob.glob(os.path.join(glob.escape(folder), TEMPORARY_PREFIX + "*"))
    for path in stale:
        os.remove(path)
    return sorted(os.path.basename(p) for p in stale)
