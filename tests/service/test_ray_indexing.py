"""Bulk indexing on Ray: the same faces as the local worker processes, one audit record per
image, kill-safe and resumable.

One real local Ray cluster (2 CPUs) for the module, started by ``RayExecutor`` as the CLI starts
one, with its temporary folder under /tmp (short: its sockets live there), no dashboard, no
usage statistics, and a token of its own (nothing written to ~/.ray). In-process CLI runs use
this process's connection; the kill test's real `faceledger index --ray-address` subprocesses
join the cluster as drivers of their own.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from test_crash_consistency import cli, state
from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.errors import ImageError
from faceledger.runtime import Runtime
from faceledger.service.indexing import _embed_file
from faceledger.settings import Settings
from faceledger.store import SQLiteStore
from testdata import CONGRESS, PORTRAITS

runner = CliRunner()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[tuple[object, str]]:
    """(the executor that started the module's cluster, the cluster's address)."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed: pip install 'faceledger[ray]'")
    assert "ray" not in sys.modules, "Ray reads its token settings once, when imported"
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_TMPDIR", str(temp))
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        env.setenv("RAY_AUTH_MODE", "token")
        env.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        env.delenv("RAY_ADDRESS", raising=False)
        from faceledger.engine.ray_batch import RayExecutor

        executor = RayExecutor(num_cpus=2)
        try:
            assert executor.cpus() == 2
            yield executor, executor.ray.get_runtime_context().gcs_address
        finally:
            executor.close()
            assert not executor.ray.is_initialized()
            shutil.rmtree(temp, ignore_errors=True)


def run(*args: str, ok: bool = True):  # noqa: ANN201
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def initialized(data: Path) -> Path:
    run("admin", "init", "--data-dir", str(data))
    run("collection", "create", "people", "--data-dir", str(data))
    return data


def stored(data: Path) -> dict[str, tuple[list[dict], list[np.ndarray]]]:
    """Each image's stored faces (records without ids and times) and embeddings, by SHA-256."""
    out: dict[str, tuple[list[dict], list[np.ndarray]]] = {}
    with SQLiteStore(data / "faceledger.sqlite3") as store:
        for tenant, collection, face_id in store.iter_face_ids():
            (record,) = store.list_faces(tenant, collection, face_ids=[face_id]).items
            embedding = store.get_embeddings(tenant, collection, [face_id])[face_id]
            face = {k: v for k, v in record.to_dict().items() if k not in ("face_id", "created_at")}
            faces, embeddings = out.setdefault(record.image_sha256, ([], []))
            faces.append(face)
            embeddings.append(embedding)
    return out


@pytest.mark.sqlite_only("two data folders in one test share its database")
def test_ray_indexes_the_faces_local_processes_index(ray_cluster, tmp_path: Path) -> None:
    local, on_ray = initialized(tmp_path / "local"), initialized(tmp_path / "ray")
    index = ("index", "people", str(CONGRESS), "--json", "--consent", "c-1")
    out_local = run(*index, "--workers", "1", "--data-dir", str(local)).stdout.splitlines()
    out_ray = run(*index, "--ray", "--workers", "2", "--data-dir", str(on_ray)).stdout.splitlines()
    lines_local, lines_ray = [json.loads(x) for x in out_local], [json.loads(x) for x in out_ray]
    assert lines_ray[-1]["summary"] == lines_local[-1]["summary"]
    assert lines_ray[-1]["summary"]["indexed_faces"] == len(PORTRAITS)

    def strip(line: dict) -> dict:  # face ids are new on every run
        return {**line, "face_records": [{**r, "face_id": 0, "created_at": 0}
                                         for r in line.get("face_records", [])]}  # fmt: skip

    assert [strip(x) for x in lines_ray] == [strip(x) for x in lines_local], "same order, faces"
    faces_local, faces_ray = stored(local), stored(on_ray)
    assert faces_ray.keys() == faces_local.keys() and len(faces_ray) == len(PORTRAITS)
    for digest, (records, embeddings) in faces_ray.items():
        assert records == faces_local[digest][0]
        for mine, theirs in zip(embeddings, faces_local[digest][1], strict=True):
            np.testing.assert_allclose(mine, theirs, atol=1e-4)

    problems, face_ids, _ = state(on_ray)
    assert problems == []
    with Runtime.open(Settings.resolve(on_ray)) as runtime:
        records = [r.body for r in runtime.auditlog.records()]
    indexed = [r for r in records if r["operation"] == "faces.index"]
    assert len(indexed) == len(PORTRAITS), "one record per image"
    assert sorted(d for r in indexed for d in r["image_sha256"]) == sorted(faces_ray)
    assert sorted(f for r in indexed for f in r["outcome"]["face_ids"]) == sorted(face_ids)


def test_ray_executor_keeps_order_and_puts_errors_in_place(ray_cluster, tmp_path: Path) -> None:
    executor, _ = ray_cluster
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(PORTRAITS[0].read_bytes()[:200])
    items = [str(PORTRAITS[1]), str(tmp_path / "missing.jpg"), str(corrupt), str(PORTRAITS[2])]
    task = partial(_embed_file, max_faces=5, quality_filter="NONE")
    results = list(executor.map(items, task, progress=False))
    assert [item for item, _ in results] == items
    good, missing, bad, other = (r for _, r in results)
    assert isinstance(missing, ImageError) and missing.code == "file_not_found"
    assert isinstance(bad, ImageError)
    assert len(good[1]) == len(other[1]) == 1 and good[0] != other[0]


def test_an_address_nothing_listens_at_is_named_at_once(tmp_path: Path) -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    started = time.monotonic()
    result = runner.invoke(app, ["index", "people", str(CONGRESS), "--ray-address",
                                 f"127.0.0.1:{port}", "--data-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in result.stderr
    assert "ray start --head" in result.stderr
    assert time.monotonic() - started < 10, "Ray alone retries for minutes"


def test_without_ray_the_option_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: import fails
    result = runner.invoke(app, ["index", "people", str(CONGRESS), "--ray", "--data-dir",
                                 str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1
    assert "Ray is not installed: pip install 'faceledger[ray]'" in result.stderr
    assert not (tmp_path / "faceledger.sqlite3").exists(), "stopped before anything was opened"


def test_ray_index_killed_mid_run_resumes_without_duplicates(ray_cluster, tmp_path: Path) -> None:
    """The driver dies right after its third commit (the record still in the outbox) while Ray
    computes the next images; a rerun on the cluster finishes the folder."""
    _, address = ray_cluster
    data = initialized(tmp_path)
    index = ("index", "people", str(CONGRESS), "--ray-address", address, "--consent", "c-1")
    killed = cli(data, *index, fault="store.after_commit@3")
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    assert killed.stdout.count("indexed ") == 2  # the third was committed, never printed
    problems, faces, ops = state(data)
    assert problems == [] and len(faces) == 3 and ops.count("faces.index") == 3

    resumed = cli(data, *index)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(PORTRAITS)} images: 3 faces indexed, 0 not indexed, 3 skipped" in resumed.stdout
    problems, faces, ops = state(data)
    assert problems == []
    assert len(faces) == len(set(faces)) == len(PORTRAITS), "one face per portrait, no duplicate"
    assert ops.count("faces.index") == len(PORTRAITS), "every face has its record, once"
