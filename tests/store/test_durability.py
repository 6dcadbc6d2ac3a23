"""Nothing acknowledged is lost: SIGKILL a real `faceledger index` run, reopen, check, resume.

Also: readers (another process's store, other threads) keep working while one writer indexes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from store_helpers import embed_portraits, jittered, sha

from faceledger.datasets.lfw import identities
from faceledger.governance import GovernanceDB, Principals
from faceledger.store import open_store
from faceledger.store.index import brute_force
from testdata import dataset

pytestmark = pytest.mark.usefixtures("backend")  # SQLite and PostgreSQL

ACKS_BEFORE_KILL = 24
KILL_AFTER_S = 40.0


def _cli(*args: str, data_dir: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "faceledger", *args, "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches the workers too
        **kw,
    )


@pytest.fixture
def request_cleanup():
    """Kill what a test started even when it fails half-way (the indexer and its workers)."""
    started: list[subprocess.Popen] = []
    yield started.append
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_sigkill_mid_index_loses_nothing_acknowledged_and_rerun_resumes(
    tmp_path: Path, shared_data: Path, engine, request_cleanup
) -> None:
    lfw = dataset(shared_data, "lfw")
    people = identities(lfw)
    paths = [str(lfw / "lfw-deepfunneled" / p) for v in people.values() for p in v][:3000]
    store_file = tmp_path / "faceledger.sqlite3"
    init = _cli("admin", "init", data_dir=tmp_path)
    assert init.wait(timeout=60) == 0, init.stderr.read()
    gov = GovernanceDB(tmp_path / "governance.sqlite3")
    tenant = Principals(gov).get_org("local").id  # the CLI's organization
    gov.close()
    with open_store(store_file) as s:
        s.create_collection(tenant, "lfw", engine.model_id)

    proc = _cli(
        "index", "lfw", *paths, "--json", "--workers", "2", "--consent", "test",
        data_dir=tmp_path,
    )  # fmt: skip
    request_cleanup(proc)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    # a reader in this process searches and lists while the writer commits
    observer = open_store(store_file)
    probe = embed_portraits(engine, [Path(paths[0])])[0][2].embedding
    counts, searches = [], 0
    deadline = time.monotonic() + KILL_AFTER_S
    while len(lines) < ACKS_BEFORE_KILL and time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"index exited early: {proc.stderr.read()}")
        counts.append(observer.describe_collection(tenant, "lfw").face_count)
        observer.search(tenant, "lfw", probe, k=5)
        observer.list_faces(tenant, "lfw", limit=50)
        searches += 1
        time.sleep(0.05)
    assert len(lines) >= ACKS_BEFORE_KILL, "the indexer acknowledged too little in time"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    reader.join(timeout=10)
    observer.close()
    assert counts == sorted(counts), "readers saw the count grow monotonically"
    assert searches > 3

    acked = []  # whole lines only: a line cut by the kill was not acknowledged
    for line in lines:
        if line.endswith("\n"):
            item = json.loads(line)
            if "face_records" in item:
                acked.append(item)
    acked_faces = {f["face_id"]: item["image"] for item in acked for f in item["face_records"]}
    assert len(acked) >= ACKS_BEFORE_KILL - 1 and acked_faces
    assert len(acked) < len(paths), "the run was killed part-way"

    with open_store(store_file) as s:
        assert s.check_consistency(tenant, "lfw") == []
        info = s.describe_collection(tenant, "lfw")
        listed = {f.face_id for f in s.list_faces(tenant, "lfw", limit=4096).items}
        assert set(acked_faces) <= listed, "every acknowledged face is stored"
        emb = s.get_embeddings(tenant, "lfw", list(acked_faces))
        for face_id, vec in list(emb.items())[:40]:
            hits = s.search(tenant, "lfw", vec, k=3)
            assert face_id in {h.face.face_id for h in hits if h.distance == 0.0}
        before = info.face_count

    # rerun over the acknowledged images and a few more: acknowledged ones are skipped
    done = len(acked)
    rerun = _cli(
        "index", "lfw", *paths[: done + 4], "--json", "--consent", "test", data_dir=tmp_path
    )
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    items = [json.loads(x) for x in out.splitlines()]
    by_image = {i["image"]: i for i in items if "image" in i}
    assert all(by_image[item["image"]]["skipped"] for item in acked)
    for item in acked:
        assert by_image[item["image"]]["existing_face_ids"] == [
            f["face_id"] for f in item["face_records"]
        ]
    new = sum(len(i["face_records"]) for i in by_image.values())
    with open_store(store_file) as s:
        assert s.describe_collection(tenant, "lfw").face_count == before + new
        assert s.check_consistency(tenant, "lfw") == []
        images = s.indexed_images(tenant, "lfw")
        assert len(images) == len(set(images)), "no image indexed twice"


def test_readers_in_threads_keep_working_while_one_writer_indexes(
    tmp_path: Path, engine, portraits
) -> None:
    base = embed_portraits(engine, portraits[:1])[0][2]
    path = tmp_path / "s.sqlite3"
    writer, reading = open_store(path), open_store(path)
    writer.create_collection("t", "c", base.model_id)
    written: list[np.ndarray] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(600):
                f = jittered(base, i, 0.1)
                writer.add_image_faces("t", "c", image_sha256=sha(i), external_image_id=None,
                                       faces=[f])  # fmt: skip
                written.append(f.embedding)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    seen: list[int] = []

    def read() -> None:
        try:
            while not stop.is_set():
                hits = reading.search("t", "c", base.embedding, k=10)
                n = reading.describe_collection("t", "c").face_count
                assert len(hits) <= min(10, n)
                seen.append(n)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(seen) > 5 and max(seen) <= 600
    hits = reading.search("t", "c", base.embedding, k=10)
    V = np.array(written)
    expected = brute_force(base.embedding, np.arange(len(V)), V, 10)
    assert [round(h.distance, 9) for h in hits] == [round(d, 9) for _, d in expected]
    writer.close()
    reading.close()
