"""A policy's rules in plain language, for readers who do not read YAML.

Each rule becomes one sentence built only from what the rule says (its conditions, exceptions,
requirements and limits), followed by the reason its author gave. Nothing is paraphrased from
outside the file: the sentences and the policy's SHA-256 identify exactly what was in force.
"""

from __future__ import annotations

from typing import Any

from faceledger.governance.policy_document import Conditions, Policy, Rule


def _list(values: list[str] | tuple[str, ...], word: str = "or") -> str:
    items = list(values)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def conditions_text(c: Conditions) -> str:
    """``a law-enforcement organization's operator asks for faces.search`` style clauses."""
    parts = []
    if c.operations is not None:
        parts.append(f"the operation is {_list(c.operations)}")
    if c.actor_classes is not None:
        parts.append(f"the organization is {_list(c.actor_classes)}")
    if c.roles is not None:
        parts.append(f"the account is {_list(c.roles)}")
    if c.purposes is not None:
        parts.append(f"the declared purpose is {_list(c.purposes)}")
    if c.tenants is not None:
        parts.append(f"the organization id is {_list(c.tenants)}")
    if c.during is not None:
        start = c.during.start.date().isoformat() if c.during.start else None
        end = c.during.end.date().isoformat() if c.during.end else None
        if start and end:
            parts.append(f"it is between {start} and {end}")
        elif start:
            parts.append(f"it is on or after {start}")
        else:
            parts.append(f"it is before {end}")
    return _list(parts, "and") if parts else "always"


def requirements_text(rule: Rule) -> list[str]:
    """What an allowing rule asks of the request, and the limits it puts on the answer."""
    out: list[str] = []
    r = rule.require
    if r is not None:
        if r.purposes:
            out.append(f"a declared purpose among {_list(r.purposes)}")
        elif r.purpose:
            out.append("a declared purpose")
        if r.case_ref:
            out.append("a case reference")
        if r.authorization:
            age = getattr(r.authorization, "max_age_days", None)
            out.append(
                f"an authorization (warrant or order) at most {age} days old"
                if age
                else "an authorization (warrant or order)"
            )
        if r.consent:
            out.append("a recorded consent of the person")
    return out


def limits_text(rule: Rule) -> list[str]:
    out = []
    if rule.min_similarity is not None:
        out.append(f"only results of similarity {rule.min_similarity:g} or more")
    if rule.max_results is not None:
        out.append(f"at most {rule.max_results} results")
    if rule.review:
        out.append("results held until two reviewers of the organization confirm them")
    for limit in rule.rate_limit or []:
        out.append(f"at most {limit.describe()}")
    return out


def rule_sentence(rule: Rule) -> str:
    """One sentence: when it applies, unless what, the effect, requirements and limits."""
    text = f"When {conditions_text(rule.when)}"
    if rule.unless is not None:
        text += f", unless {conditions_text(rule.unless)}"
    if rule.effect == "deny":
        text += ", the request is refused."
        return text
    need = requirements_text(rule)
    text += ", the request is allowed"
    if need:
        text += " if it comes with " + _list(need, "and")
    lim = limits_text(rule)
    if lim:
        text += "; " + "; ".join(lim)
    return text + "."


def describe(policy: Policy) -> dict[str, Any]:
    """The policy as a reader sees it: source, SHA-256, description, retention cap, and every
    rule in order (the first that applies decides; nothing is allowed unless a rule allows it)."""
    doc = policy.document
    return {
        "source": policy.source,
        "sha256": policy.sha256,
        "description": (doc.description or "").strip(),
        "retention_max_days": doc.retention.max_age_days if doc.retention else None,
        "purposes": dict(doc.purposes) if doc.purposes else None,
        "min_similarities": sorted(
            {r.min_similarity for r in policy.rules if r.min_similarity is not None}
        ),
        "rules": [
            {
                "id": rule.id,
                "effect": rule.effect,
                "text": rule_sentence(rule),
                "reason": " ".join(rule.reason.split()),
            }
            for rule in policy.rules
        ],
    }
