"""The data folder is its owner's alone: the folder 0700, every file in it 0600 (the SQLite
files with their -wal and -shm, the CLI's key), whatever the umask lets others read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from faceledger.api import create_app
from faceledger.governance import GovernanceDB
from faceledger.settings import store_path
from faceledger.store import SQLiteStore

runner = CliRunner()

pytestmark = pytest.mark.sqlite_only("the modes of the SQLite files in the data folder")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_folder_is_private(tmp_path: Path, portraits, engine, umask_022) -> None:
    from faceledger.cli.app import app

    home = tmp_path / "deep" / "home"
    env = {"FACELEDGER_HOME": str(home)}

    def run(*args: str) -> None:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)

    run("admin", "init")
    run("collection", "create", "people")
    run("index", "people", str(portraits[0]), "--consent", "c-1", "--workers", "1")
    # while the databases are open (and written), their -wal and -shm files exist too
    store = SQLiteStore(store_path(home))
    db = GovernanceDB(home / "governance.sqlite3")
    app_ = create_app(home, engine=engine)
    try:
        store.create_collection("t", "other", "m")
        files = sorted(p for p in home.rglob("*"))
        names = {p.name for p in files}
        assert {"cli-key", "faceledger.sqlite3", "governance.sqlite3"} <= names
        assert {"faceledger.sqlite3-wal", "governance.sqlite3-wal"} <= names
        assert {"faceledger.sqlite3-shm", "governance.sqlite3-shm"} <= names
        assert _mode(home) == 0o700
        loose = {p.name: oct(_mode(p)) for p in files if _mode(p) != 0o600 or not p.is_file()}
        assert loose == {}
        # the parents of a folder it creates are left as they would be
        assert _mode(home.parent) == 0o755
    finally:
        app_.state.close()
        store.close()
        db.close()


def test_sqlite_files_are_private_wherever_they_are(tmp_path: Path, umask_022) -> None:
    folder = tmp_path / "new"
    with SQLiteStore(folder / "store.sqlite3") as store:
        store.create_collection("t", "c", "m")
        db = GovernanceDB(folder / "gov.sqlite3")
        try:
            modes = {p.name: oct(_mode(p)) for p in folder.iterdir()}
        finally:
            db.close()
    assert modes == dict.fromkeys(  # .lock: held while a process migrates the schema
        [f"{n}.sqlite3{x}" for n in ("store", "gov") for x in ("", "-wal", "-shm", ".lock")],
        oct(0o600),
    )
    assert _mode(folder) == 0o700
