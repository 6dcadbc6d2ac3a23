"""Store tests run on both backends."""

import pytest


@pytest.fixture(autouse=True)
def _on_both_backends(backend):
    """Every test here runs on SQLite and on PostgreSQL (tests/conftest.py: ``backend``)."""
    return backend
