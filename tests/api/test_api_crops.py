"""Face crops for review: kept at enrolment where the collection says so, kept with a lead for
its reviewers, served only to those allowed, every read recorded, gone with the face."""

from __future__ import annotations

import base64
import os
import stat
from datetime import timedelta

from api_helpers import make_world, missing_person, upload

from faceledger.store import open_store
from testdata import PORTRAITS

P = "/v1/collections/people"


def _lead(world, h) -> tuple[str, str]:
    c = world.client
    assert c.post("/v1/collections", json={"collection_id": "people"}, headers=h).status_code == 201
    r = c.post(f"{P}/faces", files=upload(PORTRAITS[0]), headers=h)
    assert r.status_code == 201 and r.json()["face_records"], r.text
    face_id = r.json()["face_records"][0]["face_id"]
    r = c.post(f"{P}/search", files=upload(PORTRAITS[0]), headers=h)
    assert r.status_code == 202, r.text
    return r.json()["lead"]["id"], face_id


def _crop_rows(world) -> int:
    with open_store(world.root / "faceledger.sqlite3") as store:  # SQLite or PostgreSQL
        return store._conn.execute("SELECT count(*) FROM face_crops").fetchone()[0]


def test_crops_are_shown_only_to_those_allowed_and_every_read_is_recorded(world) -> None:
    c = world.client
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    lead, face_id = _lead(world, h)
    probe = f"/v1/leads/{lead}/crops/probe/0"
    candidate = f"/v1/leads/{lead}/crops/faces/{face_id}"
    # a reviewer of the organization sees the probe beside the candidate
    r = c.get(probe, headers=world.headers("A", "reviewer"))
    assert r.status_code == 200, r.text
    jpeg = base64.b64decode(r.json()["image_base64"])
    assert jpeg[:3] == b"\xff\xd8\xff" and 1000 < len(jpeg) < 64 * 1024
    assert c.get(candidate, headers=world.headers("A", "reviewer")).status_code == 200
    # not a face the lead does not name, not another organization, not an auditor
    other = f"/v1/leads/{lead}/crops/faces/00000000-0000-0000-0000-000000000000"
    assert c.get(other, headers=world.headers("A", "reviewer")).status_code == 404
    assert c.get(probe, headers=world.headers("B", "reviewer")).status_code == 404
    assert (
        c.get(f"{P}/faces/{face_id}/crop", headers=world.headers("B", "operator")).status_code
        == 404
    )
    assert c.get(probe, headers=world.headers("A", "auditor")).status_code == 403
    # the requester: only once two reviewers confirmed
    r = c.get(probe, headers=h)
    assert r.status_code == 403 and "two reviewers" in r.json()["error"]["message"]
    for role in ("reviewer", "operator+reviewer"):
        assert (
            c.post(f"/v1/leads/{lead}/confirm", headers=world.headers("A", role)).status_code == 200
        )
    assert c.get(probe, headers=h).status_code == 200
    assert c.get(candidate, headers=h).status_code == 200
    search = c.get(f"/v1/leads/{lead}", headers=h).json()["lead"]["search"]
    assert search["collection_id"] == "people" and search["gallery_size"] == 1
    assert search["threshold"] >= 99  # the policy's floor: what a reviewer weighs a match by
    # every read is a record: ids and the crop's SHA-256, never the image
    reads = world.records(operation="review.crop") + world.records(operation="leads.crop")
    ok = [r for r in reads if r["outcome"]["status"] == "ok"]
    assert len(ok) == 4 and all(len(r["outcome"]["crop_sha256"]) == 64 for r in ok)
    assert {r["outcome"]["lead_id"] for r in ok} == {lead}
    refused = [r for r in reads if r["outcome"]["status"] != "ok"]
    assert len(refused) >= 3  # the other face, the other org, the requester before release


