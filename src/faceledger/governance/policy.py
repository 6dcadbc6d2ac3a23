"""Declarative policy: a YAML file of ordered rules (``policy_document``), decided purely.

Semantics (see docs/policy.md): **first match**. Rules are tried in file order; a rule applies
when every condition under ``when`` holds and not every condition under ``unless`` holds. The
first rule that applies decides. A ``deny`` rule denies. An ``allow`` rule allows if its
``require`` list is met (purpose, allowed purposes, case reference, authorization and its age,
consent) and denies otherwise, naming what is missing; an allowed decision carries the rule's
similarity floor, result cap, review and rate limits. No applicable rule: denied
(``default-deny``). Every decision names its rule and gives one sentence of reason.

Names come from a closed vocabulary (:mod:`faceledger.governance.vocabulary`): a policy that
names an unknown actor class, role, purpose or operation does not load, and a request whose
actor class or declared purpose is unknown is denied before any rule is tried
(``unknown-actor-class``, ``unknown-purpose``).

``PolicyEngine.decide(ctx, operation, request, now)`` reads nothing but its arguments and the
loaded policy, so it is deterministic given ``now``. Rate limits are counted by the gate.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from faceledger.governance import error_rates, vocabulary
from faceledger.governance import operations as ops
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.governance.policy_document import (
    AuditOnFile,
    AuthorizationRequirement,
    Conditions,
    Policy,
    PolicyDocument,
    RateLimit,
    Require,
    Rule,
    Window,
    default_policy,
    default_policy_text,
    load_policy,
    parse_policy,
)

__all__ = [
    "AuthorizationRequirement",
    "Conditions",
    "Policy",
    "PolicyDocument",
    "PolicyEngine",
    "RateLimit",
    "Require",
    "Rule",
    "Window",
    "default_policy",
    "default_policy_text",
    "load_policy",
    "parse_policy",
]


RETENTION_OPERATIONS = ("collection.create", "retention.purge")
"""Operations whose decision carries the policy's retention cap (``retention_max_days``)."""


class PolicyEngine:
    """Decides requests against a loaded :class:`Policy`."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PolicyEngine:
        return cls(load_policy(path))

    @classmethod
    def from_text(cls, text: str, source: str = "<policy>") -> PolicyEngine:
        return cls(parse_policy(text, source))

    @classmethod
    def default(cls) -> PolicyEngine:
        return cls(default_policy())

    @classmethod
    def for_path(cls, path: str | os.PathLike[str] | None) -> PolicyEngine:
        """The policy at ``path`` if that file exists, else the packaged default."""
        if path is not None and Path(path).exists():
            return cls.from_file(path)
        return cls.default()

    @property
    def sha256(self) -> str:
        return self.policy.sha256

    def reviews_identification(self, actor_class: str) -> bool:
        """Whether some rule of this policy holds an identification by this actor class for
        human review (collections then keep face crops for the reviewers by default)."""
        for rule in self.policy.rules:
            when = rule.when
            if not rule.review or rule.effect != "allow":
                continue
            if when.actor_classes is not None and actor_class not in when.actor_classes:
                continue
            if when.operations is None or any(
                ops.matches(p, op) for p in when.operations for op in ops.IDENTIFICATION_OPERATIONS
            ):
                return True
        return False

    def decide(
        self, ctx: RequestContext, operation: str, request: dict[str, Any], now: datetime
    ) -> Decision:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        base = {"policy_sha256": self.policy.sha256}
        if not vocabulary.is_known("actor class", ctx.actor_class):
            # Not matched loosely, nor as any known class: denied outright, which is at least
            # as strict as every rule for every class (docs/policy.md, "Closed vocabulary").
            return Decision(
                False,
                "unknown-actor-class",
                f"The organization's actor class {ctx.actor_class!r} is not a known one "
                f"({', '.join(vocabulary.ACTOR_CLASSES)}); the host administrator must correct "
                "it before the organization can make requests.",
                obligations=base,
            )
        known = self.policy.document.purposes
        if known is None:
            known = vocabulary.PURPOSES
        if ctx.purpose is not None and (
            ctx.purpose not in known or not vocabulary.is_known("purpose", ctx.purpose)
        ):
            return Decision(
                False,
                "unknown-purpose",
                f"The declared purpose {ctx.purpose!r} is not one this policy knows "
                f"({', '.join(sorted(set(known) & set(vocabulary.PURPOSES)))}).",
                obligations=base,
            )
        for rule in self.policy.rules:
            if not rule.applies(ctx, operation, now, request):
                continue
            if rule.effect == "deny":
                return Decision(False, rule.id, rule.reason, obligations=base)
            rates = _rates(rule, request)
            unmet = _unmet(rule.require, ctx, request, now) + _unmet_rates(rule.require, rates, now)
            if unmet:
                return Decision(
                    False,
                    rule.id,
                    f"Rule {rule.id} requires {'; '.join(unmet)}.",
                    obligations={**base, **({"error_rates": rates} if rates else {})},
                )
            obligations = dict(base)
            review = rule.review
            if rates is not None:
                obligations["error_rates"] = rates
                bound = rule.require.max_expected_false_candidates if rule.require else None
                if bound is not None:  # checked by the service once it counts the gallery
                    obligations["max_expected_false_candidates"] = bound.model_dump()
                age = rule.require.declared_age if rule.require else None
                if age is not None and rates["age_band"] in age.review and not review:
                    review = True
                    obligations["review_reason"] = (
                        f"a probe declared {rates['age_band']} is held for review"
                    )
            if rule.rate_limit:
                obligations["rate_limits"] = [
                    {"requests": r.requests, "per_seconds": r.per, "scope": r.scope}
                    for r in rule.rate_limit
                ]
            if rule.require and rule.require.consent:
                obligations["consent_required"] = True
            retention = self.policy.document.retention
            if retention is not None and operation in RETENTION_OPERATIONS:
                cap = retention.max_age_days
                asked = request.get("retention_days")
                if isinstance(asked, int) and asked > cap:
                    return Decision(
                        False,
                        "retention-cap",
                        f"The policy keeps no face longer than {cap} days after enrolment; "
                        f"a retention of {asked} days is refused.",
                        obligations=base,
                    )
                obligations["retention_max_days"] = cap
            return Decision(
                True,
                rule.id,
                rule.reason,
                min_similarity=rule.min_similarity,
                max_results=rule.max_results,
                review_required=review,
                obligations=obligations,
            )
        return Decision(
            False,
            "default-deny",
            f"No policy rule allows {operation} for a {ctx.actor_class} "
            f"{'/'.join(sorted(ctx.roles)) or 'principal'}.",
            obligations=base,
        )


def _rates(rule: Rule, request: dict[str, Any]) -> dict[str, Any] | None:
    """Expected false candidates at the threshold the search will use: the caller's, raised
    to the rule's floor (``governance.error_rates``); None when the request is not a search."""
    given = request.get("error_rates")
    if not isinstance(given, dict):
        return None
    threshold = float(request.get("threshold") or 0.0)
    if rule.min_similarity is not None:
        threshold = max(threshold, float(rule.min_similarity))
    return error_rates.at_threshold(given, threshold)


