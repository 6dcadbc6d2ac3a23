"""FaceService: gate called on every operation, limits from the decision, indexing, users."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from service_gates import RecordingGate

from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.service.faces import FaceService, PolicyDenied, ResultsWithheld, quality_reasons
from faceledger.store import NotFoundError, SQLiteStore
from testdata import group_photo


def ctx(tenant: str = "t1") -> RequestContext:
    return RequestContext("alice", tenant, "research", frozenset({"operator"}))


@pytest.fixture()
def gate() -> RecordingGate:
    return RecordingGate()


@pytest.fixture()
def service(tmp_path: Path, engine, gate):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    yield FaceService(store, engine, gate)
    store.close()


def test_every_operation_is_decided_and_recorded_once(service, gate, portraits) -> None:
    c = ctx()
    service.create_collection(c, "people")
    indexed = [
        service.index_faces(c, "people", p, external_image_id=p.name).result for p in portraits
    ]
    face_ids = [r.face_records[0].face_id for r in indexed]
    service.describe_collection(c, "people")
    service.list_faces(c, "people")
    result = service.search_faces_by_image(c, "people", portraits[0]).result
    assert result.matches[0].face.face_id == face_ids[0]
    service.search_faces(c, "people", face_ids[0])
    service.create_user(c, "people", "u1")
    service.associate_faces(c, "people", "u1", face_ids[:1])
    service.search_users(c, "people", image=portraits[0])
    service.delete_faces(c, "people", face_ids[-1:])
    assert gate.decided == [op for op, _, _ in gate.records], "one record per decision"
    ops = {op for op, _, _ in gate.records}
    assert {"collection.create", "faces.index", "faces.search_by_image", "users.search"} <= ops
    op, request, outcome = gate.records[1]
    assert op == "faces.index" and len(request["image_sha256"]) == 64
    assert request["collection_id"] == "people"
    assert outcome["face_ids"] == [face_ids[0]]
    search = next(r for r in gate.records if r[0] == "faces.search_by_image")
    assert search[2]["results"][0]["face_id"] == face_ids[0]  # flat: ready for the audit log
    assert search[1]["image_sha256"] == indexed[0].image_sha256
    assert search[1]["search_mode"] == search[2]["search_mode"] == result.search_mode == "exact"
    # approximate only by opt-in, and then the result and the audit record say so
    approx = service.search_faces_by_image(c, "people", portraits[0], approximate=True).result
    assert approx.search_mode == approx.to_dict()["search_mode"] == "approximate"
    assert approx.matches[0].face.face_id == face_ids[0]
    assert approx.matches[0].distance == result.matches[0].distance
    op, request, outcome = gate.records[-1]
    assert op == "faces.search_by_image"
    assert request["search_mode"] == outcome["search_mode"] == "approximate"
    by_face = service.search_faces(c, "people", face_ids[1], approximate=True).result
    assert by_face.search_mode == gate.records[-1][2]["search_mode"] == "approximate"


def test_denied_requests_raise_and_are_recorded(service, gate, portraits) -> None:
    c = ctx()
    service.create_collection(c, "people")
    gate.deny.add("faces.search_by_image")
    with pytest.raises(PolicyDenied) as info:
        service.search_faces_by_image(c, "people", portraits[0])
    assert info.value.code == "policy_denied" and info.value.decision.rule == "test-deny"
    assert gate.records[-1][0] == "faces.search_by_image"
    assert gate.records[-1][2] == {"status": "denied"}
    # errors are recorded too, once
    with pytest.raises(NotFoundError):
        service.describe_collection(c, "missing")
    assert gate.records[-1][2]["error"] == "not_found"


def test_decision_limits_raise_threshold_and_cap_results(service, gate, portraits) -> None:
    c = ctx()
    service.create_collection(c, "people")
    for p in portraits:
        service.index_faces(c, "people", p)
    loose = service.search_faces_by_image(
        c, "people", portraits[0], threshold=0, max_results=6
    ).result
    assert len(loose.matches) >= 3
    gate.max_results = 2
    capped = service.search_faces_by_image(
        c, "people", portraits[0], threshold=0, max_results=6
    ).result
    assert len(capped.matches) == 2 and capped.max_results == 2
    gate.max_results, gate.min_similarity = None, 95.0
    strict = service.search_faces_by_image(c, "people", portraits[0], threshold=0).result
    assert strict.threshold == 95.0
    assert len(strict.matches) == 1 and strict.matches[0].similarity >= 95


def test_index_faces_max_faces_and_quality(service, portraits) -> None:
    c = ctx()
    service.create_collection(c, "group")
    photo = group_photo(portraits[:3], scales=[1.0, 0.8, 0.6])
    result = service.index_faces(c, "group", photo, max_faces=2, quality_filter="NONE").result
    assert len(result.face_records) == 2
    assert [u.reasons for u in result.unindexed_faces] == [["EXCEEDS_MAX_FACES"]]
    sizes = [r.box.width for r in result.face_records]
    assert sizes == sorted(sizes, reverse=True), "the largest faces are kept"
    strict = service.index_faces(c, "group", photo, quality_filter="HIGH").result
    assert strict.face_records == []
    assert all("SMALL_BOUNDING_BOX" in u.reasons for u in strict.unindexed_faces)
    every = service.search_faces_by_image(c, "group", photo, all_faces=True).result
    assert len(every.searches) == 3


def test_quality_levels_are_ordered(engine, portraits) -> None:
    face = engine.detect(portraits[-1])[0]
    levels = ["NONE", "LOW", "MEDIUM", "HIGH"]
    counts = [len(quality_reasons(face, level)) for level in levels]
    assert counts == sorted(counts)


def test_tenants_do_not_see_each_other(service, portraits) -> None:
    a, b = ctx("A"), ctx("B")
    service.create_collection(a, "people")
    service.create_collection(b, "people")
    service.index_faces(a, "people", portraits[0])
    assert service.search_faces_by_image(b, "people", portraits[0]).result.matches == []
    assert service.describe_collection(b, "people").result.face_count == 0


def test_users_search_by_face_and_image(service, portraits) -> None:
    c = ctx()
    service.create_collection(c, "people")
    ids = [service.index_faces(c, "people", p).result.face_records[0].face_id for p in portraits]
    for i, fid in enumerate(ids[:3]):
        service.create_user(c, "people", f"user{i}")
        service.associate_faces(c, "people", f"user{i}", [fid])
    found = service.search_users(c, "people", image=portraits[1]).result
    assert [m.user_id for m in found.matches] == ["user1"]
    assert found.matches[0].similarity > 99
    # by its own face id: that face is left out, so user0 has nothing left to match
    assert service.search_users(c, "people", face_id=ids[0]).result.matches == []
    for agg in ("centroid", "top2-mean"):
        r = service.search_users(c, "people", image=portraits[2], aggregation=agg).result
        assert [m.user_id for m in r.matches] == ["user2"]
    assert [u.user_id for u in service.list_users(c, "people").result.items] == [
        "user0", "user1", "user2",
    ]  # fmt: skip
    service.delete_user(c, "people", "user2")
    assert service.search_users(c, "people", image=portraits[2]).result.matches == []


class ReviewGate(RecordingGate):
    """Allows with review required and holds results as leads."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[str, list]] = []

    def decide(self, ctx, operation, request):
        self.decided.append(operation)
        review = operation.endswith("search_by_image")
        return Decision(True, "test-review", "review", review_required=review)

    def withhold(self, ctx, operation, decision, results, crops=(), search=None):
        self.held.append((operation, list(results)))
        self.crops = list(crops)
        return SimpleNamespace(id=f"lead_{len(self.held)}", status="pending")


