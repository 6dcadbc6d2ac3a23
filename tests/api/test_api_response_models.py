"""The OpenAPI document describes every response, and real responses match it.

Every /v1 operation documents a schema (a model, not ``{}``) for each of its 2xx responses and
the one error body for each of its 4xx; and a real request to every operation, answered 2xx,
validates both against the document (as a client would check it) and against the route's
pydantic model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import schemathesis
from api_helpers import add_org, make_world, missing_person, upload

from faceledger.api import (
    models,
    models_crops,
    models_evaluation,
    models_footage,
    models_lifecycle,
    models_video,
)
from faceledger.video.jobs import VideoWorker
from testdata import PORTRAITS, encode, group_photo
from videodata import Appearance, clip

C = "/v1/collections/{collection_id}"
SEARCHES = {
    ("POST", f"{C}/search"),
    ("POST", f"{C}/faces/{{face_id}}/search"),
    ("POST", f"{C}/users/search"),
    ("POST", "/v1/compare"),
}
JOBS = {
    ("POST", f"{C}/video-searches"): "VideoSearchJob",
    ("POST", "/v1/footage-requests/{request_id}/searches"): "FootageSearchResponse",
}
"""Asynchronous jobs: 202 is their success (the jobs, queued)."""


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        if path.startswith("/v1/")
        for method, op in item.items()
    }


def _component_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    assert ref.startswith("#/components/schemas/"), schema
    return ref.rsplit("/", 1)[1]


def _component(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    return doc["components"]["schemas"][_component_name(schema)]


def test_every_response_of_every_operation_has_a_schema(world) -> None:
    doc = world.app.openapi()
    operations = _operations(doc)
    assert len(operations) >= 24
    for (method, path), op in operations.items():
        where = f"{method} {path}"
        statuses = set(op["responses"])
        assert any(s.startswith("2") for s in statuses), where
        for status, response in op["responses"].items():
            schema = response["content"]["application/json"]["schema"]
            component = _component(doc, schema)
            assert component.get("properties"), f"{where} {status}: no fields documented"
            assert component.get("additionalProperties") is False, f"{where} {status}"
            if status.startswith("4"):
                assert schema["$ref"].endswith("/ErrorBody"), f"{where} {status}"
        if path != "/v1/health":
            assert {"400", "401", "403", "422", "429"} <= statuses, where
        if (method, path) in JOBS:
            assert op["responses"]["202"]["content"]["application/json"]["schema"]["$ref"] == (
                f"#/components/schemas/{JOBS[method, path]}"
            )
        elif (method, path) in SEARCHES:
            assert op["responses"]["202"]["content"]["application/json"]["schema"]["$ref"] == (
                "#/components/schemas/PendingLead"
            )
        else:
            assert "202" not in statuses, where
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "message", "request_id"}
    assert {"rule", "details"} <= set(error["properties"])


class Checker:
    """Validates responses against the OpenAPI document and the model it names."""

    def __init__(self, app: Any) -> None:
        self.doc = app.openapi()
        self.schema = schemathesis.openapi.from_dict(self.doc)
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, method: str, path: str, response: Any, status: int) -> dict[str, Any]:
        assert response.status_code == status, (method, path, response.text[:500])
        documented = self.doc["paths"][path][method.lower()]["responses"]
        assert str(status) in documented, (method, path, status)
        self.schema[path][method].validate_response(response)
        body = response.json()
        schema = documented[str(status)]["content"]["application/json"]["schema"]
        name = _component_name(schema)  # the model the document names
        model = (
            getattr(models, name, None)
            or getattr(models_lifecycle, name, None)
            or getattr(models_evaluation, name, None)
            or getattr(models_crops, name, None)
            or getattr(models_video, name, None)
            or getattr(models_footage, name)
        )
        model.model_validate(body)
        self.seen.add((method, path))
        return body


def _research_world(tmp_path, engine, check: Checker) -> None:
    """Every operation answering 200/201: a research organization is not held for review."""
    w = make_world(tmp_path / "research", engine, actor_class="research")
    c = w.client
    h = w.headers("A", "operator", **{"X-Purpose": "research", "X-Case-Ref": "r-1"})
    group = encode(group_photo(PORTRAITS[1:4], scales=[1.0, 0.8, 0.6]))
    with c:
        check("GET", "/v1/health", c.get("/v1/health"), 200)
        check("GET", "/v1/whoami", c.get("/v1/whoami", headers=h), 200)
        r = c.post("/v1/collections", json={"collection_id": "people"}, headers=h)
        check("POST", "/v1/collections", r, 201)
        check("GET", "/v1/collections", c.get("/v1/collections", headers=h), 200)
        p = "/v1/collections/people"
        check("GET", C, c.get(p, headers=h), 200)
        r = c.post(f"{p}/faces", files=upload(PORTRAITS[0]), data={"consent": "c-1"}, headers=h)
        face_id = check("POST", f"{C}/faces", r, 201)["face_records"][0]["face_id"]
        r = c.post(
            f"{p}/faces", files=upload(group), data={"consent": "c-2", "max_faces": "1"}, headers=h
        )
        assert check("POST", f"{C}/faces", r, 201)["unindexed_faces"]
        check("GET", f"{C}/faces", c.get(f"{p}/faces", params={"limit": 1}, headers=h), 200)
        r = c.post(f"{p}/search", files=upload(PORTRAITS[0]), headers=h)
        assert check("POST", f"{C}/search", r, 200)["searches"][0]["matches"]
        r = c.post(f"{p}/faces/{face_id}/search", json={"threshold": 0}, headers=h)
        assert check("POST", f"{C}/faces/{{face_id}}/search", r, 200)["searches"][0]["matches"]
        r = c.post(
            "/v1/compare",
            files={**upload(PORTRAITS[0], "source"), **upload(group, "target")},
            headers=h,
        )
        assert check("POST", "/v1/compare", r, 200)["matches"]
        r = c.post("/v1/detect", files=upload(group), headers=h)
        assert len(check("POST", "/v1/detect", r, 200)["faces"]) == 3
        u = f"{C}/users"
        check("POST", u, c.post(f"{p}/users", json={"user_id": "u1"}, headers=h), 201)
        check("GET", u, c.get(f"{p}/users", headers=h), 200)
        r = c.post(f"{p}/users/u1/associate", json={"face_ids": [face_id, "ghost"]}, headers=h)
        assert check("POST", f"{u}/{{user_id}}/associate", r, 200)["unsuccessful_face_associations"]
        r = c.post(f"{p}/users/search", files=upload(PORTRAITS[0]), headers=h)
        assert check("POST", f"{u}/search", r, 200)["user_matches"]
        r = c.post(f"{p}/users/u1/disassociate", json={"face_ids": [face_id]}, headers=h)
        check("POST", f"{u}/{{user_id}}/disassociate", r, 200)
        check("DELETE", f"{u}/{{user_id}}", c.delete(f"{p}/users/u1", headers=h), 200)
        r = c.get("/v1/audit-log", params={"limit": 3}, headers=w.headers("A", "auditor"))
        assert check("GET", "/v1/audit-log", r, 200)["records"]
        r = c.delete(f"{p}/faces/{face_id}", headers=h)
        check("DELETE", f"{C}/faces/{{face_id}}", r, 200)
        _video(w, h, check, tmp_path)  # matches the face of the group photo
        _lifecycle(c, h, check)  # closes case r-1: its faces go
        check("DELETE", C, c.delete(p, headers=h), 200)
    w.app.state.close()
    w.db.close()


def _tester_world(tmp_path, engine, check: Checker) -> None:
    """An independent tester's evaluation of a tiny set (two people, two images each)."""
    import io
    import zipfile

    from PIL import Image, ImageOps

    w = make_world(tmp_path / "tester", engine, actor_class="independent-tester")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        lines = ["path,subject,gender"]
        for k, path in enumerate(PORTRAITS[:2]):
            img = Image.open(path).convert("RGB")
            z.writestr(f"{k}a.jpg", encode(np.asarray(img)))
            z.writestr(f"{k}b.jpg", encode(np.asarray(ImageOps.mirror(img))))
            lines += [f"{k}a.jpg,s{k},{'MF'[k]}", f"{k}b.jpg,s{k},{'MF'[k]}"]
        z.writestr("manifest.csv", "\n".join(lines))
    with w.client as c:
        r = c.post("/v1/evaluations", files={"archive": ("s.zip", buf.getvalue())},
                   data={"bootstrap": "10"}, headers=w.headers("A", "operator"))  # fmt: skip
        assert check("POST", "/v1/evaluations", r, 200)["verification"]["genuine_pairs"] == 2
    w.app.state.close()
    w.db.close()


