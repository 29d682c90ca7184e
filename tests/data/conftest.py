"""Fixtures of the data tests: the real raw folders and one prepared-data folder per session."""

import pathlib
import subprocess
import sys

import pytest

from mesimp_engine.data.conllu import read_conllu

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
def prepared(tmp_path_factory, shared_data):
    """A data folder with mnist.npz and ud_ewt.npz made by the two prepare scripts from the
    real files, and the scripts' standard outputs."""
    out = tmp_path_factory.mktemp("prepared")
    stdout = {}
    for dataset in ("mnist", "ud_ewt"):
        result = run_script(f"prepare_{dataset}.py", "--source", str(shared_data),
                            "--out", str(out), "--no-download")
        assert result.returncode == 0, result.stderr
        stdout[dataset] = result.stdout
    return out, stdout
