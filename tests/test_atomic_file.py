"""Atomic writes and the clean-up of what a killed writer leaves."""

import os

import pytest

from mesimp_engine.atomic_file import atomic_write, remove_temporaries


def test_a_failed_write_leaves_nothing_and_the_old_file_intact(tmp_path):
    path = tmp_path / "a.bin"
    atomic_write(path, lambda f: f.write(b"old"))

    def fail(f):
        f.write(b"new, half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.bin"]


def test_remove_temporaries_deletes_only_the_writers_temporaries(tmp_path):
    (tmp_path / ".tmp-x1").write_bytes(b"")
    (tmp_path / ".tmp-y2").write_bytes(b"")
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "tmp-not-ours").write_text("")
    assert remove_temporaries(str(tmp_path)) == [".tmp-x1", ".tmp-y2"]
    assert sorted(os.listdir(tmp_path)) == ["results.json", "tmp-not-ours"]
    assert remove_temporaries(str(tmp_path)) == []
