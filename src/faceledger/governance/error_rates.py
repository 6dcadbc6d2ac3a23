"""The measured error rates inside a 1:N decision: expected false candidates and age bands.

A 1:N search makes one comparison per enrolled face, so with a gallery of N faces and a
false-match rate FMR at the threshold used, about N × FMR of the candidates it returns are
expected to be someone else. The service puts into the request what the policy needs
(``error_rates``: the gallery size, the declared age band, and the newest audit on file for the
collection's model, reduced to a grid of similarity thresholds); :func:`at_threshold` reads the
rates at the threshold the search really uses (the caller's, raised to the rule's floor): the
grid point at or below it, so never a lower rate than the one at the threshold. Without an audit
on file the numbers are ``None`` with a reason: never a made-up rate.

Pure: reads only its arguments, like the policy that calls it.
"""

from __future__ import annotations

from typing import Any

AGE_BANDS = ("0-4", "5-11", "12-17", "adult")
"""Declared age bands (operator-declared, never inferred from the image)."""


def request_rates(
    *,
    model_id: str,
    gallery_size: int | None,
    age_band: str | None,
    audit: dict[str, Any] | None,
) -> dict[str, Any]:
    """What the request carries for the policy: compact and free of biometric data."""
    out: dict[str, Any] = {
        "model_id": model_id,
        "gallery_size": gallery_size,
        "age_band": age_band,
        "audit_id": None,
        "audited_at": None,
        "grid": [],
    }
    if audit is not None:
        out["audit_id"] = audit["audit_id"]
        out["audited_at"] = audit["audited_at"]
        for row in audit["grid"]:
            worst = row.get("worst_group") or {}
            band = (row.get("age_bands") or {}).get(age_band or "") or {}
            out["grid"].append(
                [
                    row["similarity"],
                    row["overall"]["fmr"],
                    worst.get("fmr"),
                    f"{worst['group']} ({worst['dataset']})" if worst else None,
                    band.get("fmr"),
                    row.get("fmr_ratio"),
                ]
            )
    return out


def at_threshold(rates: dict[str, Any], threshold: float) -> dict[str, Any]:
    """Expected false candidates at ``threshold`` (overall, worst audited group, age band)."""
    n = rates.get("gallery_size")
    out: dict[str, Any] = {
        "model_id": rates.get("model_id"),
        "gallery_size": n,
        "threshold": threshold,
        "audit_id": rates.get("audit_id"),
        "audited_at": rates.get("audited_at"),
        "rates_at_similarity": None,
        "fmr": None,
        "expected_false_candidates": None,
        "worst_group": None,
        "worst_group_fmr": None,
        "worst_group_expected_false_candidates": None,
        "age_band": rates.get("age_band"),
        "age_band_fmr": None,
        "fmr_ratio": None,
        "reason": None,
    }
    if not rates.get("audit_id"):
        out["reason"] = (
            f"no fairness audit on file for model {rates.get('model_id')}: "
            "run `faceledger fairness audit` (it files one) or `faceledger fairness file`"
        )
        return out
    below = [row for row in rates.get("grid", []) if row[0] <= threshold]
    if not below:
        out["reason"] = f"the audit on file has no rates at or below similarity {threshold:g}"
        return out
    sim, fmr, worst_fmr, worst, band_fmr, *rest = max(below, key=lambda row: row[0])
    out.update(
        rates_at_similarity=sim, fmr=fmr, worst_group=worst, worst_group_fmr=worst_fmr,
        age_band_fmr=band_fmr, fmr_ratio=rest[0] if rest else None,
    )  # fmt: skip
    if n is None:
        out["reason"] = "the gallery is counted when the search runs"
        return out
    if fmr is not None:
        out["expected_false_candidates"] = round(n * fmr, 6)
    if worst_fmr is not None:
        out["worst_group_expected_false_candidates"] = round(n * worst_fmr, 6)
    return out


def exceeded(bound: dict[str, Any] | None, summary: dict[str, Any]) -> list[str]:
    """What of a rule's ``max_expected_false_candidates`` the search at hand does not meet."""
    if not bound:
        return []
    unmet = []
    for key, limit, label in (
        ("expected_false_candidates", bound.get("overall"), "overall"),
        ("worst_group_expected_false_candidates", bound.get("worst_group"), "worst audited group"),
    ):
        value = summary.get(key)
        if limit is not None and value is not None and value > limit:
            unmet.append(
                f"at most {limit:g} expected false candidates ({label}); "
                f"{describe(summary)}: raise the threshold or search a smaller gallery"
            )
    return unmet


def describe(summary: dict[str, Any]) -> str:
    """One sentence for a reason, a reviewer or the CLI."""
    if summary.get("expected_false_candidates") is None:
        return f"expected false candidates unknown: {summary.get('reason')}"
    text = (
        f"{summary['expected_false_candidates']:.3g} false candidates expected among "
        f"{summary['gallery_size']} enrolled faces at similarity {summary['threshold']:g} "
        f"(FMR {summary['fmr']:.2e} at {summary['rates_at_similarity']:g}, "
        f"audit {summary['audit_id']})"
    )
    if summary.get("worst_group_expected_false_candidates") is not None:
        text += (
            f"; {summary['worst_group_expected_false_candidates']:.3g} for the worst audited "
            f"group, {summary['worst_group']}"
        )
    return text
