"""The data lifecycle over HTTP: consent records, withdrawal, retention, cases, erasure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_helpers import make_world, upload

from testdata import PORTRAITS

C = "/v1/collections/staff"
WHY = {"X-Purpose": "access-control", "X-Case-Ref": "door-1"}


@pytest.fixture
def shop(tmp_path, engine):
    """Two commercial organizations (consent-bound enrolment)."""
    w = make_world(tmp_path, engine, actor_class="commercial")
    with w.client:
        yield w
    w.app.state.close()
    w.db.close()


def found(w, headers) -> set[str]:
    r = w.client.post(
        f"{C}/search", files=upload(PORTRAITS[0]), data={"threshold": "0", "max_results": "50"},
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return {m["face"]["face_id"] for s in r.json()["searches"] for m in s["matches"]}


def test_consent_record_enrol_withdraw_over_http(shop) -> None:
    w, c = shop, shop.client
    h = w.headers("A", "operator", **WHY)
    assert c.post("/v1/collections", json={"collection_id": "staff"}, headers=h).status_code == 201
    r = c.post("/v1/collections", json={"collection_id": "seen", "days_since_match": 90},
               headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    rule = w.app.state.faces.store.get_retention(w.orgs["A"].id, "seen")
    assert (rule.max_days_since_match, rule.max_age_days) == (90, 1095)
    body = {"subject_ref": "badge 91", "collections": ["staff"], "purposes": ["access-control"],
            "evidence_ref": "form 3", "expires_at": "2025-01-01"}  # fmt: skip
    r = c.post("/v1/consents", json=body, headers=h)
    assert r.status_code == 201, r.text
    consent = r.json()["consent"]
    cid = consent["consent_id"]
    assert consent["status"] == "active" and r.json()["decision"]["rule"] == "data-lifecycle"
    assert consent["scope"] == {"collections": ["staff"], "purposes": ["access-control"]}
    r = c.post(f"{C}/faces", files=upload(PORTRAITS[0]), data={"consent": cid}, headers=h)
    assert r.status_code == 201, r.text
    face = r.json()["face_records"][0]["face_id"]
    assert face in found(w, h)
    listed = c.get("/v1/consents", headers=h).json()
    assert [x["consent_id"] for x in listed["consents"]] == [cid]
    assert c.get(f"/v1/consents/{cid}", headers=h).json()["consent"]["evidence_ref"] == "form 3"
    other = w.headers("B", "operator")
    assert c.get(f"/v1/consents/{cid}", headers=other).status_code == 404
    assert c.post(f"/v1/consents/{cid}/withdraw", headers=other).status_code == 404
    assert c.get("/v1/consents", headers=w.headers("A", "auditor")).status_code == 403

    r = c.post(f"/v1/consents/{cid}/withdraw", headers=h)
    assert r.status_code == 200, r.text
    withdrawal = r.json()["withdrawal"]
    assert withdrawal["deleted_faces"] == {"staff": [face]} and withdrawal["count"] == 1
    assert withdrawal["consent"]["status"] == "withdrawn"
    assert c.get(f"{C}/faces", headers=h).json()["faces"] == []
    assert face not in found(w, h)
    refused, rec = w.records(operation="consent.withdraw")
    assert refused["outcome"]["error"] == "not_found" and refused["tenant_id"] == w.orgs["B"].id
    assert rec["outcome"]["face_ids"] == [face] and rec["outcome"]["count"] == 1
    again = c.post(f"{C}/faces", files=upload(PORTRAITS[0]), data={"consent": cid}, headers=h)
    assert again.status_code == 403 and again.json()["error"]["code"] == "consent_refused"
    assert c.post(f"/v1/consents/{cid}/withdraw", headers=h).status_code == 409


def test_retention_run_case_close_and_erasure_over_http(world) -> None:
    """Law enforcement: enrolment under a case; the cap, closing the case, erasing a user."""
    w, c = world, world.client
    today = w.clock().date()
    h = w.headers("A", "operator", **{
        "X-Purpose": "missing-person", "X-Case-Ref": "MP-9", "X-Authorization-Ref": "W-1",
        "X-Authorization-Date": (today - timedelta(days=1)).isoformat(),
    })  # fmt: skip
    too_long = c.post("/v1/collections", json={"collection_id": "x", "retention_days": 4000},
                      headers=h)  # fmt: skip
    assert too_long.status_code == 403 and too_long.json()["error"]["rule"] == "retention-cap"
    assert c.post("/v1/collections", json={"collection_id": "staff"}, headers=h).status_code == 201
    ids = [
        c.post(f"{C}/faces", files=upload(p), headers=h).json()["face_records"][0]["face_id"]
        for p in PORTRAITS[:3]
    ]
    r = c.post("/v1/retention/run", headers=h)
    assert r.status_code == 200 and r.json()["purge"]["count"] == 0
    closed = c.post("/v1/cases/MP-8/close", headers=h).json()["closed"]
    assert closed["count"] == 0 and closed["case_ref"] == "MP-8"

    assert c.post(f"{C}/users", json={"user_id": "p-1"}, headers=h).status_code == 201
    r = c.post(f"{C}/users/p-1/associate", json={"face_ids": ids[:1]}, headers=h)
    assert r.status_code == 200, r.text
    r = c.post("/v1/subjects/erase", json={"user_ids": ["p-1"]}, headers=h)
    assert r.status_code == 200, r.text
    receipt = r.json()["receipt"]
    assert receipt["deleted"]["faces"] == {"staff": ids[:1]}
    assert receipt["deleted"]["users"] == {"staff": ["p-1"]}
    (rec,) = w.records(operation="subject.erase")
    assert receipt["audit_record"] == {"seq": rec["seq"], "hash": receipt["audit_record"]["hash"]}

    w.clock.set(w.clock() + timedelta(days=1096))
    r = c.post("/v1/retention/run", headers=h)
    assert r.status_code == 200, r.text
    purge = r.json()["purge"]
    assert sorted(purge["deleted_faces"]["staff"]) == sorted(ids[1:])
    assert purge["counts"]["by_reason"] == {"age": 2}
    assert len(w.records(operation="retention.purge")) == 2
    assert c.get(f"{C}/faces", headers=h).json()["faces"] == []
