"""``faceledger video search COLLECTION FILE``: the governed job run in the CLI, with progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("av")

from test_cli_store import run  # noqa: E402
from testdata import PORTRAITS  # noqa: E402
from videodata import Appearance, clip, truncated  # noqa: E402


def test_video_search_prints_tracks_and_matches(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run("admin", "init", home=home)
    run("collection", "create", "people", home=home)
    run("index", "people", str(PORTRAITS[3]), "--consent", "c-1", "--workers", "1", home=home)
    footage = clip(tmp_path / "hall.mov", [Appearance(PORTRAITS[3], 1.0, 2.0, speed=20),
                                           Appearance(PORTRAITS[4], 0.0, 1.0, x0=300)],
                   seconds=2.5, size=(560, 320))  # fmt: skip
    why = ("--purpose", "research", "--case-ref", "r-1")
    out = run("video", "search", "people", str(footage), *why, "--min-face-size", "80", "--json",
              home=home)  # fmt: skip
    body = json.loads(out.stdout)
    assert body["status"] == "succeeded" and body["video"]["container"] == "mp4/mov"
    tracks = {t["first_timestamp_ms"]: t for t in body["tracks"]}
    assert sorted(tracks) == [0, 1000]
    assert [m["face"]["external_image_id"] for m in tracks[1000]["matches"]] == [PORTRAITS[3].name]
    assert tracks[0]["matches"] == [] and tracks[0]["last_timestamp_ms"] == 500
    human = run("video", "search", "people", str(footage), *why, "--min-face-size", "80", home=home)
    assert "succeeded, 2 track(s)" in human.stdout and PORTRAITS[3].name in human.stdout
    assert "100%" in human.stderr, "progress is shown"
    broken = run("video", "search", "people", str(truncated(footage, tmp_path / "t.mov")), *why,
                 home=home, ok=False)  # fmt: skip
    assert broken.returncode == 1 and "corrupt or truncated" in broken.stderr
