"""Video searches over HTTP: one governed request per job, decided before any decoding; tracks
with timestamps, one search per track; results held for review under the law-enforcement rules;
cancellation; another organization's jobs are not found. Clips are encoded here from the
public-domain portraits (see tests/videodata.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("av")

from api_helpers import make_world, missing_person, upload  # noqa: E402

from faceledger.video.jobs import VideoWorker  # noqa: E402
from testdata import PORTRAITS  # noqa: E402
from videodata import Appearance, clip, corrupted, truncated  # noqa: E402

ENROLLED = PORTRAITS[:4]
KNOWN = Appearance(PORTRAITS[0], 1.0, 3.0, x0=40, y=40, speed=40, scale=1.3)
STRANGER = Appearance(PORTRAITS[5], 0.5, 2.5, x0=460, y=40, speed=-30, scale=1.3)
FORM = {"min_face_size": "80"}


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    return clip(tmp_path_factory.mktemp("footage") / "street.mp4", [KNOWN, STRANGER],
                seconds=4, size=(720, 400))  # fmt: skip


def _video(path) -> dict:
    return {"video": (path.name, path.read_bytes(), "video/mp4")}


def _enrol(c, headers, **data) -> dict[str, str]:
    assert c.post("/v1/collections", json={"collection_id": "people"}, headers=headers).is_success
    ids = {}
    for p in ENROLLED:
        r = c.post("/v1/collections/people/faces", files=upload(p), headers=headers, data=data)
        assert r.status_code == 201, r.text
        ids[p.name] = r.json()["face_records"][0]["face_id"]
    return ids


def _close(track: dict, appearance: Appearance) -> bool:
    """First and last sightings within one sample interval (500 ms) of the truth."""
    return (
        abs(track["first_timestamp_ms"] - appearance.enter * 1000) <= 500
        and abs(track["last_timestamp_ms"] - appearance.leave * 1000) <= 500
    )


def test_law_enforcement_video_search_is_held_for_review(world, footage, monkeypatch) -> None:
    c = world.client
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    ids = _enrol(c, h)
    faces = world.app.state.faces
    searches = []
    real_search = faces.store.search
    monkeypatch.setattr(faces.store, "search",
                        lambda *a, **k: searches.append(1) or real_search(*a, **k))  # fmt: skip

    r = c.post("/v1/collections/people/video-searches", files=_video(footage), data=FORM,
               headers=h)  # fmt: skip
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["decision"]["rule"] == "law-enforcement-identification"
    assert job["video"]["duration_ms"] == 4000 and job["tracks"] is None
    assert VideoWorker(faces).run_pending() == 1

    r = c.get(f"/v1/video-searches/{job['job_id']}", headers=h)
    done = r.json()
    assert r.status_code == 200 and done["status"] == "withheld", done
    assert done["persons"] is None and done["progress"] == 1
    tracks = done["tracks"]
    assert len(tracks) == 2 and all("matches" not in t for t in tracks), "matches are held"
    assert len(searches) == 2, "one search per track, not one per sampled frame"
    assert sum(t["samples"] for t in tracks) == 8 > len(searches)
    known = next(t for t in tracks if _close(t, KNOWN))
    stranger = next(t for t in tracks if _close(t, STRANGER))

    lead = done["lead_id"]
    for reviewer in ("reviewer", "operator+reviewer"):
        r = c.post(f"/v1/leads/{lead}/confirm", headers=world.headers("A", reviewer))
        assert r.status_code == 200, r.text
    rows = c.get(f"/v1/leads/{lead}", headers=h).json()["lead"]["results"]
    assert [(x["track_index"], x["face_id"]) for x in rows] == [
        (known["index"], ids[PORTRAITS[0].name])
    ], "the known face matched, the stranger (not enrolled) did not"
    assert rows[0]["similarity"] >= 99 and stranger["searched"]
    assert rows[0]["first_timestamp_ms"] == known["first_timestamp_ms"]

    records = world.records(operation="video.search")
    assert [r["kind"] for r in records] == ["request", "job"]
    assert records[0]["request"]["video_sha256"] == job["video_sha256"]
    assert records[1]["job_id"] == job["job_id"] and records[1]["outcome"]["lead_id"] == lead
    other = world.headers("B", "operator", **missing_person(world.clock().date()))
    assert c.get(f"/v1/video-searches/{job['job_id']}", headers=other).status_code == 404


def test_the_moratorium_refuses_before_anything_is_decoded(world, tmp_path, footage) -> None:
    c = world.client
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    _enrol(c, h)
    broken = truncated(footage, tmp_path / "broken.mp4")
    refused = world.headers(
        "A", "operator", **missing_person(world.clock().date(), **{
            "X-Purpose": "criminal-investigation"})
    )  # fmt: skip
    r = c.post("/v1/collections/people/video-searches", files=_video(broken), headers=refused)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["rule"] == "law-enforcement-search-moratorium"
    # allowed, the same truncated file is refused with its own error, at submission
    r = c.post("/v1/collections/people/video-searches", files=_video(broken), headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "corrupt_video", r.text
    assert "upload the complete file" in r.json()["error"]["message"]
    # a file whose header is intact but whose data is not fails while it is decoded
    noisy = corrupted(footage, tmp_path / "noisy.mp4")
    r = c.post("/v1/collections/people/video-searches", files=_video(noisy), headers=h)
    assert r.status_code == 202, r.text
    assert VideoWorker(world.app.state.faces).run_pending() == 1
    failed = c.get(f"/v1/video-searches/{r.json()['job_id']}", headers=h).json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "corrupt_video"
    outcomes = [x["outcome"]["status"] for x in world.records(operation="video.search")]
    assert outcomes == ["denied", "error", "queued", "failed"]
    assert not list((world.root / "video-spool").iterdir()), "no footage kept"


def test_released_results_page_by_time_and_jobs_cancel(tmp_path, engine, footage) -> None:
    w = make_world(tmp_path, engine, actor_class="research")
    c = w.client
    h = w.headers("A", "operator", **{"X-Purpose": "research", "X-Case-Ref": "r-1"})
    with c:
        ids = _enrol(c, h, consent="c-1")
        r = c.post("/v1/collections/people/video-searches", files=_video(footage), data=FORM,
                   headers=h)  # fmt: skip
        job_id = r.json()["job_id"]
        r = c.post("/v1/collections/people/video-searches", files=_video(footage), headers=h)
        cancelled = r.json()["job_id"]
        r = c.delete(f"/v1/video-searches/{cancelled}", headers=h)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert c.delete(f"/v1/video-searches/{cancelled}", headers=h).status_code == 409
        assert VideoWorker(w.app.state.faces).run_pending() == 1, "the cancelled job never runs"

        pages, token = [], None
        while True:
            params = {"limit": 3, **({"next_token": token} if token else {})}
            body = c.get(f"/v1/video-searches/{job_id}", params=params, headers=h).json()
            assert body["status"] == "succeeded", body
            pages.append(body["persons"])
            token = body["next_token"]
            if token is None:
                break
        persons = [p for page in pages for p in page]
        assert [len(p) for p in pages] == [3, 3, 2]
        stamps = [p["timestamp_ms"] for p in persons]
        assert stamps == sorted(stamps) and stamps[0] == 500
        matched = {p["track_index"] for p in persons if p["matches"]}
        (track,) = [t for t in body["tracks"] if t["index"] in matched]
        assert _close(track, KNOWN)
        assert track["matches"][0]["face"]["face_id"] == ids[PORTRAITS[0].name]
        # erasing the subject removes the matches naming it from finished jobs too
        r = c.post("/v1/subjects/erase", json={"subject_ref": "c-1"}, headers=h)
        assert r.status_code == 200, r.text
        after = c.get(f"/v1/video-searches/{job_id}", params={"limit": 100}, headers=h).json()
        assert all(not t["matches"] for t in after["tracks"])
        assert all(not p["matches"] for p in after["persons"]) and len(after["persons"]) == 8
        (erased,) = w.records(operation="subject.erase")
        assert erased["outcome"]["counts"]["video_jobs"] == 1
    w.app.state.close()
    w.db.close()
