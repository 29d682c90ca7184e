"""Shared fixtures: the real data folder and optional PyTorch."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """The raw data sets beside the checkout (``../shared/data``), or ``$MESIMP_DATA``."""
    root = pathlib.Path(os.environ.get("MESIMP_DATA", SHARED_DATA))
    if not root.is_dir():
        pytest.skip(f"real data not found at {root}")
    return root


@pytest.fixture(scope="session")
def prepared_data(shared_data, tmp_path_factory):
    """A prepared-data folder for training tests (MNIST prepared once per session)."""
    from mesimp_engine.data.prepared import prepare_mnist

    out = tmp_path_factory.mktemp("prepared")
    prepare_mnist(out, source=shared_data)
    return out


@pytest.fixture(scope="session")
def prepared_ewt(shared_data, tmp_path_factory):
    """A prepared-data folder holding UD English EWT (prepared once per session)."""
    from mesimp_engine.data.prepared import prepare_ud_ewt

    out = tmp_path_factory.mktemp("prepared_ewt")
    prepare_ud_ewt(out, source=shared_data)
    return out
