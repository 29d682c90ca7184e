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
