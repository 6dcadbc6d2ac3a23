"""The biometric data lifecycle through the governed service (real engine, real portraits, real
policy and audit log): consent records, withdrawal, retention, closing a case, erasure."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from faceledger.governance.auditlog import AuditLog
from faceledger.governance.context import RequestContext
from faceledger.governance.privacy import biometric_leaks
from faceledger.retention_task import SYSTEM_PRINCIPAL, RetentionTask
from faceledger.runtime import Runtime
from faceledger.service.faces import PolicyDenied, ResultsWithheld
from faceledger.service.lifecycle import ConsentError
from faceledger.settings import STORE_FILE, Settings
from faceledger.store.base import NotFoundError

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def rt(tmp_path: Path, engine, clock):
    runtime = Runtime.open(Settings(data_dir=tmp_path / "data", clock=clock), engine=engine)
    yield runtime
    runtime.close()


def operator(rt: Runtime, actor_class: str = "commercial", name: str = "acme", **declared):
    org = rt.principals.create_org(name, actor_class)
    acct = rt.principals.create_account(org.id, "op", ["operator"])
    ctx = RequestContext(acct.id, org.id, actor_class, frozenset({"operator"}))
    return replace(ctx, **declared)


def records(rt: Runtime, operation: str) -> list[dict]:
    return [r.body for r in AuditLog(rt.db).records() if r.body["operation"] == operation]


def searchable(rt: Runtime, ctx, collection: str, image) -> set[str]:
    """Face ids a search by image finds at any similarity."""
    c = replace(ctx, purpose=ctx.purpose or "access-control", case_ref="door-1")
    result = rt.faces.search_faces_by_image(c, collection, image, threshold=0, max_results=100)
    return {m.face.face_id for m in result.result.matches}


def listed(rt: Runtime, ctx, collection: str) -> set[str]:
    return {f.face_id for f in rt.faces.list_faces(ctx, collection).result.items}


def test_consent_enrol_withdraw_deletes_its_faces_at_once(rt, portraits) -> None:
    ctx = operator(rt, purpose="access-control")
    svc = rt.faces
    svc.create_collection(ctx, "staff")
    mine = svc.record_consent(
        ctx, "employee 4411", collections=["staff"], purposes=["access-control"],
        evidence_ref="form HR-12", expires_at="2025-05-01",
    ).result  # fmt: skip
    other = svc.record_consent(ctx, "employee 4412", collections=["staff"]).result
    assert mine.consent_id.startswith("cns_") and mine.recorded_by == ctx.principal_id
    a = svc.index_faces(ctx, "staff", portraits[0], consent=mine.consent_id).result
    a2 = svc.index_faces(ctx, "staff", portraits[2], consent=mine.consent_id).result
    b = svc.index_faces(ctx, "staff", portraits[1], consent=other.consent_id).result
    gone = {a.face_records[0].face_id, a2.face_records[0].face_id}
    kept = b.face_records[0].face_id
    assert searchable(rt, ctx, "staff", portraits[0]) >= gone  # the index is warm
    assert svc.get_consent(ctx, mine.consent_id).result == mine
    assert [r.consent_id for r in svc.list_consents(ctx).result.items] == [
        mine.consent_id, other.consent_id,
    ]  # fmt: skip

    done = svc.withdraw_consent(ctx, mine.consent_id).result
    assert set(done.face_ids) == gone and done.consent.withdrawn_at is not None
    assert listed(rt, ctx, "staff") == {kept}
    assert searchable(rt, ctx, "staff", portraits[0]) == {kept}
    assert svc.get_consent(ctx, mine.consent_id).result.status(done.at) == "withdrawn"
    (rec,) = records(rt, "consent.withdraw")
    assert rec["outcome"]["status"] == "ok" and rec["request"]["consent_id"] == mine.consent_id
    assert set(rec["outcome"]["face_ids"]) == gone and rec["outcome"]["count"] == 2
    assert rec["outcome"]["counts"]["by_collection"] == {"staff": 2}
    assert "employee 4411" not in str(records(rt, "consent.record")), "subjects stay out"
    for op in ("consent.record", "faces.index", "consent.withdraw"):
        assert all(not biometric_leaks(r) for r in records(rt, op))
    # an index record names the consent id each face was enrolled under
    assert records(rt, "faces.index")[0]["outcome"]["consent_id"] == mine.consent_id
    with pytest.raises(ConsentError, match="withdrawn"):
        svc.index_faces(ctx, "staff", portraits[3], consent=mine.consent_id)


def test_consent_is_refused_when_withdrawn_expired_or_out_of_scope(rt, clock, portraits) -> None:
    ctx = operator(rt, purpose="access-control")
    svc = rt.faces
    for col in ("staff", "visitors"):
        svc.create_collection(ctx, col)
    scoped = svc.record_consent(
        ctx, "s1", collections=["staff"], purposes=["access-control"], expires_at="2024-06-01"
    ).result
    later = svc.record_consent(ctx, "s2", collections=["staff"], given_at="2024-07-01").result
    elsewhere = operator(rt, name="other-org", purpose="access-control")
    foreign = svc.record_consent(elsewhere, "s3", collections=["staff"]).result
    cases = {
        "collection": ("visitors", scoped.consent_id, ctx, "covers staff"),
        "purpose": ("staff", scoped.consent_id, replace(ctx, purpose="research"), "only"),
        "no purpose": ("staff", scoped.consent_id, replace(ctx, purpose=None), "only"),
        "not yet": ("staff", later.consent_id, ctx, "only from"),
        "other tenant": ("staff", foreign.consent_id, ctx, "no consent record"),
        "unknown": ("staff", "cns_0000000000000000", ctx, "no consent record"),
    }
    for name, (col, consent, c, message) in cases.items():
        with pytest.raises(ConsentError, match=message):
            svc.index_faces(c, col, portraits[0], consent=consent)
        assert listed(rt, ctx, col) == set(), name
    errors = [r for r in records(rt, "faces.index") if r["outcome"]["status"] == "error"]
    assert len(errors) == len(cases) and {e["outcome"]["error"] for e in errors} == {
        "consent_refused"
    }
    assert svc.index_faces(ctx, "staff", portraits[0], consent=scoped.consent_id).result
    clock.advance(days=32)  # past 2024-06-01
    with pytest.raises(ConsentError, match="expired"):
        svc.index_faces(ctx, "staff", portraits[1], consent=scoped.consent_id)
    with pytest.raises(NotFoundError):
        svc.get_consent(ctx, foreign.consent_id)


def test_free_text_consent_becomes_a_record_reused_until_withdrawn(rt, portraits) -> None:
    ctx = operator(rt)
    svc = rt.faces
    svc.create_collection(ctx, "staff")
    first = svc.index_faces(ctx, "staff", portraits[0], consent="form 7").result
    svc.index_faces(ctx, "staff", portraits[1], consent="form 7")
    (record,) = svc.list_consents(ctx).result.items
    assert (record.origin, record.subject_ref, record.evidence_ref) == (
        "free-text", "form 7", "form 7",
    )  # fmt: skip
    assert record.collections == ("staff",) and record.purposes == ()
    withdrawn = svc.withdraw_consent(ctx, record.consent_id).result
    assert first.face_records[0].face_id in withdrawn.face_ids
    assert listed(rt, ctx, "staff") == set()
    with pytest.raises(ConsentError, match="withdrawn"):
        svc.index_faces(ctx, "staff", portraits[2], consent="form 7")
    with pytest.raises(PolicyDenied, match="consent"):  # the policy still requires one
        svc.index_faces(ctx, "staff", portraits[2])


def test_retention_cap_and_collection_rules_purge_through_one_record(rt, clock, portraits) -> None:
    ctx = operator(rt)
    svc = rt.faces
    svc.create_collection(ctx, "capped")  # no rule given: the policy's cap, 1095 days
    svc.create_collection(ctx, "month", retention_days=30)
    with pytest.raises(PolicyDenied, match="1095 days") as denied:
        svc.create_collection(ctx, "forever", retention_days=2000)
    assert denied.value.decision.rule == "retention-cap"
    assert rt.store.get_retention(ctx.tenant_id, "capped").max_age_days == 1095
    capped = svc.index_faces(ctx, "capped", portraits[0], consent="c1").result
    month = svc.index_faces(ctx, "month", portraits[1], consent="c2").result

    clock.advance(days=29)
    assert svc.purge_due(ctx).result.face_ids == []
    clock.advance(days=2)
    done = svc.purge_due(ctx).result
    assert done.face_ids == [month.face_records[0].face_id] and done.reasons == {"age": 1}
    assert listed(rt, ctx, "month") == set() and listed(rt, ctx, "capped")
    clock.advance(days=1095 - 31)
    assert svc.purge_due(ctx).result.face_ids == []  # exactly 1095 days: kept
    clock.advance(days=1)
    assert svc.purge_due(ctx).result.face_ids == [capped.face_records[0].face_id]
    assert listed(rt, ctx, "capped") == set()
    purges = records(rt, "retention.purge")
    assert len(purges) == 4, "one record per purge"
    assert purges[1]["outcome"]["face_ids"] == done.face_ids
    counts = purges[1]["outcome"]["counts"]
    assert counts == {"by_collection": {"month": 1}, "by_reason": {"age": 1}}
    assert purges[3]["decision"]["rule"] == "data-lifecycle"


def test_retention_since_last_match_keeps_what_searches_still_find(rt, clock, portraits) -> None:
    ctx = operator(rt, purpose="access-control", case_ref="door-1")
    svc = rt.faces
    svc.create_collection(ctx, "visitors", days_since_match=30)
    rule = rt.store.get_retention(ctx.tenant_id, "visitors")
    assert (rule.max_days_since_match, rule.max_age_days) == (30, 1095)  # the cap still holds
    seen = svc.index_faces(ctx, "visitors", portraits[0], consent="v1").result
    gone = svc.index_faces(ctx, "visitors", portraits[1], consent="v2").result
    clock.advance(days=20)
    found = svc.search_faces_by_image(ctx, "visitors", portraits[0], threshold=95).result
    assert [m.face.face_id for m in found.searches[0].matches] == [seen.face_records[0].face_id]
    clock.advance(days=15)  # 35 days after enrolment, 15 after the match
    done = svc.purge_due(ctx).result
    assert done.face_ids == [gone.face_records[0].face_id] and done.reasons == {"unmatched": 1}
    assert listed(rt, ctx, "visitors") == {seen.face_records[0].face_id}
    clock.advance(days=16)  # 31 days after its last match
    assert svc.purge_due(ctx).result.face_ids == [seen.face_records[0].face_id]
    (create,) = records(rt, "collection.create")
    assert create["request"]["days_since_match"] == 30


def test_a_user_search_that_returns_a_user_counts_as_a_match_of_its_faces(
    rt, clock, portraits
) -> None:
    ctx = operator(rt, purpose="access-control", case_ref="door-1")
    svc = rt.faces
    svc.create_collection(ctx, "members", days_since_match=30)
    kept = svc.index_faces(ctx, "members", portraits[0], consent="m1").result.face_records[0]
    gone = svc.index_faces(ctx, "members", portraits[1], consent="m2").result.face_records[0]
    for user, face in (("ann", kept), ("bob", gone)):
        svc.create_user(ctx, "members", user)
        svc.associate_faces(ctx, "members", user, [face.face_id])
    clock.advance(days=20)
    found = svc.search_users(ctx, "members", image=portraits[0], threshold=95).result
    assert [m.user_id for m in found.matches] == ["ann"]
    clock.advance(days=15)  # 35 days after enrolment, 15 after the user search returned ann
    done = svc.purge_due(ctx).result
    assert done.face_ids == [gone.face_id] and done.reasons == {"unmatched": 1}
    assert listed(rt, ctx, "members") == {kept.face_id}


def test_close_case_ends_the_retention_of_what_was_enrolled_for_it(rt, portraits) -> None:
    police = operator(
        rt, "law-enforcement", purpose="missing-person", case_ref="MP-1",
        authorization_ref="W-1", authorization_date=NOW.date(),
    )  # fmt: skip
    svc = rt.faces
    svc.create_collection(police, "case-files", until_case_closed=True)
    svc.create_collection(police, "general")
    with pytest.raises(Exception, match="case reference"):
        svc.index_faces(replace(police, case_ref=None), "case-files", portraits[0])
    ids = {svc.index_faces(police, c, portraits[0]).result.face_records[0].face_id
           for c in ("case-files", "general")}  # fmt: skip
    other = svc.index_faces(replace(police, case_ref="MP-2"), "general", portraits[1]).result
    done = svc.close_case(police, "MP-1").result
    assert set(done.face_ids) == ids and not done.already_closed
    assert listed(rt, police, "case-files") == set()
    assert listed(rt, police, "general") == {other.face_records[0].face_id}
    (rec,) = records(rt, "case.close")
    assert rec["request"]["case_ref"] == "MP-1" and rec["outcome"]["count"] == 2
    with pytest.raises(Exception, match="closed"):
        svc.index_faces(police, "general", portraits[2])
    assert svc.close_case(police, "MP-1").result.already_closed


@pytest.mark.sqlite_only("SQLite's secure_delete: PostgreSQL has none (docs/scale.md)")
def test_erasure_deletes_faces_users_consents_and_lead_rows_and_the_bytes(rt, portraits) -> None:
    police = operator(
        rt, "law-enforcement", purpose="missing-person", case_ref="MP-1",
        authorization_ref="W-1", authorization_date=NOW.date(),
    )  # fmt: skip
    svc = rt.faces
    for col in ("a", "b"):
        svc.create_collection(police, col)
    consent = svc.record_consent(police, "person 17", collections=["a"]).result
    subject = svc.index_faces(police, "a", portraits[2], consent=consent.consent_id).result
    face = subject.face_records[0].face_id
    in_b = svc.index_faces(police, "b", portraits[0]).result.face_records[0].face_id
    # the same photo indexed again as someone else's (similarity 100: in the lead too); the
    # bytes checked are those of the subject's other photo, in "a"
    keep = svc.index_faces(police, "b", portraits[0]).result.face_records[0].face_id
    svc.create_user(police, "b", "person-17")
    svc.associate_faces(police, "b", "person-17", [in_b])
    blob = rt.store.get_embeddings(police.tenant_id, "a", [face])[face].tobytes()
    assert len(blob) == 512
    files = [rt.settings.data_dir / (STORE_FILE + s) for s in ("", "-wal", "-shm")]

    def on_disk() -> bool:
        return any(p.exists() and blob in p.read_bytes() for p in files)

    assert on_disk(), "the check must be able to see the embedding before"
    with pytest.raises(ResultsWithheld) as held:
        svc.search_faces_by_image(police, "b", portraits[0], threshold=0, max_results=10)
    lead_id = held.value.lead.id
    reviewer = replace(police, principal_id="reviewer-1", roles=frozenset({"reviewer"}))
    lead_rows = rt.gate.reviews.get(reviewer, lead_id)
    assert {r["face_id"] for r in lead_rows.results} == {in_b, keep}

    receipt = svc.erase_subject(police, subject_ref="person 17", user_ids=["person-17"]).result
    body = receipt.to_dict()
    assert body["deleted"]["faces"] == {"a": [face], "b": [in_b]}
    assert body["deleted"]["users"] == {"b": ["person-17"]}
    assert body["deleted"]["consents"] == [consent.consent_id]
    assert body["deleted"]["redacted_lead_rows"] == {lead_id: 1}
    assert body["counts"] == {"faces": 2, "users": 1, "consents": 1, "leads": 1, "lead_rows": 1}
    (rec,) = records(rt, "subject.erase")
    assert body["audit_record"]["seq"] and body["audit_record"]["hash"]
    assert rec["seq"] == body["audit_record"]["seq"] and rec["outcome"]["count"] == 2
    assert "person 17" not in str(rec) and not biometric_leaks(rec)
    assert body["wal_checkpoint"]["busy"] == 0
    assert not on_disk(), "the embedding's bytes are still in the store's files"
    lead = rt.gate.reviews.get(reviewer, lead_id)
    assert lead.status == "pending" and {"redacted": "subject-erased"} in lead.results
    assert keep in {r.get("face_id") for r in lead.results}
    assert listed(rt, police, "a") == set() and listed(rt, police, "b") == {keep}
    assert rt.faces.list_users(police, "b").result.items == []
    assert svc.list_consents(police).result.items == []


def test_the_serve_timer_purges_every_organization_as_the_system(rt, clock, portraits) -> None:
    a = operator(rt, name="a")
    b = operator(rt, name="b")
    for ctx in (a, b):
        rt.faces.create_collection(ctx, "staff", retention_days=10)
        rt.faces.index_faces(ctx, "staff", portraits[0], consent="c")
    task = RetentionTask(rt, every=0.05)
    assert task.run_once() == {a.tenant_id: 0, b.tenant_id: 0}
    clock.advance(days=11)
    task.start()
    try:
        for _ in range(200):
            if not listed(rt, a, "staff") and not listed(rt, b, "staff"):
                break
            threading.Event().wait(0.05)
    finally:
        task.stop()
    assert listed(rt, a, "staff") == listed(rt, b, "staff") == set() and task.runs >= 2
    purges = records(rt, "retention.purge")
    assert {p["principal_id"] for p in purges} == {SYSTEM_PRINCIPAL}
    assert sum(p["outcome"]["count"] for p in purges) == 2
