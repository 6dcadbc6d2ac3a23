"""The API's surface: documentation that works offline, response fields spelled right."""

from __future__ import annotations

import pytest
from api_helpers import missing_person

C = "/v1/collections/people"


@pytest.fixture
def ready(world):
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert world.client.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    return world, h


# field names --------------------------------------------------------------------------------------


def test_association_responses_use_the_right_field_names(ready) -> None:
    world, h = ready
    c = world.client
    assert c.post(f"{C}/users", json={"user_id": "u1"}, headers=h).status_code == 201
    r = c.post(f"{C}/users/u1/associate", json={"face_ids": ["ghost"]}, headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["associated_faces"] == []
    assert body["unsuccessful_face_associations"] == [
        {"face_id": "ghost", "reason": "FACE_NOT_FOUND"}
    ]
    r = c.post(f"{C}/users/u1/disassociate", json={"face_ids": ["ghost"]}, headers=h)
    body = r.json()
    assert body["disassociated_faces"] == []
    assert body["unsuccessful_face_disassociations"] == [
        {"face_id": "ghost", "reason": "FACE_NOT_FOUND"}
    ]
    assert not any("associat" in k and k.endswith("ats") for k in body)
