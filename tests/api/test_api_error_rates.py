"""Error rates inside each 1:N decision, through HTTP: expected false candidates (gallery size ×
the audited FMR at the threshold used) from the audit on file, or null with a reason; the
policy's bound on them; declared age bands refused or held for review.

The audit on file is a real audit (``fairness.audit``) of real portraits through the real
engine; one impostor pair in it is a portrait and its mirror image filed as two people, so that
its false-match rate is not zero and the arithmetic can be checked."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from api_helpers import make_world, missing_person, upload
from PIL import Image

from faceledger.fairness import audit
from faceledger.fairness.onfile import file_summary, summarize
from faceledger.governance.policy import default_policy_text
from testdata import PORTRAITS

C = "/v1/collections/people"


@pytest.fixture(scope="module")
def rates(tmp_path_factory) -> dict:
    """A real audit of the fixture portraits, each its own subject, plus a mirrored copy of the
    first one filed as another subject (a deliberate false match)."""
    folder = tmp_path_factory.mktemp("audit")
    mirrored = folder / "mirrored.jpg"
    Image.fromarray(np.asarray(Image.open(PORTRAITS[0]).convert("RGB"))[:, ::-1]).save(mirrored)
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "subject"])
        for i, p in enumerate([*PORTRAITS, mirrored]):
            w.writerow([str(p), f"s{i}"])
    mp = pytest.MonkeyPatch()
    mp.setenv("FACELEDGER_CACHE_DIR", str(folder / "cache"))
    try:
        result = audit(
            [str(manifest)], bootstrap=0, one_to_many=False, progress=False,
            workers=1, log=lambda m: None,
        )  # fmt: skip
    finally:
        mp.undo()
    return summarize(result)


def _world(tmp_path, engine, rates, *, policy_text=None):
    policy = None
    if policy_text is not None:
        policy = tmp_path / "policy.yaml"
        policy.write_text(policy_text)
    world = make_world(tmp_path, engine, policy=policy)
    if rates is not None:
        file_summary(world.root, rates)
    return world


def _enroll(world, headers, n: int) -> None:
    c = world.client
    assert c.post("/v1/collections", json={"collection_id": "people"}, headers=headers).is_success
    for p in PORTRAITS[:n]:
        assert c.post(f"{C}/faces", files=upload(p), headers=headers).status_code == 201


REVIEWED = """    min_similarity: 99
    max_results: 10
    review: true
    rate_limit: {requests: 200"""


def without_review() -> str:
    """The default policy, except that law-enforcement identification is not held for review
    (so that a search answers 200 with its results)."""
    text = default_policy_text()
    assert REVIEWED in text
    return text.replace(REVIEWED, REVIEWED.replace("review: true", "review: false"))


def _row(rates: dict, similarity: float) -> dict:
    return next(r for r in rates["grid"] if r["similarity"] == similarity)


def test_no_audit_on_file_is_null_with_a_reason(tmp_path, engine) -> None:
    world = _world(tmp_path, engine, None)
    with world.client:
        h = world.headers("A", "operator", **missing_person(world.clock().date()))
        _enroll(world, h, 2)
        r = world.client.post(f"{C}/search", files=upload(PORTRAITS[0]), headers=h)
        assert r.status_code == 202, r.text  # law enforcement: held for review
        er = r.json()["lead"]["error_rates"]
        assert er["gallery_size"] == 2 and er["threshold"] == 99.9
        assert er["expected_false_candidates"] is None and er["fmr"] is None
        assert "no fairness audit on file for model dlib-resnet-v1+tta6" in er["reason"]
    world.app.state.close()


def test_expected_false_candidates_come_from_the_audit_on_file(tmp_path, engine, rates) -> None:
    row = _row(rates, 99.9)
    assert row["overall"]["false_matches"] >= 1  # the mirrored pair
    fmr = row["overall"]["false_matches"] / row["overall"]["impostor_pairs"]
    world = _world(tmp_path, engine, rates, policy_text=without_review())
    with world.client:
        h = world.headers("A", "operator", **missing_person(world.clock().date()))
        _enroll(world, h, 3)
        r = world.client.post(
            f"{C}/search", files=upload(PORTRAITS[1]), data={"threshold": "99.95"}, headers=h
        )
        assert r.status_code == 200, r.text
        er = r.json()["error_rates"]
        assert er["audit_id"] == rates["audit_id"] and er["rates_at_similarity"] == 99.95
        assert er["gallery_size"] == 3 and er["threshold"] == 99.95
        assert er["fmr"] == pytest.approx(_row(rates, 99.95)["overall"]["fmr"])
        assert er["expected_false_candidates"] == pytest.approx(3 * er["fmr"], abs=1e-6)
        # a threshold between grid points uses the point below it: never a lower rate
        r = world.client.post(
            f"{C}/search", files=upload(PORTRAITS[1]), data={"threshold": "99.92"}, headers=h
        )
        er = r.json()["error_rates"]
        assert er["rates_at_similarity"] == 99.9 and er["fmr"] == pytest.approx(fmr)
        logged = world.records(request_id=r.headers["x-request-id"], kind="request")[0]
        assert logged["outcome"]["error_rates"]["audit_id"] == rates["audit_id"]
        assert logged["outcome"]["error_rates"]["gallery_size"] == 3
        # a user search counts the faces it compares: those associated with users
        faces = world.client.get(f"{C}/faces", headers=h).json()["faces"]
        assert world.client.post(f"{C}/users", json={"user_id": "u1"}, headers=h).is_success
        two = {"face_ids": [f["face_id"] for f in faces[:2]]}
        assert world.client.post(f"{C}/users/u1/associate", json=two, headers=h).is_success
        r = world.client.post(
            f"{C}/users/search", files=upload(PORTRAITS[1]), data={"threshold": "99.95"}, headers=h
        )
        assert r.status_code == 200, r.text
        er = r.json()["error_rates"]
        assert er["gallery_size"] == 2 and er["rates_at_similarity"] == 99.95
        assert er["expected_false_candidates"] == pytest.approx(2 * er["fmr"], abs=1e-6)
    world.app.state.close()


def test_policy_refuses_a_search_expecting_too_many_false_candidates(
    tmp_path, engine, rates
) -> None:
    fmr = _row(rates, 99.9)["overall"]["fmr"]
    bound = 1.5 * fmr  # one enrolled face passes, three do not
    text = default_policy_text().replace(
        "max_expected_false_candidates: {overall: 1}", f"max_expected_false_candidates: {bound}"
    )
    assert f"max_expected_false_candidates: {bound}" in text
    world = _world(tmp_path, engine, rates, policy_text=text)
    with world.client:
        h = world.headers("A", "operator", **missing_person(world.clock().date()))
        _enroll(world, h, 1)
        r = world.client.post(f"{C}/search", files=upload(PORTRAITS[0]), headers=h)
        assert r.status_code == 202, r.text
        lead = r.json()["lead"]
        assert lead["error_rates"]["expected_false_candidates"] == pytest.approx(fmr, abs=1e-6)
        for p in PORTRAITS[1:3]:
            assert world.client.post(f"{C}/faces", files=upload(p), headers=h).status_code == 201
        r = world.client.post(f"{C}/search", files=upload(PORTRAITS[0]), headers=h)
        assert r.status_code == 403, r.text
        err = r.json()["error"]
        assert err["rule"] == "law-enforcement-identification"
        assert (
            "expected false candidates" in err["message"]
            and "raise the threshold" in err["message"]
        )
        (logged,) = world.records(request_id=r.headers["x-request-id"], kind="request")
        assert logged["outcome"]["error"] == "policy_denied"
    world.app.state.close()


def test_declared_age_bands_are_refused_or_held_for_review(tmp_path, engine, rates) -> None:
    world = _world(tmp_path, engine, rates, policy_text=without_review())
    with world.client:
        h = world.headers("A", "operator", **missing_person(world.clock().date()))
        _enroll(world, h, 1)
        c = world.client
        r = c.post(f"{C}/search", files=upload(PORTRAITS[0]), data={"age_band": "0-4"}, headers=h)
        assert r.status_code == 403 and "age band 0-4" in r.json()["error"]["message"]
        r = c.post(f"{C}/search", files=upload(PORTRAITS[0]), data={"age_band": "5-11"}, headers=h)
        assert r.status_code == 202, r.text
        assert r.json()["lead"]["error_rates"]["age_band"] == "5-11"
        r = c.post(f"{C}/search", files=upload(PORTRAITS[0]), data={"age_band": "adult"}, headers=h)
        assert r.status_code == 200 and r.json()["error_rates"]["age_band"] == "adult"
        r = c.post(f"{C}/search", files=upload(PORTRAITS[0]), data={"age_band": "7"}, headers=h)
        assert r.status_code == 422
    world.app.state.close()
