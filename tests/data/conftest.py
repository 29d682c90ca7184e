"""Fixtures of the data tests: the real raw folders and one prepared-data folder per session."""

import pathlib

import pytest

from mesimp_engine.data.conllu import read_conllu
from mesimp_engine.data.prepared import prepare_mnist, prepare_ud_ewt

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


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, shared_data):
    """A data folder with mnist.npz and ud_ewt.npz prepared from the real files, and the
    two summaries."""
    out = tmp_path_factory.mktemp("prepared")
    summaries = {"mnist": prepare_mnist(out, source=shared_data),
                 "ud_ewt": prepare_ud_ewt(out, source=shared_data)}
    return out, summaries
