"""Fixtures of the data tests: the real raw folders and one prepared-data folder per session."""

import pathlib
import subprocess
import sys

import pytest

from mesimp_engine.data.conllu import read_conllu
from mesimp_engine.data.idx import read_idx

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
BROKEN = FIXTURES / "broken"


@pytest.fixture(scope="session")
def mnist_dir(shared_data):
    return shared_data / "mnist"


@pytest.fixture(scope="session")
def ewt_dir(shared_data):
    return shared_data / "ud-english-ewt"


@pytest.fixture(scope="session")
def ewt_train(ewt_dir):
    return read_conllu(ewt_dir / "en_ewt-ud-train.conllu")


def run_script(script, *args):
    """Run data_scripts/<script> in a subprocess; returns the CompletedProcess."""
    return subprocess.run([sys.executable, str(REPO / "data_scripts" / script), *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def mnist_train_raw(mnist_dir):
    """The 60,000 raw training images (uint8 (60000, 28, 28)) and labels, read once."""
    return (read_idx(mnist_dir / "train-images-idx3-ubyte.gz"),
            read_idx(mnist_dir / "train-labels-idx1-ubyte.gz"))


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, shared_data):
    """A data folder with mnist.npz and ud_ewt.npz made by the two prepare scripts (run side
    by side) from the real files, and the scripts' standard outputs."""
    out = tmp_path_factory.mktemp("prepared")
    running = {dataset: subprocess.Popen(
        [sys.executable, str(REPO / "data_scripts" / f"prepare_{dataset}.py"),
         "--source", str(shared_data), "--out", str(out), "--no-download"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for dataset in ("mnist", "ud_ewt")}
    stdout = {}
    for dataset, process in running.items():
        out_text, err_text = process.communicate(timeout=300)
        assert process.returncode == 0, err_text
        stdout[dataset] = out_text
    return out, stdout
