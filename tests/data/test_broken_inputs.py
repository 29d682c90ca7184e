"""Every broken input gives a one-line DataError naming file and line, from the reader and
from the prepare scripts (exit 1, one ``error:`` line, nothing written)."""

import pytest

from mesimp_engine.data.conllu import read_conllu
from mesimp_engine.data.errors import DataError
from mesimp_engine.data.idx import read_idx
from tests.data.conftest import BROKEN, run_script

# file -> (line named in the message or None, words the message must contain)
IDX_CASES = {
    "truncated.idx.gz": (None, "truncated gzip"),
    "wrong_magic.idx": (None, "wrong IDX magic number 0x00000703"),
    "short_payload.idx": (None, "IDX payload too short"),
    "empty.idx": (None, "too short for an IDX header (0 bytes)"),
}
CONLLU_CASES = {
    "nine_columns.conllu": (10, "expected 10 tab-separated columns, found 9"),
    "nonnumeric_head.conllu": (4, "HEAD 'x3' of word 2 is not a non-negative integer"),
    "head_out_of_range.conllu": (6, "HEAD 7 of word 4 out of range 0..4"),
    "two_roots.conllu": (5, "second root: words 2 and 3 both have HEAD 0"),
    "cycle.conllu": (4, "cycle in heads: 2 -> 4 -> 2"),
    "empty.conllu": (None, "no sentences"),
}


def check_message(error, name, line, words):
    path = str(BROKEN / name)
    where = path if line is None else f"{path}:{line}"
    message = str(error)
    assert message.startswith(where + ": "), message
    assert words in message
    assert "\n" not in message
    assert error.line == line


@pytest.mark.parametrize("name", sorted(IDX_CASES))
def test_idx_reader_rejects(name):
    with pytest.raises(DataError) as caught:
        read_idx(BROKEN / name)
    check_message(caught.value, name, *IDX_CASES[name])


@pytest.mark.parametrize("name", sorted(CONLLU_CASES))
def test_conllu_reader_rejects(name):
    with pytest.raises(DataError) as caught:
        read_conllu(BROKEN / name)
    check_message(caught.value, name, *CONLLU_CASES[name])


def link_all(target_dir, source_dir, names):
    for name in names:
        (target_dir / name).symlink_to(source_dir / name)


@pytest.mark.parametrize("name", sorted(IDX_CASES))
def test_prepare_mnist_script_fails_cleanly(name, tmp_path, mnist_dir):
    source = tmp_path / "raw"
    source.mkdir()
    link_all(source, mnist_dir, ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                                 "t10k-labels-idx1-ubyte.gz"])
    (source / "train-images-idx3-ubyte.gz").symlink_to(BROKEN / name)
    out = tmp_path / "out"
    result = run_script("prepare_mnist.py", "--source", str(source), "--out", str(out),
                        "--no-verify", "--no-download")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "train-images-idx3-ubyte.gz: " in lines[0] and IDX_CASES[name][1] in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("name", sorted(CONLLU_CASES))
def test_prepare_ud_ewt_script_fails_cleanly(name, tmp_path, ewt_dir):
    source = tmp_path / "raw"
    source.mkdir()
    link_all(source, ewt_dir, ["en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu"])
    (source / "en_ewt-ud-train.conllu").symlink_to(BROKEN / name)
    out = tmp_path / "out"
    out.mkdir()
    result = run_script("prepare_ud_ewt.py", "--source", str(source), "--out", str(out),
                        "--no-verify", "--no-download")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    line, words = CONLLU_CASES[name]
    where = "en_ewt-ud-train.conllu" + ("" if line is None else f":{line}:")
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert where in lines[0] and words in lines[0]
    assert list(out.iterdir()) == []


def test_hash_mismatch_fails_without_no_verify(tmp_path, ewt_dir):
    source = tmp_path / "raw"
    source.mkdir()
    link_all(source, ewt_dir, ["en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu"])
    (source / "en_ewt-ud-train.conllu").symlink_to(BROKEN / "cycle.conllu")
    result = run_script("prepare_ud_ewt.py", "--source", str(source), "--out",
                        str(tmp_path / "out"), "--no-download")
    assert result.returncode == 1
    assert "SHA-256 mismatch" in result.stderr and "--no-verify" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_source_fails(tmp_path):
    result = run_script("prepare_mnist.py", "--source", str(tmp_path / "nowhere"),
                        "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: raw mnist files")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
