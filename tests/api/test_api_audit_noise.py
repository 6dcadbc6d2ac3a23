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
