"""The accountability report as a governed operation (``report.accountability``).

A mixin of :class:`~faceledger.service.faces.FaceService` (it reads the store for what is held
now). The gate decides first (auditors and administrators of the organization, by the default
policy); the work reads the organization's own audit records of the period, the policy in force,
the collections and the fairness audit given, and returns the report's content
(:func:`faceledger.reports.accountability.build`). The request is recorded once, with the period,
the fairness audit's SHA-256 and the number of records read. Writing the files is the front
end's (``faceledger report accountability``).
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from faceledger import __version__
from faceledger.errors import InvalidRequestError
from faceledger.governance.clock import iso
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.service.unit import Governed

if TYPE_CHECKING:
    from faceledger.service.faces import FaceService

MAX_PERIOD_DAYS = 3660
PAGE = 1000


def _day(value: date | datetime | str, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidRequestError(f"{name} must be a date (YYYY-MM-DD), not {value!r}") from None


def _retention_text(rule: Any) -> str:
    if rule is None:
        return "none (the policy's cap applies)"
    parts = []
    if rule.max_age_days:
        parts.append(f"{rule.max_age_days} days after enrolment")
    if rule.max_days_since_match:
        parts.append(f"{rule.max_days_since_match} days after a search last returned it")
    if rule.until_case_closed:
        parts.append("until the case is closed")
    return ", or ".join(parts) or "none of its own (the policy's cap applies)"


class ReportOperations:
    """The report half of :class:`~faceledger.service.faces.FaceService`."""

    def accountability_report(
        self: FaceService,
        ctx: RequestContext,
        *,
        start: date | datetime | str,
        end: date | datetime | str,
        fairness: Mapping[str, Any] | None = None,
        feedback: str | None = None,
    ) -> Governed[dict[str, Any]]:
        """The organization's accountability report for the days ``start`` to ``end`` (both
        included, UTC). ``fairness``: the latest fairness audit's ``audit.json`` (with its
        ``sha256`` and ``source`` added by the caller), or None (then the report says so)."""
        first, last = _day(start, "from"), _day(end, "to")
        if last < first:
            raise InvalidRequestError("the period ends before it starts: give --to >= --from")
        if (last - first).days > MAX_PERIOD_DAYS:
            raise InvalidRequestError(f"a report covers at most {MAX_PERIOD_DAYS} days")
        since = datetime(first.year, first.month, first.day, tzinfo=UTC)
        until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
        request = {
            "period_start": iso(since),
            "period_end": iso(until),
            "fairness_sha256": (fairness or {}).get("sha256"),
        }
        auditlog = getattr(self.gate, "auditlog", None)
        policy = getattr(self.gate, "policy", None)

        def work(_: Decision) -> tuple[dict[str, Any], dict[str, Any]]:
            from faceledger.governance.principals import Principals
            from faceledger.reports.accountability import build
            from faceledger.reports.policy_text import describe

            if auditlog is None or policy is None:
                raise InvalidRequestError("this service keeps no audit log to report on")
            records = []
            after = None
            while True:
                page = auditlog.read(
                    ctx.tenant_id, since=since, until=until, after=after, limit=PAGE
                )
                records += [{**r.body, "hash": r.hash} for r in page.records]
                if page.next_after is None:
                    break
                after = page.next_after
            org = Principals(auditlog.db).get_org(ctx.tenant_id)
            holdings = self._holdings(ctx)
            head = auditlog.head()
            report = build(
                records,
                period={"from": first.isoformat(), "to": last.isoformat(),
                        "start": iso(since), "end": iso(until)},
                organization={"id": org.id, "name": org.name, "actor_class": org.actor_class},
                org_names={org.id: org.name},
                system={
                    "faceledger_version": __version__,
                    "python": platform.python_version(),
                    "model_id": self.engine.model_id,
                    "collection_models": sorted({h["model_id"] for h in holdings}),
                    "detector": getattr(getattr(self.engine, "config", None), "detector", None),
                    "calibration": "similarity 90 and 99 at LFW FMR 1e-3 and 1e-4 "
                    "(engine/similarity.py)",
                    "audit_log_head": str(head) if head else None,
                },
                policy=describe(policy.policy),
                holdings=holdings,
                fairness=fairness,
                feedback=feedback,
                generated_at=self._now(),
            )  # fmt: skip
            outcome = {
                "count": len(records),
                "counts": {
                    "records": len(records),
                    "uses": report["uses"]["total"],
                    "leads": report["review"]["leads_opened"],
                },
            }
            return report, outcome

        return self.unit.run(ctx, "report.accountability", request, work)

    def _holdings(self: FaceService, ctx: RequestContext) -> list[dict[str, Any]]:
        """Every collection of the organization with its counts, model and retention rule."""
        out = []
        token = None
        while True:
            page = self.store.list_collections(ctx.tenant_id, limit=1000, next_token=token)
            for c in page.items:
                rule = self.store.get_retention(ctx.tenant_id, c.collection_id)
                out.append(
                    {
                        "collection_id": c.collection_id,
                        "model_id": c.model_id,
                        "faces": c.face_count,
                        "users": c.user_count,
                        "retention": _retention_text(rule),
                    }
                )
            token = page.next_token
            if not token:
                return out
