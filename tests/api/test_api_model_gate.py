"""Through HTTP: identification with a model a user brought (the shipped network exported to
ONNX) is allowed only while the policy's audit gate holds (an audit on file, recent enough,
whose largest/smallest group FMR at the threshold used is within the bound), and refused by the
rule otherwise; faces carry the age band the operator declared at enrolment, and a search by
such a face is decided under that band (the default policy: 0-4 refused, 5-11 reviewed)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime

from api_helpers import make_world, missing_person, upload
from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.engine.models import model_path
from faceledger.engine.onnx import convert
from faceledger.engine.user_models import add, get, set_calibration
from faceledger.governance.audit_files import GRID
from faceledger.governance.policy import default_policy_text
from testdata import PORTRAITS

C = "/v1/collections/people"
MODEL = "user:mine+tta6"
GATED = '      declared_age: {refuse: ["0-4"], review: ["5-11"]}\n    min_similarity: 99'


def gated_policy() -> str:
    """The default policy, with law-enforcement identification not held for review (so that an
    allowed search answers 200) and gated on the model's audit."""
    text = default_policy_text()
    assert (
        text.count(GATED) == 1
        and text.count("    review: true\n    rate_limit: {requests: 200") == 1
    )
    text = text.replace(
        GATED,
        GATED.replace(
            "\n    min_similarity",
            "\n      audit_on_file: {max_age_days: 90, max_fmr_ratio: 25}\n    min_similarity",
        ),
    )
    return text.replace(
        "    review: true\n    rate_limit: {requests: 200",
        "    review: false\n    rate_limit: {requests: 200",
    )


def audit_run_elsewhere(audited_at: str, ratio: float) -> dict:
    """An audit summary as `faceledger fairness audit --out` writes it (error_rates.json) for a
    run on another machine, whose largest/smallest group FMR is ``ratio`` at every threshold."""
    grid = [
        {
            "similarity": s,
            "overall": {
                "fmr": 2e-6,
                "false_matches": 2,
                "impostor_pairs": 1_000_000,
                "datasets": ["elsewhere"],
            },
            "worst_group": {
                "dataset": "elsewhere",
                "grouping": "race × gender",
                "group": "Asian Female",
                "fmr": ratio * 1e-6,
                "false_matches": 9,
                "impostor_pairs": 90_000,
                "small": False,
            },
            "age_bands": {},
            "fmr_ratio": ratio,
        }  # fmt: skip
        for s in GRID
    ]
    stamp = audited_at[:10].replace("-", "")
    return {"format": 1, "model_id": MODEL, "audited_at": audited_at, "audit_id": f"audit_{stamp}",
            "datasets": ["elsewhere"], "grid": grid, "scale": [0.371, 0.331]}  # fmt: skip


def file_audit(tmp_path, root, summary: dict) -> None:
    path = tmp_path / f"{summary['audit_id']}.json"
    path.write_text(json.dumps(summary))
    r = CliRunner().invoke(app, ["fairness", "file", str(path), "--data-dir", str(root)])
    assert r.exit_code == 0, r.output


