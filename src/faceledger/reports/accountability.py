"""The accountability report's content, computed from audit records and nothing else.

Washington's 2020 facial-recognition law asks for an accountability report before deployment
and every year; BIPA for a public retention schedule; the EU AI Act for logs that show each use.
:func:`build` turns one organization's audit records over a period (plus the policy in force,
what the store holds now, and the latest fairness audit) into one JSON-ready dict. Every count
is a plain tally over the records, as defined next to each section, so that anyone holding an
export of the log can recompute it (``tests/test_report_accountability.py`` does).

Definitions (a record is in the period when ``start <= at < end``):

- **uses**: request records (``kind == "request"``) of face-service operations
  (``operations.FACE_OPERATIONS``), by declared purpose, operation, organization and actor
  class, split by the decision (allowed or denied).
- **decisions by rule**: every request record (any operation) by the rule that decided it.
- **identification**: request records of 1:N operations: allowed, denied, results withheld for
  review (``outcome.status == "withheld"``).
- **review**: ``review.open`` records open leads; a review record whose outcome is ``released``
  or ``rejected`` closes one. Released and rejected count the leads *decided* in the period,
  including leads opened before it (their opening is read from earlier records); leads opened
  and pending count the leads *opened* in the period; time to decision runs from the open
  record to the closing one. The report states this rule (``review.rule``).
- **data**: faces enrolled (``faces.index``, not skipped) and deleted, by route (retention
  purge, consent withdrawal, case closure, subject erasure, face or collection deletion), the
  purges by reason, and what the store holds when the report is made.
- **consent**: consent records made and withdrawn, and the faces withdrawals deleted.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from faceledger.governance.operations import FACE_OPERATIONS, IDENTIFICATION_OPERATIONS

NO_PURPOSE = "(none declared)"
DELETION_ROUTES = {
    "retention.purge": "retention purge",
    "consent.withdraw": "consent withdrawal",
    "case.close": "case closure",
    "subject.erase": "subject erasure",
    "faces.delete": "face deletion",
    "collection.delete": "collection deletion",
}
CLOSED = ("released", "rejected")
DEFAULT_FEEDBACK = (
    "Questions, complaints and corrections about this deployment go to the organization that "
    "published this report. Independent testers can measure the deployed model and thresholds "
    "on their own data through the evaluation API (POST /v1/evaluations, docs/evaluation.md)."
)


def ok(body: Mapping[str, Any]) -> bool:
    return (body.get("outcome") or {}).get("status") == "ok"


def allowed(body: Mapping[str, Any]) -> bool:
    return bool((body.get("decision") or {}).get("allowed"))


def _parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def deleted_faces(body: Mapping[str, Any]) -> int:
    """Faces a successful deleting request removed, from its outcome."""
    out = body.get("outcome") or {}
    if body["operation"] == "collection.delete":
        return int(out.get("deleted_faces") or 0)
    if body["operation"] == "faces.delete":
        return len(out.get("face_ids") or [])
    return int(out.get("count") or 0)


def _split(counter: Mapping[tuple[str, bool], int]) -> list[dict[str, Any]]:
    keys = sorted({k for k, _ in counter})
    rows = [
        {"name": k, "allowed": counter.get((k, True), 0), "denied": counter.get((k, False), 0)}
        for k in keys
    ]
    for r in rows:
        r["total"] = r["allowed"] + r["denied"]
    return sorted(rows, key=lambda r: (-r["total"], r["name"]))


def uses(records: Iterable[Mapping[str, Any]], org_names: Mapping[str, str]) -> dict[str, Any]:
    by_purpose: Counter = Counter()
    by_operation: Counter = Counter()
    by_org: Counter = Counter()
    by_class: Counter = Counter()
    total = Counter()
    for r in records:
        if r.get("kind") != "request" or r["operation"] not in FACE_OPERATIONS:
            continue
        a = allowed(r)
        total[a] += 1
        by_purpose[(r.get("purpose") or NO_PURPOSE, a)] += 1
        by_operation[(r["operation"], a)] += 1
        tenant = r.get("tenant_id") or "?"
        by_org[(org_names.get(tenant, tenant), a)] += 1
        by_class[(r.get("actor_class") or "?", a)] += 1
    return {
        "total": total[True] + total[False],
        "allowed": total[True],
        "denied": total[False],
        "by_purpose": _split(by_purpose),
        "by_operation": _split(by_operation),
        "by_organization": _split(by_org),
        "by_actor_class": _split(by_class),
    }


def decisions(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    counter: Counter = Counter()
    reasons: dict[str, str] = {}
    for r in records:
        if r.get("kind") != "request":
            continue
        d = r.get("decision") or {}
        rule = d.get("rule") or "?"
        counter[(rule, allowed(r))] += 1
        reasons.setdefault(rule, d.get("reason") or "")
    rows = _split(counter)
    for row in rows:
        row["rule"] = row.pop("name")
        row["example_reason"] = reasons.get(row["rule"], "")
    return rows


def identification(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = Counter({"requests": 0, "allowed": 0, "denied": 0, "withheld_for_review": 0})
    for r in records:
        if r.get("kind") != "request" or r["operation"] not in IDENTIFICATION_OPERATIONS:
            continue
        out["requests"] += 1
        out["allowed" if allowed(r) else "denied"] += 1
        if (r.get("outcome") or {}).get("status") == "withheld":
            out["withheld_for_review"] += 1
    return dict(out)


REVIEW_RULE = (
    "Released and rejected count the review outcomes decided within the period, whatever the "
    "lead's opening date (leads opened before the period included: decided_opened_earlier); "
    "leads opened and pending count the leads opened within the period; time to decision runs "
    "from each decided lead's opening to its decision."
)


def review(
    records: Iterable[Mapping[str, Any]], opened_before: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``opened_before``: the ``review.open`` time of leads opened before the period (from
    earlier records), so that their time to decision is known; a lead decided in the period
    whose opening is not given still counts as released or rejected."""
    opened: dict[str, str] = {}
    closed: dict[str, tuple[str, str]] = {}
    verdicts: Counter = Counter()
    refused = 0
    for r in records:
        if r.get("kind") != "review":
            continue
        lead = r.get("lead_id")
        status = (r.get("outcome") or {}).get("status")
        if r["operation"] == "review.open":
            opened[lead] = r["at"]
            continue
        if not allowed(r):
            refused += 1
            continue
        verdicts[r["operation"].removeprefix("review.")] += 1
        if status in CLOSED:
            closed[lead] = (status, r["at"])
    start_of = {**(opened_before or {}), **opened}
    hours = [
        (_parse(at) - _parse(start_of[lead])).total_seconds() / 3600
        for lead, (_, at) in closed.items()
        if lead in start_of
    ]
    outcomes = Counter(status for status, _ in closed.values())
    return {
        "rule": REVIEW_RULE,
        "leads_opened": len(opened),
        "released": outcomes["released"],
        "rejected": outcomes["rejected"],
        "decided_opened_earlier": sum(1 for lead in closed if lead not in opened),
        "pending_at_end": sum(1 for lead in opened if lead not in closed),
        "confirmations": verdicts["confirm"],
        "rejections": verdicts["reject"],
        "refused_review_attempts": refused,
        "hours_to_decision": {
            "decided": len(hours),
            "median": statistics.median(hours) if hours else None,
            "mean": statistics.fmean(hours) if hours else None,
            "max": max(hours) if hours else None,
            "values": sorted(round(h, 3) for h in hours),
        },
    }


