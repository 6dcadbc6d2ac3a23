"""Page tokens: opaque (no store counter shows through), bound to the tenant, the collection
and the listing that issued them, and a malformed one is a 422, never a 500."""

from __future__ import annotations

import base64

import pytest
from api_helpers import missing_person

C = "/v1/collections/people"


@pytest.fixture
def ready(world):
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert world.client.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    return world, h


# tokens -------------------------------------------------------------------------------------------


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def test_page_tokens_never_crash(ready) -> None:
    world, h = ready
    c = world.client
    bad = [
        _token("int:" + "9" * 40),
        _token("int:-1"),
        _token("str:people"),
        "garbage!",
        "%%%%",
        "AAAA" * 100,
        "é" * 10,
    ]
    for token in bad:
        for path in ("/v1/collections", f"{C}/faces", f"{C}/users"):
            r = c.get(path, params={"next_token": token}, headers=h)
            assert r.status_code == 422, (path, token, r.text)
            assert "page token" in r.json()["error"]["message"]


def test_page_tokens_are_opaque_and_bound_to_tenant_and_listing(world) -> None:
    c = world.client
    today = world.clock().date()
    ha = world.headers("A", "operator", **missing_person(today))
    hb = world.headers("B", "operator", **missing_person(today))
    for h in (ha, hb):
        for name in ("col-alpha", "col-bravo", "col-charlie"):
            assert c.post("/v1/collections", json={"collection_id": name}, headers=h)
            for user in ("user-one", "user-two"):
                r = c.post(f"/v1/collections/{name}/users", json={"user_id": user}, headers=h)
                assert r.status_code == 201
    first = c.get("/v1/collections", params={"limit": 1}, headers=ha).json()
    token = first["next_token"]
    assert token and b"col-alpha" not in base64.urlsafe_b64decode(token + "==")
    nxt = c.get("/v1/collections", params={"limit": 1, "next_token": token}, headers=ha)
    assert [x["collection_id"] for x in nxt.json()["collections"]] == ["col-bravo"]
    # another tenant with the very same collection names cannot use it
    r = c.get("/v1/collections", params={"limit": 1, "next_token": token}, headers=hb)
    assert r.status_code == 422 and "page token" in r.json()["error"]["message"]
    r = c.get("/v1/collections/col-alpha/users", params={"limit": 1}, headers=ha)
    users = r.json()["next_token"]
    assert b"user-one" not in base64.urlsafe_b64decode(users + "==")
    ok = c.get("/v1/collections/col-alpha/users", params={"next_token": users}, headers=ha)
    assert [u["user_id"] for u in ok.json()["users"]] == ["user-two"]
    refused = [
        ("/v1/collections/col-bravo/users", users, ha),  # another collection
        ("/v1/collections/col-alpha/users", users, hb),  # another tenant, same names
        ("/v1/collections", users, ha),  # another listing
        ("/v1/collections/col-alpha/faces", users, ha),
        ("/v1/collections/col-alpha/users", token, ha),
    ]
    for path, tok, h in refused:
        r = c.get(path, params={"next_token": tok}, headers=h)
        assert r.status_code == 422, (path, r.text)
