"""The error rates a 1:N search carries (``governance.error_rates``), as the service fills them in.

Before the decision the request carries the declared age band and the audited rates of the
engine's model (no store read); in the work, once the collection is known, the gallery is
counted and the rule's bound on expected false candidates is checked: a search over it is
refused by that rule (``PolicyDenied``), and otherwise the decision's obligations get the
complete numbers, so that a lead held for review shows them too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faceledger.governance.decision import Decision
from faceledger.governance.error_rates import AGE_BANDS, at_threshold, exceeded, request_rates
from faceledger.service.unit import PolicyDenied
from faceledger.store.base import CollectionInfo, FaceRecord, InvalidRequestError

Audits = Callable[[str], dict[str, Any] | None]


def probe_rates(model_id: str, audits: Audits, age_band: str | None) -> dict[str, Any]:
    """What a 1:N request carries for the policy."""
    if age_band is not None and age_band not in AGE_BANDS:
        raise InvalidRequestError(
            f"age_band must be one of {', '.join(AGE_BANDS)} (declared by the operator)"
        )
    return request_rates(
        model_id=model_id, gallery_size=None, age_band=age_band, audit=audits(model_id)
    )


def gallery_rates(
    audits: Audits,
    decision: Decision,
    request: dict[str, Any],
    info: CollectionInfo,
    threshold: float,
    *,
    probe_enrolled: bool = False,
) -> dict[str, Any]:
    """Expected false candidates of this search (the collection's faces, less the probe when it
    is one of them; the collection's model; the threshold used), checked against the bound."""
    size = max(0, info.face_count - 1) if probe_enrolled else info.face_count
    rates = at_threshold(
        request_rates(
            model_id=info.model_id, gallery_size=size,
            age_band=request["error_rates"]["age_band"], audit=audits(info.model_id),
        ),
        threshold,
    )  # fmt: skip
    unmet = exceeded(decision.obligations.get("max_expected_false_candidates"), rates)
    if unmet:
        raise PolicyDenied(
            Decision(
                False, decision.rule, f"Rule {decision.rule} requires {'; '.join(unmet)}.",
                obligations={**decision.obligations, "error_rates": rates},
            )
        )  # fmt: skip
    decision.obligations["error_rates"] = rates
    return rates


def logged_rates(rates: dict[str, Any]) -> dict[str, Any]:
    """What the audit record keeps of a search's error rates (numbers and the audit's id)."""
    keys = ("gallery_size", "audit_id", "rates_at_similarity", "expected_false_candidates",
            "worst_group_expected_false_candidates", "age_band_fmr")  # fmt: skip
    return {k: rates[k] for k in keys if rates.get(k) is not None}


def check_enrolled_band(record: FaceRecord, request: dict[str, Any]) -> None:
    """A search by an enrolled face that was declared in an age band must declare that band, so
    that the policy's rules for it (refusal, review) were the ones decided."""
    declared = request["error_rates"]["age_band"]
    if record.age_band is not None and declared != record.age_band:
        raise InvalidRequestError(
            f"face {record.face_id} was declared {record.age_band} at enrolment: declare "
            f"age_band={record.age_band} to search by it (the policy's rules for that band apply)"
        )