def opened_leads(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Lead id → time of its ``review.open`` record."""
    return {
        r["lead_id"]: r["at"]
        for r in records
        if r.get("kind") == "review" and r.get("operation") == "review.open"
    }


def decided_leads(records: Iterable[Mapping[str, Any]]) -> set[str]:
    """Leads that a record released or rejected."""
    return {
        r["lead_id"]
        for r in records
        if r.get("kind") == "review"
        and r.get("operation") != "review.open"
        and allowed(r)
        and (r.get("outcome") or {}).get("status") in CLOSED
    }


def data(records: Iterable[Mapping[str, Any]], holdings: list[dict[str, Any]]) -> dict[str, Any]:
    enrolled = 0
    deleted: Counter = Counter()
    runs: Counter = Counter()
    reasons: Counter = Counter()
    for r in records:
        if r.get("kind") != "request" or not ok(r):
            continue
        op, out = r["operation"], r.get("outcome") or {}
        if op == "faces.index" and not out.get("skipped"):
            enrolled += len(out.get("face_ids") or [])
        elif op in DELETION_ROUTES:
            runs[op] += 1
            deleted[op] += deleted_faces(r)
            if op == "retention.purge":
                reasons.update((out.get("counts") or {}).get("by_reason") or {})
    return {
        "held_now": {
            "collections": len(holdings),
            "faces": sum(h["faces"] for h in holdings),
            "users": sum(h["users"] for h in holdings),
            "by_collection": holdings,
        },
        "enrolled_faces": enrolled,
        "deleted_faces": sum(deleted.values()),
        "deleted_by_route": [
            {
                "route": DELETION_ROUTES[op],
                "operation": op,
                "requests": runs[op],
                "faces": deleted[op],
            }
            for op in DELETION_ROUTES
        ],  # fmt: skip
        "retention_purges": runs["retention.purge"],
        "purged_by_reason": dict(sorted(reasons.items())),
    }


def consent(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = Counter({"recorded": 0, "withdrawn": 0, "faces_deleted_by_withdrawal": 0, "erasures": 0})
    for r in records:
        if r.get("kind") != "request" or not ok(r):
            continue
        if r["operation"] == "consent.record":
            out["recorded"] += 1
        elif r["operation"] == "consent.withdraw":
            out["withdrawn"] += 1
            out["faces_deleted_by_withdrawal"] += deleted_faces(r)
        elif r["operation"] == "subject.erase":
            out["erasures"] += 1
    return dict(out)


def build(
    records: list[Mapping[str, Any]],
    *,
    period: Mapping[str, str],
    organization: Mapping[str, Any],
    org_names: Mapping[str, str],
    system: Mapping[str, Any],
    policy: Mapping[str, Any],
    holdings: list[dict[str, Any]],
    fairness: Mapping[str, Any] | None,
    feedback: str | None = None,
    generated_at: str,
    opened_before: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The report as one JSON-ready dict (see the module docstring for every definition)."""
    from faceledger.reports.fairness_summary import summarize

    seqs = [r["seq"] for r in records]
    return {
        "report": "faceledger accountability report",
        "version": 1,
        "generated_at": generated_at,
        "period": dict(period),
        "organization": dict(organization),
        "system": dict(system),
        "audit_records": {
            "count": len(records),
            "first_seq": min(seqs) if seqs else None,
            "last_seq": max(seqs) if seqs else None,
        },
        "policy": dict(policy),
        "uses": uses(records, org_names),
        "identification": identification(records),
        "decisions_by_rule": decisions(records),
        "review": review(records, opened_before),
        "data": data(records, holdings),
        "consent": consent(records),
        "fairness": summarize(fairness, policy),
        "feedback": feedback or DEFAULT_FEEDBACK,
    }


__all__ = ["DEFAULT_FEEDBACK", "build", "decided_leads", "deleted_faces", "opened_leads"]
