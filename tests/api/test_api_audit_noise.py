"""The audit log as an attack surface: outsiders cannot flood it, a request with two keys is
refused and attributed to neither, whoami is recorded, a failed delete is recorded as failed."""

from __future__ import annotations

import pytest
from api_helpers import missing_person

C = "/v1/collections/people"


@pytest.fixture
def ready(world):
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert world.client.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    return world, h


# one request, one key -----------------------------------------------------------------------------


def test_two_credentials_are_refused_and_never_attributed(ready) -> None:
    world, _ = ready
    c = world.client
    a, b = world.orgs["A"].keys["operator"], world.orgs["B"].keys["operator"]
    b_account = world.orgs["B"].accounts["operator"]
    cases = [
        [("Authorization", f"Bearer {a}"), ("Authorization", f"Bearer {b}")],
        [("Authorization", f"Bearer {a}"), ("X-API-Key", b)],
        [("X-API-Key", a), ("X-API-Key", b)],
    ]
    for headers in cases:
        for path in ("/v1/collections", "/v1/whoami", "/v1/no-such-thing"):
            r = c.get(path, headers=headers)
            assert r.status_code in (400, 404), (path, r.text)
            if path in ("/v1/collections", "/v1/whoami"):
                assert r.status_code == 400
                err = r.json()["error"]
                assert err["code"] == "ambiguous_credentials"
                assert "one API key" in err["message"]
            recs = world.records(request_id=r.headers["x-request-id"])
            assert all(x.get("principal_id") != b_account for x in recs), recs
            assert all(x.get("tenant_id") is None for x in recs), recs
    # the same key twice is not ambiguous
    same = c.get("/v1/whoami", headers=[("Authorization", f"Bearer {a}"), ("X-API-Key", a)])
    assert same.status_code == 200 and same.json()["tenant_id"] == world.orgs["A"].id


# whoami -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "operator", "reviewer", "auditor"])
def test_whoami_is_audited(world, role) -> None:
    r = world.client.get("/v1/whoami", headers=world.headers("A", role, **{"X-Purpose": "nope"}))
    assert r.status_code == 200
    (rec,) = world.records(request_id=r.headers["x-request-id"])
    assert rec["operation"] == "principal.whoami"
    assert rec["principal_id"] == world.orgs["A"].accounts[role]
    assert rec["tenant_id"] == world.orgs["A"].id
    assert rec["decision"]["allowed"] is True and rec["outcome"]["status"] == "ok"


# a failed delete is a failure ---------------------------------------------------------------------


def test_deleting_an_unknown_face_is_recorded_as_not_found(ready) -> None:
    world, h = ready
    r = world.client.delete(f"{C}/faces/no-such-face", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    (rec,) = world.records(request_id=r.headers["x-request-id"])
    assert rec["operation"] == "faces.delete"
    assert rec["outcome"]["status"] == "error" and rec["outcome"]["error"] == "not_found"
