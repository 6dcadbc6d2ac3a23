"""Decisions of the policy engine: the default policy's commitments and each effect at its edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from tests_gov_helpers import ctx

from faceledger.governance.errors import PolicyError
from faceledger.governance.policy import PolicyEngine

SEARCHES = ["faces.search", "faces.search_by_image", "users.search"]
START = datetime(2020, 6, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.default()


def le(**kw):
    base = dict(
        actor_class="law-enforcement",
        case_ref="CASE-1",
        authorization_ref="WARRANT-7",
        authorization_date=date(2024, 4, 20),
    )
    base.update(kw)
    return ctx(**base)


NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("operation", SEARCHES)
def test_moratorium_denies_law_enforcement_search(engine, operation):
    d = engine.decide(le(purpose="criminal-investigation"), operation, {}, NOW)
    assert not d.allowed
    assert d.rule == "law-enforcement-search-moratorium"
    assert "moratorium" in d.reason


@pytest.mark.parametrize("purpose", ["missing-person", "trafficking-victim"])
@pytest.mark.parametrize("operation", SEARCHES)
def test_moratorium_exemptions(engine, operation, purpose):
    d = engine.decide(le(purpose=purpose), operation, {}, NOW)
    assert d.allowed, d.reason
    assert d.rule == "law-enforcement-identification"
    assert d.min_similarity == 99
    assert d.review_required
    assert d.max_results == 10


def test_moratorium_window_edges(engine):
    c = le(purpose="criminal-investigation", authorization_date=date(2020, 6, 1))
    day_before = START - timedelta(days=1)
    instant_before = START - timedelta(microseconds=1)
    assert engine.decide(c, "faces.search", {}, day_before).allowed
    assert engine.decide(c, "faces.search", {}, instant_before).allowed
    at_start = engine.decide(c, "faces.search", {}, START)
    assert not at_start.allowed and at_start.rule == "law-enforcement-search-moratorium"
    far_future = datetime(2100, 1, 1, tzinfo=UTC)
    assert not engine.decide(c, "faces.search", {}, far_future).allowed  # no end


WINDOWED = """
version: 1
rules:
  - id: pause
    when: {operations: [faces.search], during: {start: 2024-01-01, end: 2024-02-01}}
    unless: {purposes: [missing-person]}
    effect: deny
    reason: Searches are paused in January 2024.
  - id: search
    when: {operations: [faces.search]}
    effect: allow
    reason: Searches are allowed.
