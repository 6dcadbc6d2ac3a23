"""A real PostgreSQL for the tests: the ``pgserver`` wheel's server (with pgvector), started
once per test session in a temporary folder, and a fresh database per test.

``backend`` (tests/conftest.py) runs a test on both engines: on ``postgresql`` it points
``FACELEDGER_DATABASE_URL`` at a new, empty database, so everything the test opens (stores,
governance databases, CLI and server subprocesses) uses PostgreSQL.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

_server = None


def server(base: Path | None = None):
    """The session's PostgreSQL server (started on first use), or skip when unavailable."""
    global _server
    if _server is None:
        pgserver = pytest.importorskip("pgserver", reason="pip install pgserver (in [dev])")
        pytest.importorskip("psycopg", reason="pip install 'faceledger[postgres]'")
        os.environ.setdefault("XDG_RUNTIME_DIR", str(base or tempfile.gettempdir()))
        # Run as root, pgserver runs PostgreSQL as its own user, who must reach the folder:
        # not under pytest's 0700 temporary root, but a 0711 folder of its own.
        home = Path(tempfile.mkdtemp(prefix="faceledger-pg-"))
        home.chmod(0o711)
        _server = pgserver.get_server(home / "pgdata", cleanup_mode="delete")
        atexit.register(shutil.rmtree, home, True)
    return _server


def fresh_database(base: Path | None = None) -> str:
    """The URL of a new, empty database on the session's server."""
    import psycopg

    srv = server(base)
    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(srv.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return srv.get_uri(name)


def execute(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one statement on a test database as its owner (an attacker with the password)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params or None)
        return cur.fetchall() if cur.description else []


def another_database(url: str) -> str:
    """A new, empty database on the server ``url`` names."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, mark, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}{mark}{query}"


def world_database() -> str:
    """For a long-lived test world (a module- or session-scoped server): its own database
    when the suite runs on PostgreSQL (``FACELEDGER_TEST_BACKEND``), else "" (SQLite files).
    Put it in the world's environment, so its CLI calls and its server agree."""
    if os.environ.get("FACELEDGER_TEST_BACKEND") == "postgresql":
        return fresh_database()
    return ""
