"""A video search job survives a restart of a real ``faceledger serve``: submitted to a server
without a worker, it is run by the next server's worker from the store."""

from __future__ import annotations

import time

import httpx
import pytest

pytest.importorskip("av")

from test_api_serve import _init  # noqa: E402

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