"""


def test_window_end_is_exclusive():
    engine = PolicyEngine.from_text(WINDOWED)
    c = ctx(purpose="research")
    end = datetime(2024, 2, 1, tzinfo=UTC)
    assert engine.decide(c, "faces.search", {}, end - timedelta(microseconds=1)).rule == "pause"
    assert engine.decide(c, "faces.search", {}, end).rule == "search"
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert engine.decide(c, "faces.search", {}, start - timedelta(microseconds=1)).allowed
    assert not engine.decide(c, "faces.search", {}, start).allowed
    assert engine.decide(ctx(purpose="missing-person"), "faces.search", {}, start).allowed


def test_datetime_windows_with_zones():
    engine = PolicyEngine.from_text(
        WINDOWED.replace("start: 2024-01-01", "start: 2024-01-01T09:00:00+02:00")
    )
    c = ctx(purpose="research")
    assert engine.decide(c, "faces.search", {}, datetime(2024, 1, 1, 6, 59, tzinfo=UTC)).allowed
    assert not engine.decide(c, "faces.search", {}, datetime(2024, 1, 1, 7, tzinfo=UTC)).allowed


def test_law_enforcement_identification_requires_authorization(engine):
    d = engine.decide(le(purpose="missing-person", authorization_ref=None), "faces.search", {}, NOW)
    assert not d.allowed
    assert d.rule == "law-enforcement-identification"
    assert "authorization" in d.reason


def test_authorization_max_age_and_future_date(engine):
    old = le(purpose="missing-person", authorization_date=date(2024, 1, 1))
    d = engine.decide(old, "faces.search", {}, NOW)
    assert not d.allowed and "at most 90 days" in d.reason
    edge = le(purpose="missing-person", authorization_date=(NOW - timedelta(days=90)).date())
    assert engine.decide(edge, "faces.search", {}, NOW).allowed
    future = le(purpose="missing-person", authorization_date=date(2024, 5, 2))
    assert not engine.decide(future, "faces.search", {}, NOW).allowed


def test_identification_requires_purpose_and_case(engine):
    no_case = engine.decide(ctx(purpose="access-control"), "faces.search", {}, NOW)
    assert not no_case.allowed
    assert no_case.rule == "identification-needs-purpose-and-case"
    assert "case reference" in no_case.reason
    no_purpose = engine.decide(ctx(case_ref="C1"), "faces.search_by_image", {}, NOW)
    assert not no_purpose.allowed and "purpose" in no_purpose.reason
    ok = engine.decide(ctx(purpose="access-control", case_ref="C1"), "faces.search", {}, NOW)
    assert ok.allowed and not ok.review_required
    assert ok.obligations["rate_limits"] == [
        {"requests": 1000, "per_seconds": 3600, "scope": "principal"}
    ]
    le_missing_case = engine.decide(
        le(purpose="missing-person", case_ref=None), "faces.search", {}, NOW
    )
    assert not le_missing_case.allowed and "case reference" in le_missing_case.reason


def test_unknown_purpose_is_denied(engine):
    d = engine.decide(ctx(purpose="curiosity", case_ref="C"), "faces.search", {}, NOW)
    assert not d.allowed and d.rule == "unknown-purpose"


def test_consent_required_outside_law_enforcement(engine):
    d = engine.decide(ctx(), "faces.index", {"consent": None}, NOW)
    assert not d.allowed and d.rule == "enrolment-needs-consent" and "consent" in d.reason
    ok = engine.decide(ctx(), "faces.index", {"consent": "consent-2024-001"}, NOW)
    assert ok.allowed and ok.obligations["consent_required"] is True
    research = ctx(actor_class="research")
    assert not engine.decide(research, "faces.index", {}, NOW).allowed
    enrol_le = engine.decide(le(purpose="criminal-investigation"), "faces.index", {}, NOW)
    assert enrol_le.allowed and enrol_le.rule == "law-enforcement-enrolment"


def test_law_enforcement_compare_has_floor_and_review(engine):
    d = engine.decide(le(purpose="criminal-investigation"), "compare", {}, NOW)
    assert d.allowed and d.min_similarity == 99 and d.review_required


def test_roles(engine):
    auditor = ctx(roles=("auditor",))
    assert engine.decide(auditor, "audit.read", {}, NOW).allowed
    for op in ["faces.search", "faces.index", "review.confirm", "collection.list"]:
        d = engine.decide(auditor, op, {"consent": "x"}, NOW)
        assert not d.allowed
    assert engine.decide(auditor, "faces.list", {}, NOW).rule == "auditors-only-read"
    operator = ctx()
    assert engine.decide(operator, "audit.read", {}, NOW).rule == "log-is-for-auditors"
    assert engine.decide(operator, "review.confirm", {}, NOW).rule == "review-is-for-reviewers"
    reviewer = ctx(roles=("reviewer",))
    assert engine.decide(reviewer, "review.confirm", {}, NOW).allowed
    assert engine.decide(reviewer, "faces.list", {}, NOW).rule == "face-service-is-for-operators"
    assert engine.decide(operator, "faces.list", {}, NOW).allowed


def test_default_deny_names_a_rule():
    engine = PolicyEngine.from_text(WINDOWED)
    d = engine.decide(ctx(), "faces.index", {}, NOW)
    assert not d.allowed and d.rule == "default-deny" and d.reason.endswith(".")


def test_every_decision_names_rule_and_one_sentence(engine):
    contexts = [ctx(), le(purpose="missing-person"), ctx(roles=("auditor",)), le()]
    from faceledger.governance.operations import KNOWN_OPERATIONS

    for c in contexts:
        for op in KNOWN_OPERATIONS:
            d = engine.decide(c, op, {}, NOW)
            assert d.rule
            assert d.reason.endswith(".") and d.reason.count(". ") == 0, d.reason
            assert d.obligations["policy_sha256"] == engine.sha256


def test_decide_is_pure(engine):
    c = le(purpose="missing-person")
    first = engine.decide(c, "faces.search", {"threshold": 90}, NOW)
    for _ in range(3):
        assert engine.decide(c, "faces.search", {"threshold": 90}, NOW) == first
    with pytest.raises(ValueError):
        engine.decide(c, "faces.search", {}, NOW.replace(tzinfo=None))


LIMITS = """
version: 1
rules:
  - id: capped
    when: {operations: [faces.search]}
    effect: allow
    min_similarity: 95
    max_results: 5
    rate_limit:
      - {requests: 2, per: 1m}
      - {requests: 3, per: 1h, scope: tenant}
    reason: Capped searches.
"""


def test_effects_are_carried():
    d = PolicyEngine.from_text(LIMITS).decide(ctx(), "faces.search", {}, NOW)
    assert d.allowed and d.min_similarity == 95 and d.max_results == 5
    assert d.obligations["rate_limits"] == [
        {"requests": 2, "per_seconds": 60, "scope": "principal"},
        {"requests": 3, "per_seconds": 3600, "scope": "tenant"},
    ]


def test_allowed_purposes_list():
    engine = PolicyEngine.from_text(
        """
version: 1
rules:
  - id: r
    when: {operations: ["faces.*"]}
    effect: allow
    require: {purposes: [research, testing]}
    reason: Only research or testing.
"""
    )
    assert engine.decide(ctx(purpose="research"), "faces.list", {}, NOW).allowed
    d = engine.decide(ctx(purpose="access-control"), "faces.list", {}, NOW)
    assert not d.allowed and "research, testing" in d.reason
    assert not engine.decide(ctx(), "faces.list", {}, NOW).allowed


@pytest.mark.parametrize("operation", ["video.search", "footage.search", "footage.request"])
def test_stored_video_and_footage_fall_under_the_moratorium(engine, operation):
    assert engine.decide(le(purpose="criminal-investigation"), operation, {}, NOW).rule == (
        "law-enforcement-search-moratorium"
    )
    allowed = engine.decide(le(purpose="missing-person"), operation, {}, NOW)
    assert allowed.allowed, allowed.reason
    assert allowed.review_required == (operation != "footage.request")


def test_event_types_condition_refuses_assemblies_and_typos(engine):
    for event in ("protest", "public-assembly", "religious-service"):
        d = engine.decide(le(purpose="missing-person"), "footage.request", {"event_type": event},
                          NOW)  # fmt: skip
        assert d.rule == "no-footage-of-assemblies"
    d = engine.decide(le(purpose="missing-person"), "footage.request", {"event_type": "crime"},
                      NOW)  # fmt: skip
    assert d.allowed
    text = (
        "version: 1\nrules:\n  - id: r\n    when: {operations: [footage.request], "
        "event_types: [protst]}\n    effect: deny\n    reason: Refused.\n"
    )
    with pytest.raises(PolicyError) as info:
        PolicyEngine.from_text(text)
    assert "did you mean 'protest'" in str(info.value)