def test_review_required_withholds_results(tmp_path: Path, engine, portraits) -> None:
    gate = ReviewGate()
    store = SQLiteStore(tmp_path / "s.sqlite3")
    service = FaceService(store, engine, gate)
    c = ctx()
    service.create_collection(c, "people")
    face_id = service.index_faces(c, "people", portraits[0]).result.face_records[0].face_id
    with pytest.raises(ResultsWithheld) as info:
        service.search_faces_by_image(c, "people", portraits[0])
    assert info.value.lead.id == "lead_1" and info.value.code == "review_pending"
    op, rows = gate.held[0]
    assert op == "faces.search_by_image" and rows[0]["face_id"] == face_id
    assert len(gate.crops) == 1 and gate.crops[0][:3] == b"\xff\xd8\xff"  # the probe's crop
    assert gate.records[-1][2]["status"] == "withheld"
    assert gate.records[-1][2]["lead_id"] == "lead_1"
    assert gate.decided == [op for op, _, _ in gate.records]
    store.close()


def test_review_without_a_way_to_withhold_fails_closed(service, gate, portraits) -> None:
    c = ctx()
    service.create_collection(c, "people")
    gate.decide = lambda ctx, op, req: Decision(True, "needs-review", "r", review_required=True)
    with pytest.raises(PolicyDenied):
        service.search_faces_by_image(c, "people", portraits[0])
    assert gate.records[-1][2] == {"status": "denied"}