def test_a_crop_goes_with_its_face_and_stays_in_a_private_file(world) -> None:
    c = world.client
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    lead, face_id = _lead(world, h)
    store = world.root / "faceledger.sqlite3"
    if not os.environ.get("FACELEDGER_DATABASE_URL"):  # the file, when the data is in one
        assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert _crop_rows(world) == 1
    assert c.get(f"{P}/faces/{face_id}/crop", headers=h).status_code == 200
    assert c.delete(f"{P}/faces/{face_id}", headers=h).status_code == 200
    assert _crop_rows(world) == 0
    assert c.get(f"{P}/faces/{face_id}/crop", headers=h).status_code == 404
    r = c.get(f"/v1/leads/{lead}/crops/faces/{face_id}", headers=world.headers("A", "reviewer"))
    assert r.status_code == 404
    # a collection that keeps no crops keeps none
    r = c.post("/v1/collections", json={"collection_id": "nocrops", "keep_crops": False}, headers=h)
    assert r.status_code == 201
    r = c.post("/v1/collections/nocrops/faces", files=upload(PORTRAITS[1]), headers=h)
    assert r.status_code == 201 and _crop_rows(world) == 0


def test_probe_crops_end_with_the_case_and_with_retention(world) -> None:
    c = world.client
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    lead, _ = _lead(world, h)
    reviewer = world.headers("A", "reviewer")
    r = c.post(f"/v1/leads/{lead}/reject", json={"note": "not the same person"}, headers=reviewer)
    assert r.status_code == 200 and r.json()["lead"]["probe_crops"] == 1
    # closed, but its retention (the policy's cap, 1095 days) has not ended
    assert c.post("/v1/retention/run", headers=h).status_code == 200
    assert c.get(f"/v1/leads/{lead}", headers=reviewer).json()["lead"]["probe_crops"] == 1
    world.clock.set(world.clock() + timedelta(days=1096))
    r = c.post("/v1/retention/run", headers=h)
    assert r.status_code == 200, r.text
    assert c.get(f"/v1/leads/{lead}", headers=reviewer).json()["lead"]["probe_crops"] == 0
    assert world.records(operation="retention.purge")[-1]["outcome"]["lead_crops_dropped"] == [lead]


def test_closing_the_case_drops_its_leads_probe_crops(world) -> None:
    c = world.client
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    lead, _ = _lead(world, h)
    r = c.post(f"/v1/cases/{h['X-Case-Ref']}/close", headers=h)
    assert r.status_code == 200, r.text
    lead_now = c.get(f"/v1/leads/{lead}", headers=world.headers("A", "reviewer")).json()["lead"]
    assert lead_now["probe_crops"] == 0 and _crop_rows(world) == 0


def test_crops_are_off_by_default_where_nothing_is_reviewed(tmp_path, engine) -> None:
    w = make_world(tmp_path, engine, actor_class="research")
    h = w.headers("A", "operator")
    with w.client as c:
        r = c.post("/v1/collections", json={"collection_id": "people"}, headers=h)
        assert r.status_code == 201
        r = c.post(f"{P}/faces", files=upload(PORTRAITS[0]), data={"consent": "c-1"}, headers=h)
        assert r.status_code == 201 and _crop_rows(w) == 0
    w.app.state.close()
    w.db.close()


def test_erasing_a_subject_drops_the_crops_of_the_leads_naming_them(world) -> None:
    c = world.client
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    lead, face_id = _lead(world, h)
    assert c.post(f"{P}/users", json={"user_id": "p-1"}, headers=h).status_code == 201
    r = c.post(f"{P}/users/p-1/associate", json={"face_ids": [face_id]}, headers=h)
    assert r.status_code == 200, r.text
    r = c.post("/v1/subjects/erase", json={"user_ids": ["p-1"]}, headers=h)
    assert r.status_code == 200, r.text
    reviewer = world.headers("A", "reviewer")
    erased = c.get(f"/v1/leads/{lead}", headers=reviewer).json()["lead"]
    assert erased["probe_crops"] == 0 and erased["results"] == [{"redacted": "subject-erased"}]
    assert _crop_rows(world) == 0  # the face's crop went with the face
    assert world.records(operation="subject.erase")[-1]["outcome"]["lead_crops_dropped"] == [lead]