def _video(w: Any, h: dict[str, str], check: Checker, tmp_path: Any) -> None:
    c, p = w.client, "/v1/collections/people/video-searches"
    footage = clip(tmp_path / "v.mp4", [Appearance(PORTRAITS[1], 0.0, 1.0, speed=0)],
                   seconds=1, size=(400, 300))  # fmt: skip
    files = {"video": ("v.mp4", footage.read_bytes(), "video/mp4")}
    job = check("POST", f"{C}/video-searches", c.post(p, files=files, headers=h), 202)
    other = check("POST", f"{C}/video-searches", c.post(p, files=files, headers=h), 202)
    j = "/v1/video-searches/{job_id}"
    assert check("DELETE", j, c.delete(f"/v1/video-searches/{other['job_id']}", headers=h), 200)
    assert VideoWorker(w.app.state.faces).run_pending() == 1
    done = check("GET", j, c.get(f"/v1/video-searches/{job['job_id']}", headers=h), 200)
    assert done["status"] == "succeeded" and done["persons"][0]["matches"], done


def _footage(w: Any, agency: dict[str, str], check: Checker, tmp_path: Any) -> None:
    c = w.client
    owner = {"Authorization": f"Bearer {add_org(w, 'house', 'camera-owner').keys['operator']}"}
    r = c.post("/v1/cameras", json={"name": "door", "lat": 51.5, "lon": -0.1}, headers=owner)
    camera = check("POST", "/v1/cameras", r, 201)["camera"]["camera_id"]
    ask = {"start": "2024-05-01T01:00:00Z", "end": "2024-05-01T02:00:00Z", "lat": 51.5,
           "lon": -0.1, "radius_m": 100, "reason": "A missing person was seen here."}  # fmt: skip
    r = c.post("/v1/footage-requests", json=ask, headers=agency)
    fr = check("POST", "/v1/footage-requests", r, 201)["footage_request"]["request_id"]
    r = c.get("/v1/footage-requests/inbox", headers=owner)
    assert check("GET", "/v1/footage-requests/inbox", r, 200)["requests"]
    footage = clip(
        tmp_path / "door.mp4", [], seconds=1, size=(160, 120), recorded="2024-05-01T01:30:00Z"
    )
    files = {"video": ("door.mp4", footage.read_bytes(), "video/mp4")}
    path = "/v1/footage-requests/{request_id}"
    for _ in range(2):
        r = c.post(f"/v1/footage-requests/{fr}/shares", files=files, data={"camera_id": camera},
                   headers=owner)  # fmt: skip
        share = check("POST", f"{path}/shares", r, 201)["share"]["share_id"]
    r = c.delete(f"/v1/footage-shares/{share}", headers=owner)
    assert check("DELETE", "/v1/footage-shares/{share_id}", r, 200)["share"]["status"] == "revoked"
    r = c.post(f"/v1/footage-requests/{fr}/decline", headers=owner)
    check("POST", f"{path}/decline", r, 200)
    r = c.post(f"/v1/footage-requests/{fr}/searches", json={"collection_id": "people"},
               headers=agency)  # fmt: skip
    assert len(check("POST", f"{path}/searches", r, 202)["jobs"]) == 1


