"""The API's surface: documentation that works offline, response fields spelled right."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from api_helpers import missing_person

C = "/v1/collections/people"


@pytest.fixture
def ready(world):
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    assert world.client.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    return world, h


# documentation offline ----------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_docs_work_offline(world) -> None:
    c = world.client
    r = c.get("/docs")
    assert r.status_code == 200
    html = r.text
    parser = _Links()
    parser.feed(html)
    # every asset of the page is ours: no host named anywhere in it
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s'\"]+", html)
    assert not re.search(r"(src|href)\s*=\s*['\"]//", html)
    assert any(u.endswith(".js") for u in parser.urls)
    assert any(u.endswith(".css") for u in parser.urls)
    for url in parser.urls:
        assert not urlsplit(url).netloc, url
        asset = c.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
    assert "/openapi.json" in html and c.get("/openapi.json").status_code == 200


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
