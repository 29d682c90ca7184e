"""Atomic file writes: results and checkpoints are never left half-written."""

import json
import os
import tempfile


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary binary file beside ``path``, then rename it to
    ``path``; on any error the temporary file is removed and ``path`` is untouched."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
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


def write_json(document, path):
    """``document`` as indented JSON at ``path``, atomically."""
    atomic_write(path, lambda f: f.write((json.dumps(document, indent=2) + "\n").encode()))
