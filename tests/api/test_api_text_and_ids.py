"""Over HTTP: free text is printable and ids follow the one rule the CLI and the store use."""

from __future__ import annotations

from dataclasses import replace

import pytest
from api_helpers import missing_person, upload

from testdata import PORTRAITS

C = "/v1/collections/people"
BAD_TEXT = {
    "space": " ",
    "tab": "\t",
    "nul": "\x00",
    "zero-width space": "\u200b",
    "right-to-left override": "\u202e",
    "override inside": "form-1\u202e7-mrof",
}


@pytest.fixture
def ready(world):
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert world.client.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    return world, h


def test_bad_consent_and_external_ids_are_refused(ready) -> None:
    world, h = ready
    c = world.client
    for name, value in BAD_TEXT.items():
        for field in ("consent", "external_image_id"):
            r = c.post(f"{C}/faces", files=upload(PORTRAITS[0]), data={field: value}, headers=h)
            assert r.status_code == 422, (name, field, r.text)
            error = r.json()["error"]
            assert error["code"] == "invalid_request" and error["message"].startswith(field)
            (rec,) = world.records(request_id=r.headers["x-request-id"])
            assert rec["operation"] == "http.rejected"
    assert c.get(f"{C}/faces", headers=h).json()["faces"] == []
    ok = c.post(f"{C}/faces", files=upload(PORTRAITS[0]), data={"consent": " form 1 "}, headers=h)
    assert ok.status_code == 201, ok.text
    (rec,) = world.records(request_id=ok.headers["x-request-id"])
    assert rec["request"]["consent"] == "form 1"


def test_bad_declarations_are_refused(ready) -> None:
    world, h = ready
    r = world.client.get("/v1/collections", headers={**h, "X-Case-Ref": "C-1\u202e7".encode()})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_argument"
    assert "X-Case-Ref" in r.json()["error"]["message"]


@pytest.mark.parametrize("bad", [".", "..", ".people", "a/b", "people\n"])
def test_dot_and_malformed_collection_ids_are_refused(ready, bad) -> None:
    world, h = ready
    r = world.client.post("/v1/collections", json={"collection_id": bad}, headers=h)
    assert r.status_code == 422, r.text
    listed = world.client.get("/v1/collections", headers=h).json()["collections"]
    assert [x["collection_id"] for x in listed] == ["people"]


def test_ids_with_a_colon_made_by_the_service_are_reachable_over_http(world) -> None:
    """The CLI and the store have always accepted ``case:42``; HTTP refused it (422)."""
    key = world.orgs["A"].keys["operator"]
    declared = missing_person(world.clock().date())
    ctx = replace(
        world.app.state.principals.authenticate(key),
        purpose=declared["X-Purpose"],
        case_ref=declared["X-Case-Ref"],
        authorization_ref=declared["X-Authorization-Ref"],
    )
    ctx = replace(ctx, authorization_date=world.clock().date())
    world.app.state.faces.create_collection(ctx, "case:42")
    h = world.headers("A", "operator", **declared)
    c = world.client
    r = c.get("/v1/collections/case:42", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["collection"]["collection_id"] == "case:42"
    r = c.post("/v1/collections/case:42/faces", files=upload(PORTRAITS[0]), headers=h)
    assert r.status_code == 201, r.text
    r = c.post("/v1/collections/case:42/users", json={"user_id": "person:7"}, headers=h)
    assert r.status_code == 201, r.text
    assert c.delete("/v1/collections/case:42/users/person:7", headers=h).status_code == 200
    assert (
        c.post("/v1/collections", json={"collection_id": "case:43"}, headers=h).status_code == 201
    )


def test_review_notes_are_printable_text(ready) -> None:
    world, h = ready
    c = world.client
    assert c.post(f"{C}/faces", files=upload(PORTRAITS[0]), headers=h).status_code == 201
    r = c.post(f"{C}/search", files=upload(PORTRAITS[0]), headers=h)
    assert r.status_code == 202, r.text
    lead = r.json()["lead"]["id"]
    reviewer = world.headers("A", "reviewer")
    r = c.post(f"/v1/leads/{lead}/confirm", json={"note": "same scar\u202e"}, headers=reviewer)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_argument"
    assert "note" in r.json()["error"]["message"]
    refused = world.records(lead_id=lead)[-1]
    assert refused["decision"]["rule"] == "review-invalid-note"
    assert "\u202e" not in str(refused)
    r = c.post(f"/v1/leads/{lead}/confirm", json={"note": "  same scar "}, headers=reviewer)
    assert r.status_code == 200, r.text
    assert r.json()["lead"]["reviews"][0]["note"] == "same scar"
