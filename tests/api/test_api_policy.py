"""Policy through HTTP: the moratorium's edges, the authorization's age, decisions in responses
and in the log, the two-reviewer rule, and auditors reading their own organization's log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from api_helpers import missing_person, upload

from testdata import PORTRAITS

C = "/v1/collections/people"
MORATORIUM = datetime(2020, 6, 10, tzinfo=UTC)


def enroll(world, org: str = "A") -> str:
    h = world.headers(org, "operator", **missing_person(world.clock().date()))
    c = world.client
    assert c.post("/v1/collections", json={"collection_id": "people"}, headers=h).status_code == 201
    r = c.post(f"{C}/faces", files=upload(PORTRAITS[0]), headers=h)
    assert r.status_code == 201, r.text
    return r.json()["face_records"][0]["face_id"]


def search(world, when: datetime, purpose: str, auth_age_days: int = 3, role="operator"):
    world.clock.set(when)
    today = when.date()
    headers = world.headers(
        "A", role,
        **{"X-Purpose": purpose, "X-Case-Ref": "C-1", "X-Authorization-Ref": "W-1",
           "X-Authorization-Date": (today - timedelta(days=auth_age_days)).isoformat()},
    )  # fmt: skip
    return world.client.post(f"{C}/search", files=upload(PORTRAITS[0]), headers=headers)


@pytest.mark.parametrize(
    ("when", "purpose", "status", "rule"),
    [
        (MORATORIUM - timedelta(microseconds=1), "criminal-investigation", 202,
         "law-enforcement-identification"),
        (MORATORIUM, "criminal-investigation", 403, "law-enforcement-search-moratorium"),
        (MORATORIUM + timedelta(days=2000), "criminal-investigation", 403,
         "law-enforcement-search-moratorium"),
        (MORATORIUM, "missing-person", 202, "law-enforcement-identification"),
        (MORATORIUM, "trafficking-victim", 202, "law-enforcement-identification"),
    ],
    ids=["last-instant-before", "first-instant", "years-later", "missing-person-exempt",
         "trafficking-victim-exempt"],
)  # fmt: skip
def test_moratorium_edges(world, when, purpose, status, rule) -> None:
    world.clock.set(when - timedelta(days=1))
    enroll(world)
    r = search(world, when, purpose)
    assert r.status_code == status, r.text
    body = r.json()
    decision = body["decision"] if status == 202 else body["error"]
    assert decision["rule"] == rule
    if status == 403:
        assert body["error"]["code"] == "policy_denied"
        assert "moratorium since 2020-06-10" in body["error"]["message"]
    else:
        assert body["status"] == "pending" and "searches" not in body
    (logged,) = world.records(request_id=r.headers["x-request-id"], kind="request")
    assert logged["decision"]["rule"] == rule
    assert logged["decision"]["allowed"] is (status == 202)
    assert logged["purpose"] == purpose


@pytest.mark.parametrize(("age", "status"), [(90, 202), (91, 403), (-1, 403)])
def test_authorization_age(world, age, status) -> None:
    enroll(world)
    r = search(world, datetime(2024, 5, 1, 9, tzinfo=UTC), "missing-person", auth_age_days=age)
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["error"]["rule"] == "law-enforcement-identification"
        assert "authorization" in r.json()["error"]["message"]


def test_missing_declarations_are_refused_with_the_reason(world) -> None:
    enroll(world)
    h = world.headers("A", "operator", **{"X-Purpose": "missing-person"})
    r = world.client.post(f"{C}/search", files=upload(PORTRAITS[0]), headers=h)
    assert r.status_code == 403
    assert "a case reference" in r.json()["error"]["message"]
    h = world.headers("A", "operator", **{"X-Purpose": "curiosity", "X-Case-Ref": "x"})
    r = world.client.post(f"{C}/search", files=upload(PORTRAITS[0]), headers=h)
    assert r.status_code == 403 and r.json()["error"]["rule"] == "unknown-purpose"
    h = world.headers("A", "operator", **{"X-Authorization-Date": "yesterday"})
    r = world.client.post(f"{C}/search", files=upload(PORTRAITS[0]), headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_argument"


def _lead(world) -> tuple[str, str]:
    face_id = enroll(world)
    r = search(world, world.clock(), "missing-person")
    assert r.status_code == 202
    return r.json()["lead"]["id"], face_id


def test_two_different_reviewers_release_a_lead(world) -> None:
    c = world.client
    lead, face_id = _lead(world)
    requester = world.headers("A", "operator")
    mine = c.get(f"/v1/leads/{lead}", headers=requester).json()["lead"]
    assert mine["status"] == "pending" and mine["results"] is None
    r1 = world.headers("A", "reviewer")
    r2 = world.headers("A", "operator+reviewer")
    queue = c.get("/v1/leads", params={"view": "review"}, headers=r1).json()["leads"]
    assert [x["id"] for x in queue] == [lead] and queue[0]["results"][0]["face_id"] == face_id
    r = c.post(f"/v1/leads/{lead}/confirm", json={"note": "likely"}, headers=r1)
    assert r.status_code == 200 and r.json()["lead"]["status"] == "pending"
    again = c.post(f"/v1/leads/{lead}/confirm", headers=r1)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert c.get(f"/v1/leads/{lead}", headers=requester).json()["lead"]["results"] is None
    other = c.post(f"/v1/leads/{lead}/confirm", headers=world.headers("B", "reviewer"))
    assert other.status_code == 404
    r = c.post(f"/v1/leads/{lead}/confirm", json={"note": "agree"}, headers=r2)
    assert r.status_code == 200 and r.json()["lead"]["status"] == "released"
    released = c.get(f"/v1/leads/{lead}", headers=requester).json()["lead"]
    assert released["results"][0]["face_id"] == face_id
    assert released["results"][0]["similarity"] >= 99
    assert [v["verdict"] for v in released["reviews"]] == ["confirm", "confirm"]
    late = c.post(f"/v1/leads/{lead}/reject", headers=world.headers("A", "operator+reviewer"))
    assert late.status_code == 409
    events = [x["operation"] for x in world.records(lead_id=lead)]
    assert events == [
        "review.open", "review.confirm", "review.confirm", "review.confirm",
        "review.confirm", "review.reject",
    ]  # fmt: skip
    assert [x["decision"]["allowed"] for x in world.records(lead_id=lead)] == [
        True, True, False, False, True, False,
    ]  # fmt: skip


def test_requester_cannot_review_own_lead(world) -> None:
    face_id = enroll(world)
    world.clock.set(world.clock())
    h = world.headers("A", "operator+reviewer", **missing_person(world.clock().date()))
    r = world.client.post(f"{C}/faces/{face_id}/search", json={"threshold": 0}, headers=h)
    assert r.status_code == 202
    lead = r.json()["lead"]["id"]
    own = world.client.post(f"/v1/leads/{lead}/confirm", headers=h)
    assert own.status_code == 403 and "own lead" in own.json()["error"]["message"]


def test_one_rejection_closes_a_lead(world) -> None:
    c = world.client
    lead, _ = _lead(world)
    r1, r2 = world.headers("A", "reviewer"), world.headers("A", "operator+reviewer")
    assert c.post(f"/v1/leads/{lead}/confirm", headers=r1).status_code == 200
    r = c.post(f"/v1/leads/{lead}/reject", json={"note": "not the same person"}, headers=r2)
    assert r.status_code == 200 and r.json()["lead"]["status"] == "rejected"
    assert c.post(f"/v1/leads/{lead}/confirm", headers=r2).status_code == 409
    mine = c.get(f"/v1/leads/{lead}", headers=world.headers("A", "operator")).json()["lead"]
    assert mine["status"] == "rejected" and mine["results"] is None
    listed = c.get("/v1/leads", headers=world.headers("A", "operator")).json()["leads"]
    assert [x["status"] for x in listed] == ["rejected"]


def test_auditor_reads_own_tenant_only_with_paging(world) -> None:
    enroll(world, "A")
    enroll(world, "B")
    c = world.client
    seen, after = [], None
    while True:
        params = {"limit": 2, **({"after": after} if after is not None else {})}
        page = c.get("/v1/audit-log", params=params, headers=world.headers("A", "auditor")).json()
        seen += page["records"]
        after = page["next_after"]
        if after is None:
            break
    assert len(seen) >= 2
    assert {x["record"]["tenant_id"] for x in seen} == {world.orgs["A"].id}
    assert [x["seq"] for x in seen] == sorted(x["seq"] for x in seen)
    ops = [x["record"]["operation"] for x in seen]
    assert "collection.create" in ops and "faces.index" in ops
    # an auditor's read is itself a record; operators may not read
    assert c.get("/v1/audit-log", headers=world.headers("A", "operator")).status_code == 403


def test_each_request_one_record_allowed_or_denied(world) -> None:
    enroll(world)
    before = len(world.records(kind="request"))
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert world.client.get("/v1/collections", headers=h).status_code == 200
    assert world.client.get("/v1/collections/nope", headers=h).status_code == 404
    assert (
        world.client.get("/v1/collections", headers=world.headers("A", "auditor")).status_code
        == 403
    )
    recs = world.records(kind="request")[before:]
    assert [(x["operation"], x["decision"]["allowed"], x["outcome"]["status"]) for x in recs] == [
        ("collection.list", True, "ok"),
        ("collection.describe", True, "error"),
        ("collection.list", False, "denied"),
    ]
