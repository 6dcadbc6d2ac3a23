"""GovernedGate: role floor, tenant isolation, policy, rate limits, one record per request."""

from __future__ import annotations

from datetime import date

import pytest
from tests_gov_helpers import ctx

from faceledger.governance.errors import ForbiddenError
from faceledger.governance.gate import GovernedGate
from faceledger.governance.policy import PolicyEngine
from faceledger.governance.ratelimit import MemoryRateLimiter, SqliteRateLimiter
from faceledger.service.gate import Gate

PERMISSIVE = """
version: 1
rules:
  - id: anything
    effect: allow
    reason: Everything is allowed.
"""

LIMITED = """
version: 1
rules:
  - id: limited
    when: {operations: [faces.search]}
    effect: allow
    min_similarity: 95
    max_results: 5
    rate_limit:
      - {requests: 2, per: 1m}
      - {requests: 3, per: 1h, scope: tenant}
    reason: Searches are limited.
"""


@pytest.fixture
def gate(auditlog, clock, queue):
    return GovernedGate(PolicyEngine.default(), auditlog, MemoryRateLimiter(), clock, reviews=queue)


def test_is_a_gate(gate):
    assert isinstance(gate, GovernedGate)
    _: Gate = gate


def test_role_floor_holds_even_under_a_permissive_policy(auditlog, clock):
    gate = GovernedGate(PolicyEngine.from_text(PERMISSIVE), auditlog, None, clock)
    auditor = ctx(roles=("auditor",))
    d = gate.decide(auditor, "faces.search", {})
    assert not d.allowed and d.rule == "role-required" and "operator" in d.reason
    assert gate.decide(ctx(roles=("operator",)), "audit.read", {}).rule == "role-required"
    assert gate.decide(ctx(roles=("admin",)), "faces.list", {}).rule == "role-required"
    assert gate.decide(ctx(), "faces.list", {}).allowed


def test_unknown_operation_and_tenant_isolation(gate):
    assert gate.decide(ctx(), "faces.teleport", {}).rule == "unknown-operation"
    d = gate.decide(ctx(tenant="org_a"), "faces.list", {"tenant_id": "org_b"})
    assert not d.allowed and d.rule == "tenant-isolation"
    assert gate.decide(ctx(principal=""), "faces.list", {}).rule == "authentication"


def test_effective_threshold_and_cap(gate):
    le = ctx(
        actor_class="law-enforcement",
        purpose="missing-person",
        case_ref="C1",
        authorization_ref="W1",
        authorization_date=date(2024, 4, 1),
    )
    d = gate.decide(le, "faces.search", {"threshold": 90, "max_results": 50})
    assert d.allowed and d.review_required
    assert d.obligations["threshold"] == 99 and d.obligations["max_results"] == 10
    d = gate.decide(le, "faces.search", {"threshold": 99.5, "max_results": 3})
    assert d.obligations["threshold"] == 99.5 and d.obligations["max_results"] == 3


@pytest.mark.parametrize("limiter", ["memory", "sqlite"])
def test_rate_limits(auditlog, clock, db, limiter):
    rl = MemoryRateLimiter() if limiter == "memory" else SqliteRateLimiter(db)
    gate = GovernedGate(PolicyEngine.from_text(LIMITED), auditlog, rl, clock)
    alice, bob = ctx(principal="alice"), ctx(principal="bob")
    assert gate.decide(alice, "faces.search", {}).allowed
    assert gate.decide(alice, "faces.search", {}).allowed
    third = gate.decide(alice, "faces.search", {})
    assert not third.allowed and third.rule == "limited" and "retry in 60 s" in third.reason
    assert third.obligations["rate_limited"]
    assert gate.decide(bob, "faces.search", {}).allowed  # principal limit is per principal
    clock.advance(seconds=60)
    assert not gate.decide(bob, "faces.search", {}).allowed  # the tenant's 3 per hour are used
    assert gate.decide(ctx(principal="carol", tenant="org_b"), "faces.search", {}).allowed
    clock.advance(hours=1)
    assert gate.decide(alice, "faces.search", {}).allowed


