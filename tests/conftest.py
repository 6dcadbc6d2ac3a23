"""Shared fixtures: the public-domain portraits in tests/fixtures and the optional shared data.

Helpers (paths, ``encode``, ``rgb``, ``group_photo``) live in ``testdata.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import pg_testserver
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
def pg_base(tmp_path_factory) -> Path:
    """Where the session's PostgreSQL server keeps its data (started on first use)."""
    return tmp_path_factory.mktemp("postgres", numbered=False)


SUITE_BACKEND = os.environ.get("FACELEDGER_TEST_BACKEND", "sqlite")
"""``FACELEDGER_TEST_BACKEND=postgresql`` runs the whole suite on PostgreSQL: every module and
every test gets a fresh database (tests that choose with ``backend`` still run both)."""


@pytest.fixture(scope="module", autouse=True)
def _module_database(pg_base):
    if SUITE_BACKEND != "postgresql":
        yield
        return
    before = os.environ.get("FACELEDGER_DATABASE_URL")
    os.environ["FACELEDGER_DATABASE_URL"] = pg_testserver.fresh_database(pg_base)
    yield
    if before is None:
        os.environ.pop("FACELEDGER_DATABASE_URL", None)
    else:
        os.environ["FACELEDGER_DATABASE_URL"] = before


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only(reason): skipped when the suite runs on PostgreSQL, with the reason (a test"
        " of the SQLite files themselves, or of two data folders in one test)",
    )


@pytest.fixture(autouse=True)
def _test_database(request, monkeypatch, pg_base):
    if SUITE_BACKEND != "postgresql" or "backend" in request.fixturenames:
        return
    marker = request.node.get_closest_marker("sqlite_only")
    if marker is not None:
        pytest.skip(f"on PostgreSQL: {marker.args[0]}")
    monkeypatch.setenv("FACELEDGER_DATABASE_URL", pg_testserver.fresh_database(pg_base))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, monkeypatch, pg_base) -> str | None:
    """Run a test on both engines: PostgreSQL gets a fresh database named by
    ``FACELEDGER_DATABASE_URL`` (so stores, CLI and servers the test starts all use it);
    the value is that URL, or None for the SQLite files in the data folder."""
    if request.param == "sqlite":
        monkeypatch.delenv("FACELEDGER_DATABASE_URL", raising=False)
        return None
    url = pg_testserver.fresh_database(pg_base)
    monkeypatch.setenv("FACELEDGER_DATABASE_URL", url)
    return url


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


@pytest.fixture(scope="session", autouse=True)
def audit_logs_hold_no_biometric_data(tmp_path_factory):
    """After the whole suite: every audit record any test wrote under its temporary folders is
    scanned for embeddings and image bytes (only hashes, ids and scores may be logged)."""
    yield
    import sqlite3

    from faceledger.governance.privacy import biometric_leaks

    leaks, scanned = [], 0
    for path in tmp_path_factory.getbasetemp().rglob("governance.sqlite3"):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT seq, record FROM audit_log").fetchall()
        except sqlite3.Error:
            continue
        finally:
            conn.close()
        for seq, text in rows:
            scanned += 1
            leaks += [f"{path} #{seq} {p}" for p in biometric_leaks(json.loads(text))]
    assert not leaks, "audit records hold biometric data:\n" + "\n".join(leaks[:20])