def _unmet_rates(require: Require | None, rates: dict[str, Any] | None, now: datetime) -> list[str]:
    if require is None or rates is None:
        return []
    unmet = []
    gate = require.audit_on_file
    if gate:
        model = rates.get("model_id")
        if not rates.get("audit_id"):
            unmet.append(f"a fairness audit on file for model {model}")
        elif isinstance(gate, AuditOnFile):
            audited = datetime.fromisoformat(str(rates["audited_at"]).replace("Z", "+00:00"))
            age = (now - audited).days
            if gate.max_age_days is not None and age > gate.max_age_days:
                unmet.append(
                    f"a fairness audit of model {model} at most {gate.max_age_days} days old "
                    f"(the newest on file is {age} days old)"
                )
            ratio = rates.get("fmr_ratio")
            if gate.max_fmr_ratio is not None and (ratio is None or ratio > gate.max_fmr_ratio):
                measured = f"{ratio:.0f}" if ratio is not None else "not measurable"
                unmet.append(
                    f"a model whose audited largest/smallest group FMR at similarity "
                    f"{rates.get('rates_at_similarity')} is at most {gate.max_fmr_ratio:g} "
                    f"(model {model}: {measured})"
                )
    age = require.declared_age
    if age is not None and rates["age_band"] in age.refuse:
        fmr = rates.get("age_band_fmr")
        measured = (
            f"; the audited FMR of age band {rates['age_band']} at similarity "
            f"{rates['rates_at_similarity']:g} is {fmr:.2e}"
            if fmr is not None
            else "; no audited FMR for that band is on file"
        )
        unmet.append(f"a probe not declared in age band {rates['age_band']}{measured}")
    bound = require.max_expected_false_candidates
    if bound is not None and bound.without_audit == "deny" and not rates.get("audit_id"):
        unmet.append(f"known expected false candidates ({rates['reason']})")
    return unmet


def _unmet(
    require: Require | None, ctx: RequestContext, request: dict[str, Any], now: datetime
) -> list[str]:
    if require is None:
        return []
    unmet = []
    if require.purposes is not None:
        if ctx.purpose not in require.purposes:
            unmet.append(f"a declared purpose among {', '.join(require.purposes)}")
    elif require.purpose and not ctx.purpose:
        unmet.append("a declared purpose")
    if require.case_ref and not ctx.case_ref:
        unmet.append("a case reference")
    if require.authorization:
        if not ctx.authorization_ref or ctx.authorization_date is None:
            unmet.append("an authorization reference and its date")
        else:
            today = now.astimezone(UTC).date()
            auth = ctx.authorization_date
            if isinstance(auth, datetime):
                auth = auth.date()
            if auth > today:
                unmet.append(f"an authorization dated no later than today (got {auth})")
            elif isinstance(require.authorization, AuthorizationRequirement):
                max_age = require.authorization.max_age_days
                if max_age is not None and today - auth > timedelta(days=max_age):
                    unmet.append(
                        f"an authorization at most {max_age} days old (this one is from {auth})"
                    )
    if require.consent and not request.get("consent"):
        unmet.append("a consent record for every enrolled face")
    return unmet