def test_record_once_per_request_allowed_or_denied(gate, auditlog):
    c = ctx(purpose="access-control", case_ref="C1")
    for op, request in [
        ("faces.search_by_image", {"image_sha256": ["ab" * 32], "collection_id": "staff"}),
        ("faces.index", {"image_sha256": ["cd" * 32], "collection_id": "staff", "consent": None}),
    ]:
        decision = gate.decide(c, op, request)
        gate.record(c, op, decision, request=request, outcome={"status": "ok"})
    records = [r.body for r in auditlog.records()]
    assert [(r["operation"], r["decision"]["allowed"]) for r in records] == [
        ("faces.search_by_image", True),
        ("faces.index", False),
    ]
    assert records[1]["decision"]["rule"] == "enrolment-needs-consent"
    assert records[0]["policy_sha256"] == gate.policy.sha256


def test_withhold_and_review_through_the_gate(gate, auditlog):
    le = ctx(
        principal="acct_req",
        actor_class="law-enforcement",
        purpose="trafficking-victim",
        case_ref="C7",
        authorization_ref="W7",
        authorization_date=date(2024, 4, 30),
    )
    request = {"image_sha256": ["ef" * 32], "collection_id": "watch"}
    decision = gate.decide(le, "faces.search_by_image", request)
    assert decision.allowed and decision.review_required
    lead = gate.withhold(
        le, "faces.search_by_image", decision, [{"face_id": "f", "similarity": 99.3}]
    )
    gate.record(
        le,
        "faces.search_by_image",
        decision,
        request=request,
        outcome={"status": "pending_review", "lead_id": lead.id},
    )
    r1 = ctx(principal="r1", actor_class="law-enforcement", roles=("reviewer",))
    r2 = ctx(principal="r2", actor_class="law-enforcement", roles=("reviewer",))
    with pytest.raises(ForbiddenError):
        gate.review(le, lead.id, "confirm")  # an operator is no reviewer: denied by the gate
    gate.review(r1, lead.id, "confirm")
    assert gate.review(r2, lead.id, "confirm").status == "released"
    ops = [(r.body["operation"], r.body["decision"]["allowed"]) for r in auditlog.records()]
    assert ops == [
        ("review.open", True),
        ("faces.search_by_image", True),
        ("review.confirm", False),
        ("review.confirm", True),
        ("review.confirm", True),
    ]
    with pytest.raises(ValueError):
        gate.withhold(le, "faces.list", gate.decide(ctx(), "faces.list", {}), [])


def test_open_a_data_dir(tmp_path, clock):
    gate = GovernedGate.open(tmp_path, clock=clock)
    assert gate.auditlog.db.postgres or (tmp_path / "governance.sqlite3").exists()
    assert gate.policy.policy.source.startswith("<packaged")
    (tmp_path / "policy.yaml").write_text(PERMISSIVE)
    assert GovernedGate.open(tmp_path, clock=clock).policy.policy.rules[0].id == "anything"


def test_report_and_evaluation_floors_and_default_rules(gate):
    """report.accountability: auditors or admins; evaluation.run: operators of independent
    testers, who may do nothing else; nobody else evaluates."""
    for role in ("auditor", "admin"):
        d = gate.decide(ctx(roles=(role,)), "report.accountability", {})
        assert d.allowed and d.rule == "accountability-report", role
    for role in ("operator", "reviewer"):
        d = gate.decide(ctx(roles=(role,)), "report.accountability", {})
        assert d.rule == "role-required" and "auditor or admin" in d.reason
    tester = ctx(actor_class="independent-tester", roles=("operator",))
    assert gate.decide(tester, "evaluation.run", {}).rule == "independent-testers-evaluate"
    for op in ("faces.search", "collection.list", "compare", "detect", "consent.list"):
        assert gate.decide(tester, op, {}).rule == "independent-testers-only-evaluate", op
    d = gate.decide(ctx(actor_class="research", roles=("operator",)), "evaluation.run", {})
    assert not d.allowed and d.rule == "evaluations-are-for-independent-testers"
