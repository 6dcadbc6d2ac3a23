"""Shared fixtures: the public-domain portraits in tests/fixtures and the optional shared data.

Helpers (paths, ``encode``, ``rgb``, ``group_photo``) live in ``testdata.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from faceledger import Engine
from faceledger.datasets import data_root
from testdata import (  # noqa: F401 - re-exported for older imports
    CONGRESS,
    FIXTURES,
    PORTRAITS,
    dataset,
    encode,
    group_photo,
    rgb,
)


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="session")
def portraits() -> list[Path]:
    assert len(PORTRAITS) >= 6, "tests/fixtures/congress must hold the six portraits"
    return PORTRAITS


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared research datasets, or skip: they are never stored in the repository."""
    root = data_root()
    if root is None or not root.is_dir():
        pytest.skip("shared face datasets not found: set FACELEDGER_DATA or place ../shared/data")
    return root