def _lifecycle(c: Any, h: dict[str, str], check: Checker) -> None:
    consent = {"subject_ref": "s-1", "collections": ["people"], "evidence_ref": "form 1"}
    r = c.post("/v1/consents", json=consent, headers=h)
    cid = check("POST", "/v1/consents", r, 201)["consent"]["consent_id"]
    r = c.post("/v1/collections/people/faces", files=upload(PORTRAITS[5]),
               data={"consent": cid}, headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    listed = check("GET", "/v1/consents", c.get("/v1/consents", headers=h), 200)["consents"]
    assert cid in [x["consent_id"] for x in listed]
    assert check("GET", "/v1/consents/{consent_id}", c.get(f"/v1/consents/{cid}", headers=h), 200)
    r = c.post(f"/v1/consents/{cid}/withdraw", headers=h)
    withdrawal = check("POST", "/v1/consents/{consent_id}/withdraw", r, 200)["withdrawal"]
    assert withdrawal["count"] == 1 and withdrawal["consent"]["status"] == "withdrawn"
    check("POST", "/v1/retention/run", c.post("/v1/retention/run", headers=h), 200)
    r = c.post("/v1/cases/r-1/close", headers=h)
    assert check("POST", "/v1/cases/{case_ref}/close", r, 200)["closed"]["case_ref"] == "r-1"
    r = c.post("/v1/subjects/erase", json={"subject_ref": "s-1"}, headers=h)
    receipt = check("POST", "/v1/subjects/erase", r, 200)["receipt"]
    assert receipt["deleted"]["consents"] == [cid] and receipt["audit_record"]["seq"] > 0


@pytest.mark.sqlite_only("two data folders in one test share its database")
def test_a_real_success_response_of_every_operation_matches_the_document(
    world, tmp_path, engine
) -> None:
    check = Checker(world.app)
    _research_world(tmp_path, engine, check)
    _tester_world(tmp_path, engine, check)
    # law enforcement: searches are held for review (202), reviewers release or reject them
    c = world.client
    h = world.headers("A", "operator", **missing_person(world.clock().date()))
    r = c.post("/v1/collections", json={"collection_id": "people"}, headers=h)
    assert r.status_code == 201, r.text
    p = "/v1/collections/people"
    r = c.post(f"{p}/faces", files=upload(PORTRAITS[0]), headers=h)
    assert r.status_code == 201, r.text
    face_id = r.json()["face_records"][0]["face_id"]
    r = c.post(f"{p}/search", files=upload(PORTRAITS[0]), headers=h)
    first = check("POST", f"{C}/search", r, 202)["lead"]["id"]
    r = c.post(f"{p}/faces/{face_id}/search", json={"threshold": 0}, headers=h)
    check("POST", f"{C}/faces/{{face_id}}/search", r, 202)
    r = c.post(f"{p}/users/search", data={"face_id": face_id}, headers=h)
    check("POST", f"{C}/users/search", r, 202)
    both = {**upload(PORTRAITS[0], "source"), **upload(PORTRAITS[1], "target")}
    r = c.post("/v1/compare", files=both, headers=h)
    assert r.status_code in (200, 202), r.text  # one target face: 1:1, not identification
    check("POST", "/v1/compare", r, r.status_code)
    r1, r2 = world.headers("A", "reviewer"), world.headers("A", "operator+reviewer")
    r = c.get("/v1/leads", params={"view": "review"}, headers=r1)
    leads = check("GET", "/v1/leads", r, 200)["leads"]
    assert {x["operation"] for x in leads} >= {"faces.search_by_image", "users.search"}
    lead = "/v1/leads/{lead_id}"
    check("POST", f"{lead}/confirm", c.post(f"/v1/leads/{first}/confirm", headers=r1), 200)
    check("POST", f"{lead}/confirm", c.post(f"/v1/leads/{first}/confirm", headers=r2), 200)
    released = check("GET", lead, c.get(f"/v1/leads/{first}", headers=h), 200)["lead"]
    assert released["status"] == "released" and released["results"]
    assert released["probe_crops"] == 1  # law enforcement: crops kept for review by default
    r = c.get(f"{p}/faces/{face_id}/crop", headers=h)
    assert check("GET", f"{C}/faces/{{face_id}}/crop", r, 200)["content_type"] == "image/jpeg"
    r = c.get(f"/v1/leads/{first}/crops/probe/0", headers=h)
    check("GET", f"{lead}/crops/probe/{{probe}}", r, 200)
    r = c.get(f"/v1/leads/{first}/crops/faces/{face_id}", headers=r1)
    check("GET", f"{lead}/crops/faces/{{face_id}}", r, 200)
    for other in leads:
        if other["id"] != first:
            r = c.post(f"/v1/leads/{other['id']}/reject", json={"note": "no"}, headers=r1)
            check("POST", f"{lead}/reject", r, 200)
    _footage(world, h, check, tmp_path)
    # the check saw every /v1 operation of the document
    assert check.seen == set(_operations(check.doc)), set(_operations(check.doc)) - check.seen


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"error": {"code": "not_found", "message": "m", "request_id": "r"}}),
        (403, {"error": {"code": "policy_denied", "message": "m", "rule": "x", "request_id": "r"}}),
    ],
)
def test_error_model_leaves_out_what_is_not_set(status, body) -> None:
    assert models.ErrorBody.model_validate(body).model_dump(mode="json") == body
