"""The audit log as an attack surface: outsiders cannot flood it, a request with two keys is
refused and attributed to neither, whoami is recorded, a failed delete is recorded as failed."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from api_helpers import NOW, Clock, make_world, missing_person
from fastapi.testclient import TestClient

from faceledger.api.unauthenticated import (
    MAX_CLIENTS,
    PER_CLIENT,
    PER_WINDOW,
    WINDOW_SECONDS,
    UnauthenticatedLog,
)
from faceledger.governance import AuditLog, GovernanceDB
from faceledger.governance.events import Unauthenticated

C = "/v1/collections/people"


def _random_key() -> str:
    return f"flk_{secrets.token_hex(8)}_{secrets.token_hex(32)}"


def _noise(world) -> list[dict]:
    return [
        r
        for r in world.records()
        if r["operation"] in ("http.unauthenticated", "http.unauthenticated.suppressed")
    ]


@pytest.fixture
def ready(world):
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert world.client.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    return world, h


# outsiders cannot flood the log -------------------------------------------------------------------


def test_unauthenticated_noise_is_bounded_and_counted(world) -> None:
    c = world.client
    sent = 500
    for _ in range(sent):
        r = c.get("/v1/collections", headers={"Authorization": f"Bearer {_random_key()}"})
        assert r.status_code == 401
    recs = _noise(world)
    assert len(recs) <= PER_CLIENT + 1, len(recs)
    # the window closes: the next failed attempt brings the aggregate of what was held back
    world.clock.set(world.clock() + timedelta(seconds=WINDOW_SECONDS + 1))
    assert c.get("/v1/collections", headers={"X-API-Key": _random_key()}).status_code == 401
    sent += 1
    recs = _noise(world)
    assert len(recs) <= PER_CLIENT + 3, len(recs)
    single = [r for r in recs if r["operation"] == "http.unauthenticated"]
    (summary,) = [r for r in recs if r["operation"] == "http.unauthenticated.suppressed"]
    assert summary["tenant_id"] is None and summary["principal_id"] is None
    assert summary["outcome"]["status"] == "rejected"
    counts, suppressed = summary["request"], summary["outcome"]["count"]
    assert suppressed == sent - len(single)
    assert counts["clients"] == {"testclient": suppressed}
    assert counts["other_clients"] == 0 and counts["without_key_id"] == 0
    assert counts["distinct_key_ids"] == suppressed
    assert 0 < len(counts["key_ids"]) <= 20
    assert counts["window_start"] < counts["window_end"]
    # and it is still one chain
    assert world.app.state.auditlog.verify().ok


def test_held_back_attempts_are_counted_at_close(tmp_path, engine) -> None:
    world = make_world(tmp_path, engine)
    with world.client as c:
        for _ in range(PER_CLIENT + 7):
            c.get("/v1/whoami", headers={"X-API-Key": _random_key()})
    world.app.state.close()
    (summary,) = world.records(operation="http.unauthenticated.suppressed")
    assert summary["outcome"]["count"] == 7
    world.db.close()


def test_many_clients_share_one_ceiling(world) -> None:
    clients = [TestClient(world.app, client=(f"10.0.0.{i}", 4000)) for i in range(15)]
    sent = 0
    for _ in range(PER_CLIENT + 2):
        for c in clients:
            assert c.get("/v1/collections", headers={"X-API-Key": _random_key()}).status_code == 401
            sent += 1
    assert len(_noise(world)) == PER_WINDOW  # 15 clients x 10 would be more
    # the next request of anyone, here an authenticated one, closes the window
    world.clock.set(world.clock() + timedelta(seconds=WINDOW_SECONDS))
    assert world.client.get("/v1/whoami", headers=world.headers("A", "operator")).status_code == 200
    (summary,) = world.records(operation="http.unauthenticated.suppressed")
    counts, suppressed = summary["request"], summary["outcome"]["count"]
    assert suppressed == sent - PER_WINDOW
    assert sum(counts["clients"].values()) + counts["other_clients"] == suppressed
    assert len(counts["clients"]) == 15


def test_memory_is_bounded_by_the_number_of_clients_counted(tmp_path) -> None:
    db = GovernanceDB(tmp_path / "governance.sqlite3")
    clock = Clock()
    log = UnauthenticatedLog(AuditLog(db, clock=clock), clock)
    attempts = MAX_CLIENTS + 200
    for i in range(attempts):
        key_id = None if i % 2 else f"{i:016x}"
        event = Unauthenticated(
            request_id=str(i), method="GET", path="/", key_id=key_id, reason="r", code="c"
        )
        log.record(event, client=f"client-{i}", key_id=key_id)
    assert len(log._per_client) == MAX_CLIENTS
    clock.set(NOW + timedelta(seconds=WINDOW_SECONDS))
    log.flush()
    records = [r.body for r in AuditLog(db).records()]
    assert len(records) == PER_WINDOW + 1
    counts, suppressed = records[-1]["request"], records[-1]["outcome"]["count"]
    assert suppressed == attempts - PER_WINDOW
    assert counts["other_clients"] == suppressed - len(counts["clients"])
    assert counts["without_key_id"] + counts["distinct_key_ids"] == suppressed
    assert log._per_client == {} and log._distinct == set()
    db.close()


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


# the Rekognition protocol's failed signatures go through the same limiter ------------------------


def test_sigv4_failures_are_bounded_and_counted(world, monkeypatch) -> None:
    import json

    import botocore.auth
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from faceledger.governance.sigv4keys import SigV4Keys

    issued = SigV4Keys(world.db, world.root).create(world.orgs["A"].accounts["operator"])
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: world.clock())

    def post(key_id: str, secret: str) -> dict:
        req = AWSRequest(
            method="POST", url="http://testserver/", data=b"{}",
            headers={"X-Amz-Target": "RekognitionService.ListCollections",
                     "amz-sdk-invocation-id": secrets.token_hex(8)},
        )  # fmt: skip
        SigV4Auth(Credentials(key_id, secret), "rekognition", "us-east-1").add_auth(req)
        r = world.client.post("/", content=req.body, headers=dict(req.headers.items()))
        return {"status": r.status_code, **r.json()}

    sent = 0
    for i in range(60):  # a wrong secret for a real key, and keys nobody issued
        bad = (
            post(issued.access_key_id, "x" * 40)
            if i % 2
            else post("FLAKNOBODY" + f"{i:010d}", "y" * 40)
        )
        assert bad["status"] == 400
        assert bad["__type"] in ("InvalidSignatureException", "UnrecognizedClientException")
        sent += 1
    recs = _noise(world)
    assert len(recs) == PER_CLIENT, len(recs)  # the rest only counted
    assert all(r["request"]["protocol"] == "rekognition" for r in recs)
    # the window closes: the next request that authenticates writes the summary
    world.clock.set(world.clock() + timedelta(seconds=WINDOW_SECONDS + 1))
    ok = post(issued.access_key_id, issued.secret_access_key)
    assert ok["status"] == 200 and "CollectionIds" in ok
    (summary,) = world.records(operation="http.unauthenticated.suppressed")
    assert summary["outcome"]["count"] == sent - PER_CLIENT
    assert issued.access_key_id in summary["request"]["key_ids"]
    assert issued.secret_access_key not in json.dumps(world.records())
