"""FaceService with the real governance gate and its default policy: the names of the
operations, the request fields and the review flow line up, with nothing else changed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from faceledger.governance.gate import GovernedGate
from faceledger.service.context import RequestContext
from faceledger.service.faces import FaceService, PolicyDenied
from faceledger.store import SQLiteStore


def officer(**declared) -> RequestContext:  # noqa: ANN003
    return RequestContext(
        "officer-1", "police-a", "law-enforcement", frozenset({"operator"}), **declared
    )


def test_law_enforcement_search_goes_to_review(tmp_path: Path, engine, portraits) -> None:
    gate = GovernedGate.open(tmp_path)
    store = SQLiteStore(tmp_path / "faceledger.sqlite3")
    service = FaceService(store, engine, gate)
    case = officer(
        purpose="missing-person",
        case_ref="MP-2026-17",
        authorization_ref="warrant-9",
        authorization_date=datetime.now(UTC).date(),
    )
    service.create_collection(case, "missing")
    indexed = service.index_faces(case, "missing", portraits[0], external_image_id="p0")
    face_id = indexed.face_records[0].face_id

    result = service.search_faces_by_image(case, "missing", portraits[0], threshold=80)
    assert result.threshold == 99, "the policy's floor raised the threshold"
    assert result.lead_id and result.lead_id.startswith("lead_")
    assert result.matches == [], "results wait for two reviewers"
    reviewer = RequestContext("rev-1", "police-a", "law-enforcement", frozenset({"reviewer"}))
    lead = gate.reviews.get(reviewer, result.lead_id)
    assert lead.status == "pending" and lead.results[0]["face_id"] == face_id

    with pytest.raises(PolicyDenied) as denied:  # the moratorium: no exempt purpose
        service.search_faces_by_image(
            officer(purpose="criminal-investigation", case_ref="C-1"), "missing", portraits[0]
        )
    assert denied.value.decision.rule == "law-enforcement-search-moratorium"

    bodies = [r.body for r in gate.auditlog.read("police-a", limit=1000).records]
    ops = [b["operation"] for b in bodies]
    assert ops.count("faces.search_by_image") == 2 and "faces.index" in ops
    enrolled = bodies[ops.index("faces.index")]
    assert enrolled["image_sha256"] == [indexed.image_sha256]
    assert enrolled["outcome"]["face_ids"] == [face_id]
    searched = bodies[ops.index("faces.search_by_image")]
    assert searched["outcome"]["lead_id"] == result.lead_id
    assert searched["outcome"]["results"][0]["face_id"] == face_id
    store.close()


def test_enrolment_outside_law_enforcement_needs_consent(tmp_path: Path, engine, portraits):
    gate = GovernedGate.open(tmp_path)
    store = SQLiteStore(tmp_path / "faceledger.sqlite3")
    service = FaceService(store, engine, gate)
    ctx = RequestContext("ann", "acme", "commercial", frozenset({"operator"}), purpose="testing")
    service.create_collection(ctx, "staff")
    with pytest.raises(PolicyDenied):
        service.index_faces(ctx, "staff", portraits[1])
    done = service.index_faces(ctx, "staff", portraits[1], consent="form-2026-001")
    assert len(done.face_records) == 1
    assert service.describe_collection(ctx, "staff").face_count == 1
    store.close()
