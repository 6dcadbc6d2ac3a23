"""Footage camera owners choose to share, over HTTP: an agency asks (case, purpose,
authorization, a window of at most 12 hours, a small area), the owners whose cameras are in the
area see it and share, decline or revoke; the agency finds a face in the shared clip and
nowhere else: no search without a share, none after revocation or expiry, none by another
agency or for another case; requests about protests are refused."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

pytest.importorskip("av")

from api_helpers import add_org, missing_person, upload  # noqa: E402

from faceledger.video.jobs import VideoWorker  # noqa: E402
from testdata import PORTRAITS  # noqa: E402
from videodata import Appearance, clip  # noqa: E402

HOUSES = {"house-1": (51.5000, -0.1000), "house-2": (51.5010, -0.1000),
          "far-away": (51.6000, -0.1000)}  # fmt: skip


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("doorbells")
    return {
        "known": clip(d / "known.mp4", [Appearance(PORTRAITS[0], 0.5, 2.0, speed=0, scale=1.3)],
                      seconds=2.5, size=(480, 360)),
        "other": clip(d / "other.mp4", [Appearance(PORTRAITS[5], 0.0, 1.0, speed=0, scale=1.3)],
                      seconds=1, size=(480, 360)),
    }  # fmt: skip


def _video(path) -> dict:
    return {"video": (path.name, path.read_bytes(), "video/mp4")}


def test_an_agency_finds_a_face_only_in_footage_shared_with_it(world, clips, tmp_path) -> None:
    c, today = world.client, world.clock().date()
    agency = world.headers("A", "operator", **missing_person(today))
    assert c.post("/v1/collections", json={"collection_id": "people"}, headers=agency).is_success
    r = c.post("/v1/collections/people/faces", files=upload(PORTRAITS[0]), headers=agency)
    face_id = r.json()["face_records"][0]["face_id"]
    owners, cameras = {}, {}
    for name, (lat, lon) in HOUSES.items():
        org = add_org(world, name, "camera-owner")
        owners[name] = {"Authorization": f"Bearer {org.keys['operator']}"}
        r = c.post("/v1/cameras", json={"name": "doorbell", "lat": lat, "lon": lon},
                   headers=owners[name])  # fmt: skip
        assert r.status_code == 201, r.text
        cameras[name] = r.json()["camera"]["camera_id"]
    start, end = (world.clock().replace(hour=h).isoformat() for h in (1, 9))
    ask = {"start": start, "end": end, "lat": 51.5005, "lon": -0.1, "radius_m": 300,
           "reason": "A missing child was last seen here."}  # fmt: skip

    # what the policy and the limits refuse
    le = world.headers("A", "operator", **missing_person(today, **{
        "X-Purpose": "criminal-investigation"}))  # fmt: skip
    r = c.post("/v1/footage-requests", json=ask, headers=le)
    assert r.status_code == 403 and r.json()["error"]["rule"] == "law-enforcement-search-moratorium"
    r = c.post("/v1/footage-requests", json={**ask, "event_type": "protest"}, headers=agency)
    assert r.status_code == 403 and r.json()["error"]["rule"] == "no-footage-of-assemblies"
    late = world.clock().replace(hour=14).isoformat()
    r = c.post("/v1/footage-requests", json={**ask, "end": late}, headers=agency)
    assert r.status_code == 422 and "12 hours" in r.json()["error"]["message"]
    assert c.post("/v1/footage-requests", json={**ask, "radius_m": 5000},
                  headers=agency).status_code == 422  # fmt: skip
    r = c.post("/v1/footage-requests", json=ask, headers=owners["house-1"])
    assert r.status_code == 403 and r.json()["error"]["rule"] == "footage-is-for-law-enforcement"

    r = c.post("/v1/footage-requests", json={**ask, "event_type": "missing-person"},
               headers=agency)  # fmt: skip
    assert r.status_code == 201, r.text
    fr = r.json()["footage_request"]["request_id"]
    seen = {n: c.get("/v1/footage-requests/inbox", headers=h).json()["requests"]
            for n, h in owners.items()}  # fmt: skip
    assert [x["request_id"] for x in seen["house-1"]] == [fr] == [
        x["request_id"] for x in seen["house-2"]]  # fmt: skip
    assert seen["far-away"] == [] and seen["house-1"][0]["reason"].startswith("A missing child")
    # the inbox is paged, with tokens bound to the owner's inbox
    r = c.post("/v1/footage-requests", json={**ask, "reason": "A second case nearby."},
               headers=agency)  # fmt: skip
    second = r.json()["footage_request"]["request_id"]
    inbox = "/v1/footage-requests/inbox"
    first = c.get(inbox, params={"limit": 1}, headers=owners["house-1"]).json()
    assert len(first["requests"]) == 1 and first["next_token"]
    rest = c.get(inbox, params={"limit": 1, "next_token": first["next_token"]},
                 headers=owners["house-1"]).json()  # fmt: skip
    assert {first["requests"][0]["request_id"], rest["requests"][0]["request_id"]} == {
        fr, second} and rest["next_token"] is None  # fmt: skip
    r = c.get(inbox, params={"next_token": first["next_token"]}, headers=owners["house-2"])
    assert r.status_code == 422 and "page token" in r.json()["error"]["message"]
    search = {"collection_id": "people", "min_face_size": 80}
    r = c.post(f"/v1/footage-requests/{fr}/searches", json=search, headers=agency)
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_shared_footage"

    def share(name: str, path, clip_start: datetime | None = None) -> dict:
        data = {"camera_id": cameras[name]}
        if clip_start is not None:
            data["clip_start"] = clip_start.isoformat()
        return c.post(f"/v1/footage-requests/{fr}/shares", files=_video(path), data=data,
                      headers=owners[name])  # fmt: skip

    window_end = datetime.fromisoformat(end)
    assert share("far-away", clips["other"], window_end).status_code == 404, "not in the area"
    # a clip must say when it was recorded, and must overlap the window asked for
    r = share("house-1", clips["known"])
    assert r.status_code == 422 and "clip_start" in r.json()["error"]["message"]
    r = share("house-1", clips["known"], window_end + timedelta(seconds=30))
    assert r.status_code == 409 and r.json()["error"]["code"] == "outside_window"
    r = share("house-1", clips["known"], window_end - timedelta(hours=8, seconds=3))
    assert r.status_code == 409 and r.json()["error"]["code"] == "outside_window"
    # the known face is in the clip from 0.5 s to 2 s; the window ends 1.2 s into the clip
    r = share("house-1", clips["known"], window_end - timedelta(seconds=1.2))
    assert r.status_code == 201, r.text
    kept = r.json()["share"]["share_id"]
    # a camera that writes creation_time in the file needs no declared start
    stamped = clip(tmp_path / "stamped.mp4", [], seconds=1, size=(320, 240),
                   recorded=(window_end - timedelta(hours=2)).isoformat())  # fmt: skip
    r = share("house-2", stamped)
    assert r.status_code == 201, r.text
    stamp = datetime.fromisoformat(r.json()["share"]["clip_start"].replace("Z", "+00:00"))
    assert stamp == window_end - timedelta(hours=2)
    revoked = r.json()["share"]["share_id"]
    assert c.delete(f"/v1/footage-shares/{revoked}", headers=owners["house-2"]).status_code == 200
    assert c.delete(f"/v1/footage-shares/{kept}", headers=owners["house-2"]).status_code == 404
    assert c.post(f"/v1/footage-requests/{fr}/decline",
                  headers=owners["house-2"]).status_code == 200  # fmt: skip

    other_agency = world.headers("B", "operator", **missing_person(today))
    r = c.post(f"/v1/footage-requests/{fr}/searches", json=search, headers=other_agency)
    assert r.status_code == 404, "another agency cannot search it"
    other_case = world.headers("A", "operator", **missing_person(today, **{
        "X-Case-Ref": "MP-2024-99"}))  # fmt: skip
    r = c.post(f"/v1/footage-requests/{fr}/searches", json=search, headers=other_case)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_case"

    r = c.post(f"/v1/footage-requests/{fr}/searches", json=search, headers=agency)
    assert r.status_code == 202, r.text
    (job,) = r.json()["jobs"]  # house-1's clip only: house-2 revoked, then declined
    assert job["video_sha256"] == r.json()["jobs"][0]["video_sha256"]
    assert c.delete(f"/v1/footage-shares/{kept}", headers=owners["house-1"]).status_code == 409
    r = c.post(f"/v1/footage-requests/{fr}/searches", json=search, headers=agency)
    assert r.status_code == 409, "each shared clip is searched once"
    assert VideoWorker(world.app.state.faces).run_pending() == 1
    done = c.get(f"/v1/video-searches/{job['job_id']}", headers=agency).json()
    assert done["status"] == "withheld", done
    (track,) = done["tracks"]
    assert abs(track["first_timestamp_ms"] - 500) <= 500
    assert track["last_timestamp_ms"] <= 1200, "nothing after the window's end is searched"
    for reviewer in ("reviewer", "operator+reviewer"):
        c.post(f"/v1/leads/{done['lead_id']}/confirm", headers=world.headers("A", reviewer))
    rows = c.get(f"/v1/leads/{done['lead_id']}", headers=agency).json()["lead"]["results"]
    assert [x["face_id"] for x in rows] == [face_id]

    # after expiry: nothing more is shared or searched
    world.clock.set(world.clock() + timedelta(days=4))
    r = share("house-2", clips["other"], window_end - timedelta(hours=1))
    assert r.status_code == 409 and r.json()["error"]["code"] == "request_expired"
    assert c.get("/v1/footage-requests/inbox", headers=owners["house-1"]).json()["requests"] == []
    inbox_reads = world.records(operation="footage.inbox")
    assert {x["tenant_id"] for x in inbox_reads} == {world.orgs[n].id for n in HOUSES}
    ops = {x["operation"] for x in world.records()}
    assert {"camera.register", "footage.request", "footage.share", "footage.revoke",
            "footage.decline", "footage.search"} <= ops  # fmt: skip
