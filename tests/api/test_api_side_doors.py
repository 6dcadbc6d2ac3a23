"""Side doors found by attacking the service (issue 16): compare as identification, the result cap
per request, work before the decision, re-indexing after a delete. Real engine, real portraits."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from api_helpers import make_world, missing_person, upload

from faceledger import Engine
from testdata import PORTRAITS, encode, group_photo

C = "/v1/collections/people"


@pytest.fixture()
def world(tmp_path, engine):
    return make_world(tmp_path, engine)


@pytest.fixture(scope="module")
def six_faces() -> bytes:
    """One image with the six enrolled people side by side."""
    return encode(group_photo(PORTRAITS, scales=[0.9] * 6, size=(1900, 420)))


def enroll_all(world, times: int = 1) -> list[str]:
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert world.client.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    ids = []
    for p in PORTRAITS * times:
        r = world.client.post(f"{C}/faces", files=upload(p), headers=h)
        assert r.status_code == 201, r.text
        ids.append(r.json()["face_records"][0]["face_id"])
    return ids


def compare(world, target: bytes, **declared: str):
    files = {**upload(PORTRAITS[2], "source"), **upload(target, "target", "t.jpg")}
    return world.client.post(
        "/v1/compare", files=files, headers=world.headers("A", "operator", **declared)
    )


def test_compare_against_many_faces_is_identification(world, six_faces) -> None:
    today = world.clock().date()
    crime = missing_person(today, **{"X-Purpose": "criminal-investigation"})
    r = compare(world, six_faces, **crime)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["rule"] == "law-enforcement-search-moratorium"
    record = world.records(operation="compare.one_to_many")[-1]
    assert record["decision"]["allowed"] is False and record["request"]["target_faces"] == 6

    ancient = missing_person(today, **{"X-Authorization-Date": "0001-01-01"})
    r = compare(world, six_faces, **ancient)
    assert r.status_code == 403 and "days old" in r.json()["error"]["message"]

    r = compare(world, six_faces, **missing_person(today))
    assert r.status_code == 202, r.text  # held for two reviewers, like a search
    lead_id = r.json()["lead"]["id"]
    lead = world.client.get(f"/v1/leads/{lead_id}", headers=world.headers("A", "reviewer")).json()[
        "lead"
    ]
    assert len(lead["results"]) == 6 and all("similarity" in row for row in lead["results"])


def test_one_to_one_compare_keeps_its_own_rules(world) -> None:
    today = world.clock().date()
    one = PORTRAITS[2].read_bytes()
    old = missing_person(
        today, **{"X-Authorization-Date": (today - timedelta(days=400)).isoformat()}
    )
    r = compare(world, one, **old)
    assert r.status_code == 403 and r.json()["error"]["rule"] == "law-enforcement-comparison"
    r = compare(world, one, **missing_person(today))
    assert r.status_code == 202
    assert world.records(operation="compare")[-1]["request"]["target_faces"] == 1


def test_research_compare_with_many_faces_needs_purpose_and_case(tmp_path, engine, six_faces):
    world = make_world(tmp_path, engine, actor_class="research")
    r = compare(world, six_faces)
    assert r.status_code == 403
    assert r.json()["error"]["rule"] == "identification-needs-purpose-and-case"
    assert compare(world, PORTRAITS[1].read_bytes()).status_code == 200
    r = compare(world, six_faces, **{"X-Purpose": "research", "X-Case-Ref": "ETH-1"})
    assert r.status_code == 200 and len(r.json()["matches"]) == 6


def test_the_result_cap_is_per_request(world, six_faces) -> None:
    """all_faces with a six-face probe: the policy's cap (10) bounds the whole answer."""
    enroll_all(world, times=2)  # each person twice: 12 candidates above the floor
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    r = world.client.post(
        f"{C}/search", files=upload(six_faces), data={"all_faces": "true", "threshold": "0",
                                                      "max_results": "4096"}, headers=h,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    lead = world.client.get(
        f"/v1/leads/{r.json()['lead']['id']}", headers=world.headers("A", "reviewer")
    ).json()["lead"]
    assert len(lead["results"]) == 10  # 6 probes x 2 copies above the floor; the cap is 10
    assert min(row["similarity"] for row in lead["results"]) >= 99  # the policy's floor


class CountingEngine(Engine):
    embedded = 0

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        CountingEngine.embedded += len(chips)
        return super().embed_chips(chips)


def test_index_embeds_only_the_faces_it_keeps(tmp_path, six_faces) -> None:
    world = make_world(tmp_path, CountingEngine())
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    world.client.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    CountingEngine.embedded = 0
    r = world.client.post(f"{C}/faces", files=upload(six_faces), data={"max_faces": "1"}, headers=h)
    assert r.status_code == 201, r.text
    assert len(r.json()["face_records"]) == 1 and len(r.json()["unindexed_faces"]) == 5
    assert CountingEngine.embedded == 1, "only the kept face is embedded"
    # denied before any pixel is decoded: no embedding at all
    CountingEngine.embedded = 0
    bare = world.headers("A", "operator")
    r = world.client.post(f"{C}/faces", files=upload(six_faces), headers=bare)
    assert r.status_code == 403 and CountingEngine.embedded == 0


def test_reindexing_after_delete_indexes_again(world) -> None:
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    world.client.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    first = world.client.post(f"{C}/faces", files=upload(PORTRAITS[4]), headers=h).json()
    (face_id,) = [f["face_id"] for f in first["face_records"]]
    assert world.client.delete(f"{C}/faces/{face_id}", headers=h).status_code == 200
    again = world.client.post(f"{C}/faces", files=upload(PORTRAITS[4]), headers=h).json()
    assert again["skipped"] is False and len(again["face_records"]) == 1
    described = world.client.get(C, headers=h).json()["collection"]
    assert described["face_count"] == 1 and described["image_count"] == 1
