"""Schema migrations (Alembic) of both databases, on both engines; the database URL setting."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from faceledger.errors import FaceledgerError
from faceledger.governance.db import GovernanceDB
from faceledger.sql import migrate
from faceledger.sql.postgres import translate
from faceledger.sql.url import database_url, redacted
from faceledger.store import open_store

pytestmark = pytest.mark.usefixtures("backend")  # SQLite and PostgreSQL


def test_heads_are_alembic_heads() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    for kind in migrate.KINDS:
        config = Config()
        config.set_main_option("script_location", f"faceledger:migrations/{kind}")
        assert ScriptDirectory.from_config(config).get_heads() == [migrate.HEADS[kind]]


def _revision(kind: str, store_or_db) -> str | None:
    conn = store_or_db._conn if kind == "store" else store_or_db.connection()
    return migrate.current(conn, kind, postgres=getattr(store_or_db, "url", None) is not None)


def test_opening_migrates_to_head_and_refuses_a_newer_database(tmp_path: Path, backend) -> None:
    store = open_store(tmp_path / "faceledger.sqlite3")
    db = GovernanceDB(tmp_path / "governance.sqlite3")
    assert _revision("store", store) == migrate.HEADS["store"]
    assert _revision("governance", db) == migrate.HEADS["governance"]
    # written by a newer faceledger: a revision this one does not know
    store._conn.execute("UPDATE alembic_version_store SET version_num = 's9999'")
    store.close()
    with pytest.raises(FaceledgerError, match="newer faceledger"):
        open_store(tmp_path / "faceledger.sqlite3")
    db.close()


def test_a_database_one_revision_behind_is_upgraded(tmp_path: Path, backend) -> None:
    store = open_store(tmp_path / "faceledger.sqlite3")
    store._conn.execute("UPDATE alembic_version_store SET version_num = 's0001'")
    if backend:  # s0002 adds the vector column on PostgreSQL: undo it first
        store._conn.execute("ALTER TABLE faces DROP COLUMN embedding_v")
    store.close()
    again = open_store(tmp_path / "faceledger.sqlite3")
    assert _revision("store", again) == migrate.HEADS["store"]
    assert again._pgvector if backend else True
    again.close()


def test_many_processes_opening_a_new_sqlite_file_at_once(tmp_path: Path, backend) -> None:
    if backend:
        pytest.skip("PostgreSQL serializes migrations with an advisory lock (same code path)")
    import subprocess
    import sys

    code = (
        "import sys; from faceledger.store import open_store; from faceledger.governance.db"
        " import GovernanceDB; open_store(sys.argv[1] + '/faceledger.sqlite3').close();"
        " GovernanceDB(sys.argv[1] + '/governance.sqlite3').close()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    conn = sqlite3.connect(tmp_path / "faceledger.sqlite3")
    assert conn.execute("SELECT count(*) FROM alembic_version_store").fetchone() == (1,)


def test_database_url_setting(monkeypatch) -> None:
    monkeypatch.delenv("FACELEDGER_DATABASE_URL", raising=False)
    assert database_url() is None
    assert database_url("sqlite:") is None
    assert database_url("postgres://u:p@h/db") == "postgresql://u:p@h/db"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(FaceledgerError, match="must be a postgresql://"):
        database_url("mysql://u@h/db")
    assert redacted("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://nobody:pw@/nodb?host=" + str(tmp_path)  # no server listens there
    with pytest.raises(FaceledgerError, match=r"cannot connect to PostgreSQL .*:\*\*\*@"):
        open_store(tmp_path / "x.sqlite3", url=url)


def test_placeholders_are_translated_outside_strings() -> None:
    assert translate("SELECT ? WHERE a LIKE 'x%?' AND b = ?") == (
        "SELECT %s WHERE a LIKE 'x%%?' AND b = %s"
    )
