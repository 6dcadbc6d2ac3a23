"""A change and its audit record commit together: kill the process at every write point.

Each case runs a real `faceledger` command (or a real `faceledger serve`) with
``FACELEDGER_FAULT`` naming one point of the unit of work (``faceledger.faults.POINTS``); the
process SIGKILLs itself there. Then `audit-log verify` reopens the data folder (which appends
what the outbox holds) and checks the chain and the store against the log: every stored face
has the record that stored it, no record claims a face that is not stored, and no event is
appended twice.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from faceledger.faults import POINTS
from faceledger.runtime import Runtime
from faceledger.service.consistency import check_store_against_log
from faceledger.settings import Settings
from faceledger.store import open_store

WRITE_POINTS = [p for p in POINTS if p != "unit.decided"] + ["unit.decided"]


def cli(data_dir: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FACELEDGER_FAULT"}
    if fault:
        env["FACELEDGER_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "faceledger", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def state(data_dir: Path) -> tuple[list, list, list[str]]:
    """(problems of verify, stored face ids, operations of faces.* records), after a reopen
    (which appends what the outbox holds, as any process opening the folder does)."""
    with Runtime.open(Settings.resolve(data_dir)) as runtime:
        problems = runtime.auditlog.verify().problems
        problems += check_store_against_log(runtime.store, runtime.auditlog)
        faces = [f for *_, f in runtime.store.iter_face_ids()]
        assert runtime.store.staged_events() == [], "opening flushed the outbox"
        records = list(runtime.auditlog.records())
    ops = [r.body["operation"] for r in records if r.body["operation"].startswith("faces.")]
    event_ids = [r.body["event_id"] for r in records if r.body.get("event_id")]
    assert len(event_ids) == len(set(event_ids)), "an event was appended twice"
    return [str(p) for p in problems], faces, ops


@pytest.fixture()
def folder(tmp_path: Path, backend) -> Path:
    """A data folder with a collection, on SQLite and on PostgreSQL (``backend``)."""
    assert cli(tmp_path, "admin", "init").returncode == 0
    assert cli(tmp_path, "collection", "create", "people").returncode == 0
    return tmp_path


@pytest.mark.parametrize("point", WRITE_POINTS)
def test_kill_while_indexing_leaves_no_face_without_its_record(
    folder: Path, portraits: list[Path], point: str
) -> None:
    run = cli(folder, "index", "people", str(portraits[0]), "--consent", "c1", fault=point)
    assert run.returncode == -signal.SIGKILL, (point, run.returncode, run.stderr)
    problems, faces, ops = state(folder)
    assert problems == []
    committed = point not in ("unit.decided", "store.before_commit")
    assert len(faces) == (1 if committed else 0), point
    records = [op for op in ops if op == "faces.index"]
    assert len(records) == len(faces), f"{point}: {len(faces)} face(s), {len(records)} record(s)"
    if point == "store.after_commit":  # resumable: a rerun skips it and everything agrees
        assert cli(folder, "index", "people", str(portraits[0]), "--consent", "c1").returncode == 0
        problems, faces, ops = state(folder)
        assert problems == [] and len(faces) == 1


@pytest.mark.parametrize(
    "point", ["store.before_commit", "store.after_commit", "audit.after_append"]
)
def test_kill_while_deleting(folder: Path, portraits: list[Path], point: str) -> None:
    assert cli(folder, "index", "people", str(portraits[1]), "--consent", "c1").returncode == 0
    _, (face_id,), _ = state(folder)
    run = cli(folder, "faces", "delete", "people", face_id, fault=point)
    assert run.returncode == -signal.SIGKILL
    problems, faces, ops = state(folder)
    assert problems == []
    assert ("faces.delete" in ops) == (faces == []), (point, faces, ops)


def test_verify_catches_a_face_stored_behind_the_service(folder: Path, portraits, engine) -> None:
    """What the issue saw: a face in the store with no record. verify now says so."""
    tenant = json.loads(cli(folder, "admin", "list-orgs", "--json").stdout)[0]["id"]
    with open_store(folder / "faceledger.sqlite3") as store:
        store.add_image_faces(
            tenant, "people", image_sha256="0" * 64, external_image_id=None,
            faces=engine.represent(portraits[2]),
        )  # fmt: skip
    verify = cli(folder, "audit-log", "verify")
    assert verify.returncode == 1
    assert "unrecorded-face" in verify.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_killed_after_commit_records_the_face_on_restart(
    folder: Path, portraits: list[Path]
) -> None:
    """The issue's scenario over real HTTP: the server dies right after the store commit."""
    key = (folder / "cli-key").read_text().strip()
    port = _free_port()
    env = {**os.environ, "FACELEDGER_FAULT": "store.after_commit"}
    server = subprocess.Popen(
        [sys.executable, "-m", "faceledger", "serve", "--data-dir", str(folder),
         "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        with pytest.raises(httpx.HTTPError):
            httpx.post(
                f"{base}/v1/collections/people/faces",
                headers={"Authorization": f"Bearer {key}"},
                files={"image": portraits[3].read_bytes()},
                data={"consent": "c3"},
                timeout=60,
            )
        assert server.wait(timeout=30) == -signal.SIGKILL
    finally:
        if server.poll() is None:
            server.kill()
    problems, faces, ops = state(folder)
    assert problems == [] and len(faces) == 1 and ops.count("faces.index") == 1