class GuardedStore:
    """A store that refuses every call not made between the gate's decision and its record."""

    def __init__(self, store, gate) -> None:
        self._store, self._gate, self.calls = store, gate, 0

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr) or name in ("close", "staged_events", "clear_events"):
            return attr  # the outbox is the unit of work's plumbing, not face data

        def guarded(*args, **kwargs):
            assert self._gate.open_decisions, f"store.{name} called outside a decided request"
            self.calls += 1
            return attr(*args, **kwargs)

        return guarded


class DecisionTrackingGate(RecordingGate):
    """Counts decisions not yet recorded (bulk indexing decides every image before its work)."""

    open_decisions: int = 0

    def decide(self, ctx, operation, request):
        self.open_decisions += 1
        return super().decide(ctx, operation, request)

    def record(self, ctx, operation, decision, *, request, outcome):
        assert self.open_decisions, "a record without a decision"
        self.open_decisions -= 1
        super().record(ctx, operation, decision, request=request, outcome=outcome)

    def append_staged(self, event_id, body):
        assert self.open_decisions, "a record without a decision"
        self.open_decisions -= 1
        super().append_staged(event_id, body)


def test_no_store_call_outside_a_decided_and_recorded_request(tmp_path, engine, portraits):
    gate = DecisionTrackingGate()
    store = GuardedStore(SQLiteStore(tmp_path / "s.sqlite3"), gate)
    svc = FaceService(store, engine, gate)
    c = ctx()
    svc.create_collection(c, "people")
    done = list(svc.index_images(c, "people", portraits[:2], workers=1, progress=False))
    assert all(not isinstance(r, Exception) for _, r in done)
    again = list(svc.index_images(c, "people", portraits[:2], workers=1, progress=False))
    assert all(r.skipped for _, r in again)
    face_id = (
        svc.index_faces(c, "people", portraits[2], skip_indexed=True).result.face_records[0].face_id
    )
    svc.describe_collection(c, "people")
    svc.list_collections(c)
    svc.list_faces(c, "people")
    svc.search_faces(c, "people", face_id)
    svc.search_faces_by_image(c, "people", portraits[2])
    svc.create_user(c, "people", "u1")
    svc.associate_faces(c, "people", "u1", [face_id])
    svc.list_users(c, "people")
    svc.search_users(c, "people", face_id=face_id)
    svc.disassociate_faces(c, "people", "u1", [face_id])
    svc.delete_user(c, "people", "u1")
    svc.compare(c, portraits[0], portraits[1])
    svc.detect(c, portraits[0])
    svc.delete_faces(c, "people", [face_id])
    svc.delete_collection(c, "people")
    with pytest.raises(NotFoundError):
        svc.describe_collection(c, "people")
    assert store.calls > 15 and not gate.open_decisions
    assert sorted(gate.decided) == sorted(op for op, _, _ in gate.records)


def test_blurred_and_dark_faces_are_refused_with_reasons(service, portraits) -> None:
    import numpy as np
    from PIL import Image, ImageFilter

    c = ctx()
    service.create_collection(c, "q")
    img = Image.open(portraits[0]).convert("RGB")  # 021352: sharpness ~99, blur 2 px: ~9
    blurred = np.asarray(img.filter(ImageFilter.GaussianBlur(2)))
    result = service.index_faces(c, "q", blurred, quality_filter="LOW").result
    assert result.face_records == [] and "LOW_SHARPNESS" in result.unindexed_faces[0].reasons
    dark = (np.asarray(img).astype(np.float32) * 0.12).astype(np.uint8)  # brightness ~6
    result = service.index_faces(c, "q", dark, quality_filter="LOW").result
    assert result.face_records == [] and "LOW_BRIGHTNESS" in result.unindexed_faces[0].reasons
    assert len(service.index_faces(c, "q", blurred, quality_filter="NONE").result.face_records) == 1