def test_identification_with_a_user_model_is_gated_on_its_audit(tmp_path) -> None:
    root = tmp_path / "data"
    root.mkdir(mode=0o700)
    exported = tmp_path / "dlib.onnx"
    shutil.copyfile(convert.descriptor_onnx(model_path("descriptor")), exported)
    add(root, exported, "mine", (0.371, 0.331), input_size=150, normalization="uint8",
        alignment="dlib-150")  # fmt: skip
    policy = tmp_path / "policy.yaml"
    policy.write_text(gated_policy())
    world = make_world(tmp_path, None, policy=policy, model="mine")
    c = world.client

    def search() -> dict:
        h = world.headers("A", "operator", **missing_person(world.clock().date()))
        r = c.post(f"{C}/search", files=upload(PORTRAITS[1]), headers=h)
        return {**r.json(), "http": r.status_code}

    with c:
        h = world.headers("A", "operator", **missing_person(world.clock().date()))
        assert c.post("/v1/collections", json={"collection_id": "people"}, headers=h).is_success
        assert c.get(f"{C}", headers=h).json()["collection"]["model_id"] == MODEL
        for p in PORTRAITS[:3]:
            assert c.post(f"{C}/faces", files=upload(p), headers=h).status_code == 201

        r = search()  # no audit on file for this model
        assert r["http"] == 403 and r["error"]["rule"] == "law-enforcement-identification"
        assert f"a fairness audit on file for model {MODEL}" in r["error"]["message"]

        file_audit(tmp_path, root, audit_run_elsewhere("2024-04-20T09:00:00Z", 40.0))
        r = search()  # on file and recent, but groups' FMRs 40x apart: over the bound
        assert r["http"] == 403 and r["error"]["rule"] == "law-enforcement-identification"
        assert (
            "largest/smallest group FMR at similarity 99.9 is at most 25" in r["error"]["message"]
        )
        assert f"(model {MODEL}: 40)" in r["error"]["message"]

        file_audit(tmp_path, root, audit_run_elsewhere("2024-04-25T09:00:00Z", 8.0))
        r = search()  # a newer audit within the bound
        assert r["http"] == 200, r
        assert r["model_id"] == MODEL and r["searches"][0]["matches"][0]["similarity"] > 99.9
        assert r["error_rates"]["audit_id"] == "audit_20240425"
        assert r["error_rates"]["fmr_ratio"] == 8.0

        # calibrated again (`faceledger model calibrate`, then a restart): the audit was
        # measured on the old scale and no longer counts
        set_calibration(root, "mine", (0.36, 0.31), {"dataset": "elsewhere"})
        get(root, "mine").register_calibration()
        r = search()
        assert r["http"] == 403
        assert f"a fairness audit on file for model {MODEL}" in r["error"]["message"]
        set_calibration(root, "mine", (0.371, 0.331), {"dataset": "elsewhere"})
        get(root, "mine").register_calibration()
        assert search()["http"] == 200

        world.clock.set(datetime.fromisoformat("2024-08-01T12:00:00+00:00"))
        r = search()  # 98 days later the audit is too old
        assert r["http"] == 403 and r["error"]["rule"] == "law-enforcement-identification"
        assert "at most 90 days old (the newest on file is 98 days old)" in r["error"]["message"]
    world.app.state.close()


def test_declared_age_band_at_enrolment(tmp_path, engine) -> None:
    world = make_world(tmp_path, engine)  # the default policy
    c = world.client
    with c:
        h = world.headers("A", "operator", **missing_person(world.clock().date()))
        assert c.post("/v1/collections", json={"collection_id": "people"}, headers=h).is_success
        ids = {}
        for p, band in zip(PORTRAITS[:3], ("5-11", "0-4", None), strict=True):
            data = {"age_band": band} if band else {}
            r = c.post(f"{C}/faces", files=upload(p), data=data, headers=h)
            assert r.status_code == 201, r.text
            (record,) = r.json()["face_records"]
            assert record["age_band"] == band
            ids[band] = record["face_id"]
            (logged,) = world.records(request_id=r.headers["x-request-id"], kind="request")
            assert logged["request"].get("age_band") == band
        listed = c.get(f"{C}/faces", headers=h).json()["faces"]
        assert {f["face_id"]: f["age_band"] for f in listed} == {v: k for k, v in ids.items()}
        r = c.post(f"{C}/faces", files=upload(PORTRAITS[3]), data={"age_band": "7"}, headers=h)
        assert r.status_code == 422

        def by_face(face_id: str, **body: str):  # noqa: ANN202
            return c.post(f"{C}/faces/{face_id}/search", json=body, headers=h)

        r = by_face(ids["5-11"])  # not declared on the search: the enrolled band is named
        assert r.status_code == 422, r.text  # invalid_request
        assert "declared 5-11 at enrolment: declare age_band=5-11" in r.json()["error"]["message"]
        r = by_face(ids["5-11"], age_band="5-11")  # the default policy holds it for review
        assert r.status_code == 202, r.text
        assert r.json()["lead"]["error_rates"]["age_band"] == "5-11"
        r = by_face(ids["0-4"], age_band="0-4")  # and refuses 0-4
        assert (
            r.status_code == 403 and r.json()["error"]["rule"] == "law-enforcement-identification"
        )
        assert "age band 0-4" in r.json()["error"]["message"]
        r = by_face(ids[None], age_band="adult")  # a face enrolled without a band: as declared
        assert r.status_code == 202, r.text
    world.app.state.close()
