"""A model the user brings, chosen for the runtime (``Settings.model`` / ``--model`` /
``$FACELEDGER_MODEL``), through HTTP: collections created are of its model id, searches under it
work on real portraits, embeddings of the two models never compare, and identification with it
is gated by the policy's ``audit_on_file`` on the audits filed for its id.

The user model is the shipped dlib network saved as a user file, with the shipped network's
similarity calibration (it is the same network, so those distances are its measured ones)."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from api_helpers import make_world, missing_person, upload
from fastapi.testclient import TestClient

from faceledger.api import create_app
from faceledger.engine.models import model_path
from faceledger.engine.user_models import add
from faceledger.errors import ModelError
from faceledger.governance.audit_files import GRID, file_summary
from faceledger.governance.policy import default_policy_text
from testdata import PORTRAITS

C = "/v1/collections/people"
USER_ID = "user:mine+tta6"
REVIEWED = "    review: true\n    rate_limit: {requests: 200"
BOUND = "max_expected_false_candidates: {overall: 1}"


def policy(gate: str | None) -> str:
    """The default policy, law-enforcement identification not held for review (a search answers
    200), and with ``audit_on_file: gate`` required of it when gate is given."""
    text = default_policy_text()
    assert REVIEWED in text and BOUND in text
    text = text.replace(REVIEWED, REVIEWED.replace("review: true", "review: false"))
    if gate is not None:
        text = text.replace(BOUND, f"{BOUND}\n      audit_on_file: {gate}")
    return text


def world_with_user_model(tmp_path, gate: str | None = None):
    root = tmp_path / "data"
    mine = tmp_path / "my-resnet.dat"
    shutil.copyfile(model_path("descriptor"), mine)
    add(root, mine, "mine", (0.371, 0.331))
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(policy(gate))
    return make_world(tmp_path, None, policy=policy_file, model="mine")


def enroll(client: TestClient, headers: dict, n: int = 3) -> None:
    r = client.post("/v1/collections", json={"collection_id": "people"}, headers=headers)
    assert r.is_success, r.text
    for p in PORTRAITS[:n]:
        assert client.post(f"{C}/faces", files=upload(p), headers=headers).status_code == 201


def audit_summary(model_id: str, audited_at: str, ratio: float, audit_id: str) -> dict:
    """An audit summary in the filed format, crafted: FMR 1e-5 overall, the worst group
    ``ratio`` times the best (these numbers are the test's, not a measurement)."""
    row = lambda s: {  # noqa: E731
        "similarity": s,
        "overall": {"fmr": 1e-5, "false_matches": 1, "impostor_pairs": 100_000},
        "worst_group": {"group": "Asian Female", "dataset": "crafted", "fmr": 1e-5 * ratio},
        "age_bands": {},
        "fmr_ratio": ratio,
    }
    return {
        "format": 1, "model_id": model_id, "audited_at": audited_at, "audit_id": audit_id,
        "datasets": ["crafted"], "grid": [row(s) for s in GRID],
    }  # fmt: skip


def test_collections_are_of_the_chosen_model_and_never_cross(tmp_path, engine) -> None:
    world = world_with_user_model(tmp_path)
    with world.client:
        h = world.headers("A", "operator", **missing_person(world.clock().date()))
        enroll(world.client, h)
        info = world.client.get(C, headers=h).json()["collection"]
        assert info["model_id"] == USER_ID, info
        r = world.client.post(f"{C}/search", files=upload(PORTRAITS[1]), headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["model_id"] == USER_ID
        matches = r.json()["searches"][0]["matches"]
        assert len(matches) == 1 and matches[0]["similarity"] > 99.9, matches
        # the same data folder served by the built-in network: its probe never compares
        builtin = create_app(world.root, tmp_path / "policy.yaml", engine, clock=world.clock)
        with TestClient(builtin, raise_server_exceptions=False) as other:
            r = other.post(f"{C}/search", files=upload(PORTRAITS[1]), headers=h)
            err = r.json()["error"]
            assert r.status_code == 409 and err["code"] == "model_error", r.text
            assert f"holds embeddings of model '{USER_ID}'" in err["message"]
            assert "the query's are of 'dlib-resnet-v1+tta6'" in err["message"]
            made = other.post("/v1/collections", json={"collection_id": "b"}, headers=h)
            assert made.is_success
            for p in PORTRAITS[:2]:
                r = other.post("/v1/collections/b/faces", files=upload(p), headers=h)
                assert r.status_code == 201
        builtin.state.close()
        # and vice versa: the user model's probe against the built-in's collection
        r = world.client.post("/v1/collections/b/search", files=upload(PORTRAITS[1]), headers=h)
        err = r.json()["error"]
        assert r.status_code == 409 and err["code"] == "model_error", r.text
        assert f"the query's are of '{USER_ID}'" in err["message"]
    world.app.state.close()


def test_identification_with_the_user_model_is_gated_by_its_audit(tmp_path) -> None:
    world = world_with_user_model(tmp_path, "{max_age_days: 365, max_fmr_ratio: 10}")
    with world.client:
        h = world.headers("A", "operator", **missing_person(world.clock().date()))
        enroll(world.client, h, 2)

        def search():
            return world.client.post(f"{C}/search", files=upload(PORTRAITS[1]), headers=h)

        r = search()
        err = r.json()["error"]
        assert r.status_code == 403 and err["rule"] == "law-enforcement-identification", r.text
        assert err["message"] == (
            "Rule law-enforcement-identification requires a fairness audit on file for model "
            f"{USER_ID}."
        )
        now = world.clock()
        stamp = lambda t: t.replace(microsecond=0).isoformat().replace("+00:00", "Z")  # noqa: E731
        # an audit of another model is not this model's
        file_summary(world.root, audit_summary("dlib-resnet-v1+tta6", stamp(now), 2.0, "audit_b"))
        assert search().status_code == 403
        # a fair-enough audit of this model, filed: allowed, and the search carries its rates
        file_summary(
            world.root, audit_summary(USER_ID, stamp(now - timedelta(days=2)), 5.0, "audit_ok")
        )
        r = search()
        assert r.status_code == 200, r.text
        assert r.json()["error_rates"]["audit_id"] == "audit_ok"
        assert r.json()["searches"][0]["matches"][0]["similarity"] > 99.9
        # a newer audit whose FMR ratio fails the bound: refused, the ratio named
        file_summary(
            world.root, audit_summary(USER_ID, stamp(now - timedelta(days=1)), 50.0, "audit_bad")
        )
        r = search()
        assert r.status_code == 403, r.text
        assert r.json()["error"]["rule"] == "law-enforcement-identification"
        assert f"is at most 10 (model {USER_ID}: 50)" in r.json()["error"]["message"]
        denied = world.records(request_id=r.headers["x-request-id"], kind="request")[0]
        assert denied["decision"]["allowed"] is False
    world.app.state.close()


def test_an_unknown_model_setting_is_refused_with_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FACELEDGER_MODEL", "nosuch")
    with pytest.raises(ModelError, match="no model 'nosuch' registered; `faceledger model add"):
        create_app(tmp_path / "data")
