"""Errors: one JSON shape, stable codes, HTTP statuses as intended, no stack traces."""

from __future__ import annotations

import io

import pytest
from api_helpers import make_world, missing_person, upload
from PIL import Image

from testdata import PORTRAITS

C = "/v1/collections/people"


@pytest.fixture
def ready(world):
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert world.client.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    return world, h


def error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text and "/work/" not in r.text and ".py" not in r.text
    return body["error"]


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height), 128).save(buf, format="PNG")
    return buf.getvalue()


def test_image_errors(ready) -> None:
    world, h = ready
    c = world.client
    jpeg = PORTRAITS[0].read_bytes()
    cases = [
        (b"", 422, "empty_image"),
        (b"hello, this is text and not a picture", 415, "not_an_image"),
        (jpeg[: len(jpeg) // 3], 422, "corrupt_image"),
        (png(8000, 6000), 413, "image_too_large"),
    ]
    for data, status, code in cases:
        error(c.post(f"{C}/faces", files=upload(data), headers=h), status, code)
        error(c.post("/v1/detect", files=upload(data), headers=h), status, code)
    # the failures are in the log, with their codes
    codes = [x["outcome"].get("error") for x in world.records(operation="faces.index")]
    assert codes == ["empty_image", "not_an_image", "corrupt_image", "image_too_large"]


def test_body_size_limit(tmp_path, engine) -> None:
    world = make_world(tmp_path, engine, max_body=5_000)
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert PORTRAITS[0].stat().st_size > 5_000
    with world.client as c:
        error(c.post("/v1/detect", files=upload(PORTRAITS[0]), headers=h), 413, "payload_too_large")

        def chunks():  # no Content-Length: the limit holds while streaming
            for _ in range(10):
                yield b"x" * 1000

        r = c.post("/v1/collections", content=chunks(), headers={**h, "content-type": "a/b"})
        error(r, 413, "payload_too_large")
        assert c.get("/v1/health").status_code == 200
    world.db.close()


def test_ids_keys_and_bodies(ready) -> None:
    world, h = ready
    c = world.client
    error(c.get("/v1/collections/nope", headers=h), 404, "not_found")
    error(c.delete(f"{C}/faces/no-such-face", headers=h), 404, "not_found")
    error(c.post(f"{C}/faces/no-such-face/search", headers=h), 404, "not_found")
    error(c.delete(f"{C}/users/ghost", headers=h), 404, "not_found")
    error(c.get("/v1/leads/lead_0123456789abcdef", headers=h), 404, "not_found")
    error(c.post("/v1/collections", json={"collection_id": "people"}, headers=h), 409, "conflict")
    error(c.get("/v1/collections", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    forged = world.orgs["A"].keys["operator"][:-4] + "0000"
    error(c.get("/v1/collections", headers={"X-API-Key": forged}), 401, "unauthorized")
    error(c.get("/v1/collections"), 401, "unauthorized")
    bad_json = {**h, "content-type": "application/json"}
    error(c.post("/v1/collections", content=b'{"collection_id": ', headers=bad_json), 400,
          "malformed_request")  # fmt: skip
    e = error(c.post("/v1/collections", json={"name": "x"}, headers=h), 422, "validation_error")
    assert e["details"]
    error(c.post("/v1/collections", json={"collection_id": "a b/c"}, headers=h), 422,
          "validation_error")  # fmt: skip
    error(c.get("/v1/collections", params={"limit": 0}, headers=h), 422, "validation_error")
    error(c.get("/v1/collections", params={"next_token": "garbage"}, headers=h), 422,
          "invalid_request")  # fmt: skip
    error(c.get("/v1/nothing-here", headers=h), 404, "not_found")
    error(c.put("/v1/collections", headers=h), 405, "method_not_allowed")
    r = c.post(f"{C}/users/search", data={"threshold": "50"}, headers=h)
    error(r, 422, "invalid_request")


def test_internal_errors_say_nothing(tmp_path, engine, portraits) -> None:
    class Broken:
        model_id = engine.model_id
        config = engine.config

        def represent(self, *_a, **_k):
            raise RuntimeError("secret detail /etc/passwd")

        detect = compare = represent

    world = make_world(tmp_path, Broken())
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    with world.client as c:
        assert c.post("/v1/collections", json={"collection_id": "people"}, headers=h)
        r = c.post(f"{C}/faces", files=upload(portraits[0]), headers=h)
        e = error(r, 500, "internal")
        assert "secret" not in r.text and "RuntimeError" not in r.text
        assert e["message"]
    (rec,) = world.records(operation="faces.index")
    assert rec["outcome"] == {"status": "error", "error": "internal"}
    world.db.close()


def test_rate_limit_is_429_with_retry_after(tmp_path, engine) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\n"
        "rules:\n"
        "  - id: detect-sparingly\n"
        "    when: {operations: [detect]}\n"
        "    effect: allow\n"
        "    rate_limit: {requests: 2, per: 1m, scope: principal}\n"
        "    reason: Detection is rationed.\n"
    )
    world = make_world(tmp_path, engine, policy=policy)
    h = world.headers("A", "operator")
    with world.client as c:
        statuses = [
            c.post("/v1/detect", files=upload(PORTRAITS[0]), headers=h).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        r = c.post("/v1/detect", files=upload(PORTRAITS[0]), headers=h)
        e = error(r, 429, "rate_limited")
        assert e["rule"] == "detect-sparingly" and int(r.headers["retry-after"]) >= 1
        # anything the policy does not allow is denied by default
        r = c.get("/v1/collections", headers=h)
        assert error(r, 403, "policy_denied")["rule"] == "default-deny"
    world.db.close()


def test_requests_refused_before_a_decision_are_logged_for_known_principals(ready) -> None:
    world, h = ready
    c = world.client
    refused = [
        c.get("/v1/collections", params={"limit": 0}, headers=h),
        c.get("/v1/collections", headers={**h, "X-Authorization-Date": "soon"}),
        c.post("/v1/collections", content=b"{", headers={**h, "content-type": "application/json"}),
        c.get("/v1/no-such-thing", headers=h),
    ]
    for r in refused:
        (rec,) = world.records(request_id=r.headers["x-request-id"])
        assert rec["operation"] == "http.rejected" and rec["tenant_id"] == world.orgs["A"].id
        assert rec["outcome"] == {"status": "rejected", "error": r.json()["error"]["code"]}
        assert rec["decision"]["allowed"] is False
    # no principal, nothing to attribute: not in any organization's log
    anon = c.get("/v1/collections", params={"limit": 0})
    assert world.records(request_id=anon.headers["x-request-id"]) == []
    # a decided request is recorded once, by the service, not again here
    denied = c.get("/v1/collections", headers=world.headers("A", "auditor"))
    assert len(world.records(request_id=denied.headers["x-request-id"])) == 1


def test_failed_keys_are_audit_logged_without_the_secret(world) -> None:
    """A presented key that does not authenticate leaves one tenant-less record with its key id."""
    c = world.client
    good = world.orgs["A"].keys["operator"]
    forged = good[:-4] + "0000"
    r = c.get("/v1/collections", headers={"X-API-Key": forged})
    error(r, 401, "unauthorized")
    (rec,) = world.records(request_id=r.headers["x-request-id"])
    assert rec["operation"] == "http.unauthenticated" and rec["tenant_id"] is None
    assert rec["request"]["key_id"] == good.split("_")[1]
    assert rec["decision"] == {
        "allowed": False,
        "rule": "authentication",
        "reason": rec["decision"]["reason"],
    }
    assert forged.split("_")[2] not in str(rec)  # the secret part is never written
    junk = c.get("/v1/collections", headers={"Authorization": "Bearer nope"})
    (rec,) = world.records(request_id=junk.headers["x-request-id"])
    assert rec["request"]["key_id"] is None
    missing = c.get("/v1/collections")
    assert world.records(request_id=missing.headers["x-request-id"]) == []
