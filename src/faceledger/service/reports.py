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
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from faceledger import __version__
from faceledger.errors import InvalidRequestError
from faceledger.governance.clock import iso
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.reports.accountability import decided_leads, opened_leads
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


def _period(start: date | datetime | str, end: date | datetime | str) -> dict[str, Any]:
    first, last = _day(start, "from"), _day(end, "to")
    if last < first:
        raise InvalidRequestError("the period ends before it starts: give --to >= --from")
    if (last - first).days > MAX_PERIOD_DAYS:
        raise InvalidRequestError(f"a report covers at most {MAX_PERIOD_DAYS} days")
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return {"from": first.isoformat(), "to": last.isoformat(), "start": iso(since),
            "end": iso(until)}  # fmt: skip


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
        period = _period(start, end)
        request = {
            "period_start": period["start"],
            "period_end": period["end"],
            "fairness_sha256": (fairness or {}).get("sha256"),
        }

        def work(_: Decision) -> tuple[dict[str, Any], dict[str, Any]]:
            from faceledger.governance.principals import Principals

            auditlog = self._report_log()
            records = []
            after = None
            while True:
                page = auditlog.read(
                    ctx.tenant_id, since=_at(period["start"]), until=_at(period["end"]),
                    after=after, limit=PAGE,
                )  # fmt: skip
                records += [r.body for r in page.records]
                if page.next_after is None:
                    break
                after = page.next_after
            org = Principals(auditlog.db).get_org(ctx.tenant_id)
            earlier = _earlier_openings(
                records,
                lambda after: auditlog.read(
                    ctx.tenant_id, operation="review.open", until=_at(period["start"]),
                    after=after, limit=PAGE,
                ),
            )  # fmt: skip
            report = self._build_report(
                records, period, {"id": org.id, "name": org.name, "actor_class": org.actor_class},
                {org.id: org.name}, self._holdings(ctx.tenant_id), fairness, feedback, earlier,
            )  # fmt: skip
            return report, _outcome(report)

        return self.unit.run(ctx, "report.accountability", request, work)

    def deployment_report(
        self: FaceService,
        *,
        start: date | datetime | str,
        end: date | datetime | str,
        fairness: Mapping[str, Any] | None = None,
        feedback: str | None = None,
    ) -> dict[str, Any]:
        """The whole deployment's report (every organization, and the requests refused before
        a principal was known), for the host: not a principal's request, so not decided by the
        policy; the caller records it as a host command (``faceledger report accountability
        --deployment``), as ``audit-log export`` is."""
        from faceledger.governance.principals import Principals

        period = _period(start, end)
        auditlog = self._report_log()
        bodies = [r.body for r in auditlog.records()]
        records = [b for b in bodies if period["start"] <= b.get("at", "") < period["end"]]
        earlier = opened_leads(b for b in bodies if b.get("at", "") < period["start"])
        orgs = Principals(auditlog.db).list_orgs()
        holdings = [{"organization": o.name, **h} for o in orgs for h in self._holdings(o.id)]
        scope = {"id": None, "name": f"the deployment ({len(orgs)} organizations)",
                 "actor_class": "all"}  # fmt: skip
        return self._build_report(
            records,
            period,
            scope,
            {o.id: o.name for o in orgs},
            holdings,
            fairness,
            feedback,
            {k: v for k, v in earlier.items() if k in decided_leads(records)},
        )

    # ------------------------------------------------------------------ internals
    def _report_log(self: FaceService) -> Any:
        auditlog = getattr(self.gate, "auditlog", None)
        if auditlog is None or getattr(self.gate, "policy", None) is None:
            raise InvalidRequestError("this service keeps no audit log to report on")
        return auditlog

    def _build_report(
        self: FaceService,
        records: list[dict[str, Any]],
        period: dict[str, Any],
        organization: dict[str, Any],
        org_names: dict[str, str],
        holdings: list[dict[str, Any]],
        fairness: Mapping[str, Any] | None,
        feedback: str | None,
        opened_before: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        from faceledger.reports.accountability import build
        from faceledger.reports.policy_text import describe

        head = self._report_log().head()
        return build(
            records,
            period=period,
            organization=organization,
            org_names=org_names,
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
            policy=describe(self.gate.policy.policy),  # type: ignore[attr-defined]
            holdings=holdings,
            fairness=fairness,
            feedback=feedback,
            generated_at=self._now(),
            opened_before=opened_before,
        )

    def _holdings(self: FaceService, tenant_id: str) -> list[dict[str, Any]]:
        """Every collection of the organization with its counts, model and retention rule."""
        out = []
        token = None
        while True:
            page = self.store.list_collections(tenant_id, limit=1000, next_token=token)
            for c in page.items:
                rule = self.store.get_retention(tenant_id, c.collection_id)
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


def _earlier_openings(
    records: list[dict[str, Any]], read: Callable[[int | None], Any]
) -> dict[str, str]:
    """When ``review.open`` was recorded for the leads decided in the period but opened
    before it (``read(after)``: a page of the earlier ``review.open`` records)."""
    wanted = decided_leads(records) - set(opened_leads(records))
    found: dict[str, str] = {}
    after = None
    while wanted - set(found):
        page = read(after)
        found.update(
            {k: v for k, v in opened_leads(r.body for r in page.records).items() if k in wanted}
        )
        if page.next_after is None:
            break
        after = page.next_after
    return found


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _outcome(report: dict[str, Any]) -> dict[str, Any]:
    n = report["audit_records"]["count"]
    return {
        "count": n,
        "counts": {
            "records": n,
            "uses": report["uses"]["total"],
            "leads": report["review"]["leads_opened"],
        },
    }
