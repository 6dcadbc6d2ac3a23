"""Authorization matrix: every endpoint × role × own/other tenant → the expected status.

Both organizations are law-enforcement agencies under the default policy, and every request
declares a missing-person case with a fresh warrant, so the only differences between cells
are the role and whether the object belongs to the caller's organization. Objects of another
organization are "not found" (404), never "forbidden": their existence is not disclosed. Each
governed request leaves an audit record under its request id.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from api_helpers import ROLES, missing_person, upload

from testdata import PORTRAITS


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    own: dict[str, int]
    """Status per role when the object is the caller's organization's."""
    other: dict[str, int]
    """Status per role for a caller of the other organization."""
    json: dict | None = None
    files: str | None = None
    """'image' (one portrait), 'compare' (two), or None."""
    form: dict | None = None


def op_only(own: int, other: int = 404) -> tuple[dict[str, int], dict[str, int]]:
    """Operators only: everyone else is refused by the role floor before any lookup."""
    return (
        {"admin": 403, "operator": own, "reviewer": 403, "auditor": 403},
        {"admin": 403, "operator": other, "reviewer": 403, "auditor": 403},
    )


FID = "{face_id}"
LEAD = "{lead_id}"
C = "/v1/collections/people"
REVIEW_OWN = {"admin": 403, "operator": 403, "reviewer": 200, "auditor": 403}
REVIEW_OTHER = {"admin": 403, "operator": 403, "reviewer": 404, "auditor": 403}
EVERYONE = dict.fromkeys(ROLES, 200)

ENDPOINTS = [
    Endpoint("whoami", "GET", "/v1/whoami", EVERYONE, EVERYONE),
    # another organization may create its own "people": names are per organization
    Endpoint("create collection", "POST", "/v1/collections", *op_only(409, 201),
             json={"collection_id": "people"}),
    Endpoint("list collections", "GET", "/v1/collections", *op_only(200, 200)),
    Endpoint("describe collection", "GET", C, *op_only(200)),
    Endpoint("delete collection", "DELETE", C, *op_only(200)),
    Endpoint("index faces", "POST", f"{C}/faces", *op_only(201), files="image",
             form={"consent": "consent-form-7"}),
    Endpoint("list faces", "GET", f"{C}/faces", *op_only(200)),
    Endpoint("delete face", "DELETE", f"{C}/faces/{FID}", *op_only(200)),
    Endpoint("search by image", "POST", f"{C}/search", *op_only(202), files="image"),
    Endpoint("search by face", "POST", f"{C}/faces/{FID}/search", *op_only(202)),
    Endpoint("create user", "POST", f"{C}/users", *op_only(201), json={"user_id": "u2"}),
    Endpoint("list users", "GET", f"{C}/users", *op_only(200)),
    Endpoint("delete user", "DELETE", f"{C}/users/u1", *op_only(200)),
    Endpoint("associate", "POST", f"{C}/users/u2x/associate", *op_only(404),
             json={"face_ids": [FID]}),
    Endpoint("disassociate", "POST", f"{C}/users/u1/disassociate", *op_only(200),
             json={"face_ids": [FID]}),
    Endpoint("search users", "POST", f"{C}/users/search", *op_only(202), files="image"),
    # no store involved: the same for both organizations
    Endpoint("compare", "POST", "/v1/compare", *op_only(202, 202), files="compare"),
    Endpoint("detect", "POST", "/v1/detect", *op_only(200, 200), files="image"),
    Endpoint("list leads", "GET", "/v1/leads",
             {"admin": 403, "operator": 200, "reviewer": 200, "auditor": 403},
             {"admin": 403, "operator": 200, "reviewer": 200, "auditor": 403}),
    Endpoint("get lead", "GET", f"/v1/leads/{LEAD}",
             {"admin": 403, "operator": 200, "reviewer": 200, "auditor": 403},
             {"admin": 403, "operator": 404, "reviewer": 404, "auditor": 403}),
    Endpoint("confirm lead", "POST", f"/v1/leads/{LEAD}/confirm", REVIEW_OWN, REVIEW_OTHER,
             json={"note": "same person"}),
    Endpoint("reject lead", "POST", f"/v1/leads/{LEAD}/reject", REVIEW_OWN, REVIEW_OTHER),
    Endpoint("audit log", "GET", "/v1/audit-log",
             {"admin": 403, "operator": 403, "reviewer": 403, "auditor": 200},
             {"admin": 403, "operator": 403, "reviewer": 403, "auditor": 200}),
]  # fmt: skip


def populate(world) -> dict[str, str]:
    """Org A: collection "people" with one face of user u1, and one pending lead."""
    c = world.client
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert c.post("/v1/collections", json={"collection_id": "people"}, headers=h).status_code == 201
    r = c.post(f"{C}/faces", files=upload(PORTRAITS[0]), headers=h)
    assert r.status_code == 201, r.text
    face_id = r.json()["face_records"][0]["face_id"]
    assert c.post(f"{C}/users", json={"user_id": "u1"}, headers=h).status_code == 201
    r = c.post(f"{C}/users/u1/associate", json={"face_ids": [face_id]}, headers=h)
    assert r.status_code == 200
    r = c.post(f"{C}/faces/{face_id}/search", headers=h)
    assert r.status_code == 202, r.text
    return {"face_id": face_id, "lead_id": r.json()["lead"]["id"]}


def call(world, ep: Endpoint, org: str, role: str, ids: dict[str, str]):
    path = ep.path.format(**ids)
    headers = world.headers(org, role, **missing_person(world.clock().date()))
    files = None
    if ep.files == "image":
        files = upload(PORTRAITS[1])
    elif ep.files == "compare":
        files = {**upload(PORTRAITS[1], "source"), **upload(PORTRAITS[1], "target")}
    json = None
    if ep.json is not None:
        json = {k: [ids["face_id"]] if v == [FID] else v for k, v in ep.json.items()}
    return world.client.request(
        ep.method, path, headers=headers, json=json, files=files, data=ep.form
    )


@pytest.mark.parametrize("ep", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_authorization_matrix(world, ep: Endpoint) -> None:
    ids = populate(world)
    # the other organization first, then own non-operators, then the call that may change state
    order = [("B", r, ep.other[r]) for r in ROLES]
    order += [("A", r, ep.own[r]) for r in ROLES if ep.own[r] >= 400]
    order += [("A", r, ep.own[r]) for r in ROLES if ep.own[r] < 400]
    for org, role, expected in order:
        r = call(world, ep, org, role, ids)
        assert r.status_code == expected, (org, role, r.text)
        body = r.json()
        if expected >= 400:
            assert set(body) == {"error"} and body["error"]["code"]
            assert body["error"]["request_id"] == r.headers["x-request-id"]
            if expected == 403:
                assert body["error"]["code"] in ("policy_denied", "forbidden")
        else:
            assert r.json().get("decision", {"allowed": True})["allowed"] is True
        if ep.name != "whoami":
            rid = r.headers["x-request-id"]
            recs = world.records(request_id=rid)
            assert recs, f"no audit record for {ep.name} by {org}/{role}"
            assert all(x["tenant_id"] == world.orgs[org].id for x in recs)
            assert len([x for x in recs if x["kind"] == "request"]) <= 1


def test_other_tenant_sees_nothing_of_ours(world) -> None:
    ids = populate(world)
    c = world.client
    hb = world.headers("B", "operator", **missing_person(world.clock().date()))
    assert c.get("/v1/collections", headers=hb).json()["collections"] == []
    assert c.get("/v1/leads", headers=hb).json()["leads"] == []
    rb = world.headers("B", "reviewer")
    assert c.get("/v1/leads", params={"view": "review"}, headers=rb).json()["leads"] == []
    # B's own "people" is a different collection: searching it finds none of A's faces
    r = c.post("/v1/collections", json={"collection_id": "people"}, headers=hb)
    assert r.status_code == 201
    r = c.post(f"{C}/faces/{ids['face_id']}/search", headers=hb)
    assert r.status_code == 404
    audit = c.get("/v1/audit-log", headers=world.headers("B", "auditor")).json()["records"]
    assert audit and all(x["record"]["tenant_id"] == world.orgs["B"].id for x in audit)
    assert ids["lead_id"] not in str(audit)
    # A's face id appears only where B itself asked for it, with a "not found" outcome
    mentions = [x["record"] for x in audit if ids["face_id"] in str(x)]
    assert [m["outcome"]["error"] for m in mentions] == ["not_found"]


def test_every_endpoint_but_health_and_docs_needs_a_key(world) -> None:
    open_paths = {"/v1/health"}
    paths = world.app.openapi()["paths"]
    assert len(paths) >= 18
    for template, methods in paths.items():
        path = template.format(
            collection_id="people", face_id="f1", user_id="u1", lead_id="lead_00",
            consent_id="cns_0123456789abcdef", case_ref="C-1", probe=0,
            job_id="vid_0123456789abcdef", request_id="fr_0123456789abcdef",
            share_id="shr_0123456789abcdef",
        )  # fmt: skip
        for method in methods:
            r = world.client.request(method, path, headers={"X-API-Key": "flk_0_0"})
            if template in open_paths:
                assert r.status_code == 200
                continue
            assert r.status_code in (401, 422), (method, path, r.text)
            if r.status_code == 401:
                assert r.json()["error"]["code"] == "unauthorized"
                assert r.headers["www-authenticate"] == "Bearer"
            r = world.client.request(method, path)
            assert r.status_code in (401, 422), (method, path, r.text)
    assert world.client.get("/openapi.json").status_code == 200
    assert world.client.get("/docs").status_code == 200


def test_approximate_search_is_opt_in_and_audited(world) -> None:
    """The API's ``approximate`` flag reaches the store and the audit record says which mode."""
    ids = populate(world)  # one exact search by face already made
    c = world.client
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    r = c.post(f"{C}/faces/{ids['face_id']}/search", json={"approximate": True}, headers=h)
    assert r.status_code == 202, r.text
    audit = c.get("/v1/audit-log", headers=world.headers("A", "auditor")).json()["records"]
    records = [x["record"] for x in audit if x["record"].get("operation") == "faces.search"]
    assert [r["request"]["search_mode"] for r in records] == ["exact", "approximate"]
