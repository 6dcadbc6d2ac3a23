"""Error rates in a 1:N decision: the arithmetic of expected false candidates, the grid point a
threshold uses, and the policy's age-band and bound requirements (pure, no engine)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from tests_gov_helpers import ctx

from faceledger.governance.error_rates import at_threshold, exceeded, request_rates
from faceledger.governance.errors import PolicyError
from faceledger.governance.policy import PolicyEngine, default_policy_text

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def audit(**bands: float) -> dict:
    """An audit summary in the filed format (the numbers are the test's, not a measurement)."""
    grid = []
    for sim, fmr, worst in ((90.0, 1e-3, 1e-2), (99.0, 1e-4, 2e-3), (99.9, 1e-5, 4e-4)):
        grid.append(
            {
                "similarity": sim,
                "overall": {"fmr": fmr},
                "worst_group": {"group": "Asian Female", "dataset": "utkface", "fmr": worst},
                "age_bands": {band: {"fmr": f * fmr} for band, f in bands.items()},
                "fmr_ratio": worst / fmr,
            }
        )
    return {"audit_id": "audit_x", "audited_at": "2026-12-01T00:00:00Z", "grid": grid}


def test_expected_false_candidates_use_the_grid_point_at_or_below_the_threshold():
    rates = request_rates(
        model_id="m", gallery_size=5000, age_band="0-4", audit=audit(**{"0-4": 300})
    )
    s = at_threshold(rates, 99.5)
    assert s["rates_at_similarity"] == 99.0 and s["fmr"] == 1e-4
    assert s["expected_false_candidates"] == pytest.approx(0.5)
    assert s["worst_group"] == "Asian Female (utkface)"
    assert s["worst_group_expected_false_candidates"] == pytest.approx(10.0)
    assert s["age_band_fmr"] == pytest.approx(0.03)
    assert at_threshold(rates, 99.9)["expected_false_candidates"] == pytest.approx(0.05)
    low = at_threshold(rates, 80.0)
    assert low["fmr"] is None and "no rates at or below similarity 80" in low["reason"]
    none = at_threshold(request_rates(model_id="m", gallery_size=9, age_band=None, audit=None), 99)
    assert (
        none["expected_false_candidates"] is None and "no fairness audit on file" in none["reason"]
    )
    assert exceeded({"overall": 0.4, "worst_group": None}, s)
    assert not exceeded({"overall": 0.5, "worst_group": None}, s)
    assert exceeded({"overall": None, "worst_group": 9}, s)


def le(**kw):
    base = dict(
        actor_class="law-enforcement",
        purpose="missing-person",
        case_ref="CASE-1",
        authorization_ref="WARRANT-7",
        authorization_date=date(2024, 4, 20),
    )
    base.update(kw)
    return ctx(**base)


def search(band: str | None, found: dict | None = None, threshold: float = 99.9) -> dict:
    rates = request_rates(model_id="m", gallery_size=None, age_band=band, audit=found)
    return {"collection_id": "c", "threshold": threshold, "error_rates": rates}


@pytest.mark.parametrize("who", ["law-enforcement", "commercial"])
def test_default_policy_refuses_0_4_and_reviews_5_11(who):
    engine = PolicyEngine.default()
    c = le(actor_class=who)
    d = engine.decide(c, "faces.search_by_image", search("0-4", audit(**{"0-4": 300})), NOW)
    assert not d.allowed and "age band 0-4" in d.reason and "3.00e-03" in d.reason
    d = engine.decide(c, "faces.search_by_image", search("0-4"), NOW)
    assert not d.allowed and "no audited FMR for that band" in d.reason
    d = engine.decide(c, "faces.search_by_image", search("5-11"), NOW)
    assert d.allowed and d.review_required
    assert d.obligations["error_rates"]["age_band"] == "5-11"
    d = engine.decide(c, "faces.search_by_image", search("adult"), NOW)
    assert d.allowed and d.review_required is (who == "law-enforcement")


def test_bound_goes_to_the_service_and_the_floor_raises_the_threshold():
    engine = PolicyEngine.default()
    d = engine.decide(le(), "faces.search", search(None, audit(), threshold=50), NOW)
    assert d.allowed and d.obligations["max_expected_false_candidates"]["overall"] == 1
    assert d.obligations["error_rates"]["threshold"] == 99  # the rule's floor, not 50
    assert d.obligations["error_rates"]["rates_at_similarity"] == 99.0


def test_bound_without_an_audit_can_deny_and_numbers_are_checked():
    text = default_policy_text().replace(
        "max_expected_false_candidates: {overall: 1}",
        "max_expected_false_candidates: {overall: 1, without_audit: deny}",
    )
    engine = PolicyEngine.from_text(text)
    d = engine.decide(le(), "faces.search", search(None), NOW)
    assert not d.allowed and "no fairness audit on file" in d.reason
    assert engine.decide(le(), "faces.search", search(None, audit()), NOW).allowed
    shorthand = default_policy_text().replace(
        "max_expected_false_candidates: {overall: 1}", "max_expected_false_candidates: 2.5"
    )
    d = PolicyEngine.from_text(shorthand).decide(le(), "faces.search", search(None, audit()), NOW)
    assert d.obligations["max_expected_false_candidates"]["overall"] == 2.5
    for bad in ("max_expected_false_candidates: -1", "declared_age: {refuse: [toddler]}"):
        text = default_policy_text().replace("max_expected_false_candidates: {overall: 1}", bad)
        with pytest.raises(PolicyError):
            PolicyEngine.from_text(text)


def test_identification_can_require_a_recent_fair_enough_audit_on_file():
    def engine_with(gate: str) -> PolicyEngine:
        text = default_policy_text().replace(
            "max_expected_false_candidates: {overall: 1}",
            f"max_expected_false_candidates: {{overall: 1}}\n      audit_on_file: {gate}",
        )
        assert f"audit_on_file: {gate}" in text
        return PolicyEngine.from_text(text)

    found = audit()  # audited 2026-12-01; worst/overall ratio 20 at similarity 99
    later = datetime(2026, 12, 31, tzinfo=UTC)
    recent = {"authorization_date": date(2026, 12, 20)}
    d = engine_with("true").decide(le(**recent), "faces.search", search(None), later)
    assert not d.allowed and "a fairness audit on file for model m" in d.reason
    assert (
        engine_with("true").decide(le(**recent), "faces.search", search(None, found), later).allowed
    )
    strict = engine_with("{max_age_days: 20, max_fmr_ratio: 100}")
    d = strict.decide(le(**recent), "faces.search", search(None, found), later)
    assert not d.allowed and "at most 20 days old (the newest on file is 30 days old)" in d.reason
    fair = engine_with("{max_age_days: 60, max_fmr_ratio: 25}")
    d = fair.decide(le(**recent), "faces.search", search(None, found, threshold=99.0), later)
    assert d.allowed  # ratio 20 at 99
    d = fair.decide(le(**recent), "faces.search", search(None, found, threshold=99.9), later)
    assert not d.allowed and "(model m: 40)" in d.reason  # ratio 40 at 99.9
