"""A video search job survives a restart of a real ``faceledger serve``: submitted to a server
without a worker, it is run by the next server's worker from the store."""

from __future__ import annotations

import time

import httpx
import pytest

pytest.importorskip("av")

from test_api_serve import _init  # noqa: E402

from faceledger.runtime import Runtime  # noqa: E402
from faceledger.settings import Settings  # noqa: E402
from served import Served  # noqa: E402
from testdata import PORTRAITS  # noqa: E402
from videodata import Appearance, clip  # noqa: E402


def test_a_queued_job_is_run_after_the_server_restarts(tmp_path) -> None:
    _home, env, key = _init(tmp_path)
    h = {"Authorization": f"Bearer {key}", "X-Purpose": "research", "X-Case-Ref": "r-9"}
    footage = clip(tmp_path / "door.mkv", [Appearance(PORTRAITS[2], 0.5, 1.5, speed=0)],
                   seconds=2, size=(400, 300))  # fmt: skip
    server = Served(env, "--video-workers", "0")
    try:
        base = server.base
        r = httpx.post(
            f"{base}/v1/collections", json={"collection_id": "door"}, headers=h, timeout=60
        )
        assert r.status_code == 201, r.text
        image = {"image": ("p.jpg", PORTRAITS[2].read_bytes(), "image/jpeg")}
        r = httpx.post(f"{base}/v1/collections/door/faces", files=image,
                       data={"consent": "c-9"}, headers=h, timeout=60)  # fmt: skip
        assert r.status_code == 201, r.text
        face_id = r.json()["face_records"][0]["face_id"]
        video = {"video": ("door.mkv", footage.read_bytes(), "video/x-matroska")}
        r = httpx.post(f"{base}/v1/collections/door/video-searches", files=video, headers=h,
                       timeout=60)  # fmt: skip
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        time.sleep(1)
        r = httpx.get(f"{base}/v1/video-searches/{job_id}", headers=h, timeout=60)
        assert r.json()["status"] == "queued", "no worker in this server"
    finally:
        server.stop()
    server = Served(env)  # with its worker
    try:
        deadline = time.monotonic() + 90
        while True:
            r = httpx.get(f"{server.base}/v1/video-searches/{job_id}", headers=h, timeout=60)
            body = r.json()
            if body["status"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        server.stop()
    assert body["status"] == "succeeded", body
    (track,) = body["tracks"]
    assert abs(track["first_timestamp_ms"] - 500) <= 500 and track["last_timestamp_ms"] <= 1500
    assert [m["face"]["face_id"] for m in track["matches"]] == [face_id]


def _wait(base: str, h: dict[str, str], job_ids: list[str], seconds: float = 120) -> list[dict]:
    deadline = time.monotonic() + seconds
    while True:
        bodies = [
            httpx.get(f"{base}/v1/video-searches/{j}", headers=h, timeout=60).json()
            for j in job_ids
        ]
        if all(b["status"] not in ("queued", "running") for b in bodies):
            return bodies
        assert time.monotonic() < deadline, bodies
        time.sleep(0.5)


def test_a_job_killed_mid_footage_continues_from_its_checkpoint(tmp_path) -> None:
    """``serve`` killed (SIGKILL) right after a running job's first checkpoint: the next server
    continues the job after that sample, and its results are those of an uninterrupted run of
    the same footage, recorded once."""
    home, env, key = _init(tmp_path)
    h = {"Authorization": f"Bearer {key}", "X-Purpose": "research", "X-Case-Ref": "r-9"}
    footage = clip(tmp_path / "door.mkv", [Appearance(PORTRAITS[2], 0.5, 1.5, speed=0),
                                           Appearance(PORTRAITS[3], 3.6, 5.0, speed=20)],
                   seconds=6, size=(400, 300))  # fmt: skip
    video = {"video": ("door.mkv", footage.read_bytes(), "video/x-matroska")}
    crashing = Served({**env, "FACELEDGER_FAULT": "video.checkpointed@1"})
    try:
        base = crashing.base
        r = httpx.post(
            f"{base}/v1/collections", json={"collection_id": "door"}, headers=h, timeout=60
        )
        assert r.status_code == 201, r.text
        for i in (2, 3):
            image = {"image": ("p.jpg", PORTRAITS[i].read_bytes(), "image/jpeg")}
            r = httpx.post(f"{base}/v1/collections/door/faces", files=image,
                           data={"consent": "c-9"}, headers=h, timeout=60)  # fmt: skip
            assert r.status_code == 201, r.text
        r = httpx.post(f"{base}/v1/collections/door/video-searches", files=video, headers=h,
                       timeout=60)  # fmt: skip
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        assert crashing.proc.wait(timeout=120) == -9, "killed at its first checkpoint"
    finally:
        crashing.stop()
    with Runtime.open(Settings.resolve(home)) as runtime, runtime.store._read() as c:
        left = runtime.store._load_job(c, job_id)
    assert left is not None and left.status == "running" and left.checkpoint is not None
    at = left.checkpoint["timestamp_ms"]  # a quiet sample between the two people
    assert 1500 <= at < 3600 and len(left.checkpoint["tracks"]) == 1 and left.progress > 0

    server = Served(env)
    try:
        r = httpx.post(f"{server.base}/v1/collections/door/video-searches", files=video,
                       headers=h, timeout=60)  # fmt: skip
        assert r.status_code == 202, r.text
        resumed, uninterrupted = _wait(server.base, h, [job_id, r.json()["job_id"]])
    finally:
        printed = server.stop()
    assert f"video job {job_id} continues after {at} ms (1 tracks done)" in printed
    assert resumed["status"] == uninterrupted["status"] == "succeeded", resumed
    assert resumed["tracks"] == uninterrupted["tracks"] and len(resumed["tracks"]) == 2
    assert resumed["persons"] == uninterrupted["persons"]
    assert all(t["matches"] for t in resumed["tracks"])
    with Runtime.open(Settings.resolve(home)) as runtime:
        bodies = [r.body for r in runtime.auditlog.records()]
    finished = [b for b in bodies if b.get("kind") == "job" and b.get("job_id") == job_id]
    submitted = [b for b in bodies if b.get("operation") == "video.search"
                 and b.get("kind") != "job" and job_id in str(b.get("outcome"))]  # fmt: skip
    assert len(finished) == 1 and len(submitted) == 1, (finished, submitted)
