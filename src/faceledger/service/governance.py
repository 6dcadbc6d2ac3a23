"""The governance side of the one door: leads, reviews and the audit log, for principals.

Like ``FaceService``, every call is decided by the gate and recorded once (a review step is
recorded by the review queue in the same transaction as the change). Everything is scoped to
the caller's organization: another tenant's lead is "not found", and an auditor reads only
their own organization's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from faceledger.errors import NotFoundError
from faceledger.governance.auditlog import Anchor, AuditRecord, VerifyReport
from faceledger.governance.auditlog import Page as AuditPage
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.governance.gate import GovernedGate
from faceledger.governance.review import Lead
from faceledger.service.unit import Governed, UnitOfWork

MAX_LEADS = 1000


class GovernanceService:
    def __init__(self, gate: GovernedGate) -> None:
        self.gate = gate
        self.unit = UnitOfWork(gate)

    @property
    def reviews(self):  # noqa: ANN201
        return self.gate.reviews

    def whoami(self, ctx: RequestContext) -> RequestContext:
        """The caller's own account, for any authenticated principal: recorded, not decided by
        the policy (see ``operations.SELF_OPERATIONS``)."""
        decision = Decision(True, "self", "Any authenticated principal may see its own account.")
        self.gate.record(ctx, "principal.whoami", decision, request={}, outcome={"status": "ok"})
        return ctx

    def my_leads(
        self, ctx: RequestContext, *, status: str | None = None, limit: int = 100
    ) -> Governed[list[Lead]]:
        """The caller's own leads; results only once two reviewers confirmed."""
        request = {"status": status, "limit": limit}

        def work(_: Decision) -> tuple[list[Lead], dict[str, Any]]:
            leads = self.reviews.mine(ctx, status=status, limit=min(limit, MAX_LEADS))
            return leads, {"count": len(leads), "results": [{"id": lead.id} for lead in leads]}

        return self.unit.run(ctx, "leads.list", request, work)

    def pending_leads(self, ctx: RequestContext, *, limit: int = 100) -> Governed[list[Lead]]:
        """Leads of the caller's organization waiting for the caller's review."""

        def work(_: Decision) -> tuple[list[Lead], dict[str, Any]]:
            leads = self.reviews.pending(ctx, limit=min(limit, MAX_LEADS))
            return leads, {"count": len(leads), "results": [{"id": lead.id} for lead in leads]}

        return self.unit.run(ctx, "review.list", {"limit": limit}, work)

    def get_lead(self, ctx: RequestContext, lead_id: str) -> Governed[Lead]:
        """A lead as the caller may see it (reviewers: with results; the requester: results
        once released)."""
        operation = "review.get" if "reviewer" in ctx.roles else "leads.get"

        def work(_: Decision) -> tuple[Lead, dict[str, Any]]:
            lead = self.reviews.get(ctx, lead_id)
            rows = lead.results or []
            return lead, {"lead_id": lead.id, "count": len(rows), "results": rows}

        return self.unit.run(ctx, operation, {"lead_id": lead_id}, work)

    def review(
        self, ctx: RequestContext, lead_id: str, verdict: str, note: str | None = None
    ) -> Governed[Lead]:
        """Confirm or reject; the second confirmation by another reviewer releases the lead."""
        return Governed(*self.gate.review_decided(ctx, lead_id, verdict, note))

    def read_audit_log(
        self,
        ctx: RequestContext,
        *,
        after: int | None = None,
        limit: int = 100,
        operation: str | None = None,
        principal_id: str | None = None,
        request_id: str | None = None,
    ) -> Governed[AuditPage]:
        """The caller's organization's audit records, oldest first (auditors)."""
        request = {"after": after, "limit": limit, "operation": operation}

        def work(_: Decision) -> tuple[AuditPage, dict[str, Any]]:
            page = self.gate.auditlog.read(
                ctx.tenant_id, operation=operation, principal_id=principal_id,
                request_id=request_id, after=after, limit=limit,
            )  # fmt: skip
            return page, {"count": len(page.records)}

        return self.unit.run(ctx, "audit.read", request, work)

    def search_audit_log(
        self,
        ctx: RequestContext,
        *,
        filters: AuditFilters,
        after: int | None = None,
        limit: int = 100,
    ) -> Governed[AuditPage]:
        """The caller's organization's records matching ``filters`` (time, operation, account,
        purpose, case, decision, rule), oldest first: one ``audit.read`` request. At most
        ``MAX_SCAN`` records are looked at per call; ``next_after`` continues."""
        request = {"after": after, "limit": limit, **filters.request()}

        def work(_: Decision) -> tuple[AuditPage, dict[str, Any]]:
            found: list[AuditRecord] = []
            cursor, scanned, more = after, 0, True
            while more and len(found) < limit and scanned < MAX_SCAN:
                page = self.gate.auditlog.read(
                    ctx.tenant_id, operation=filters.operation, principal_id=filters.principal_id,
                    request_id=filters.request_id, since=filters.since, until=filters.until,
                    after=cursor, limit=min(1000, MAX_SCAN - scanned),
                )  # fmt: skip
                scanned += len(page.records)
                for record in page.records:
                    cursor = record.seq
                    if filters.match(record.body):
                        found.append(record)
                        if len(found) == limit:
                            break
                more = page.next_after is not None
            if not more and len(found) < limit:
                cursor = None
            result = AuditPage(found, cursor)
            return result, {"count": len(found)}

        return self.unit.run(ctx, "audit.read", request, work)

    def export_audit_log(
        self, ctx: RequestContext, *, filters: AuditFilters
    ) -> Governed[list[AuditRecord]]:
        """Every record of the caller's organization matching ``filters`` (at most
        ``MAX_SCAN`` looked at), for an auditor to keep: one ``audit.export`` request."""

        def work(_: Decision) -> tuple[list[AuditRecord], dict[str, Any]]:
            out: list[AuditRecord] = []
            cursor, scanned = None, 0
            while scanned < MAX_SCAN:
                page = self.gate.auditlog.read(
                    ctx.tenant_id, operation=filters.operation, principal_id=filters.principal_id,
                    request_id=filters.request_id, since=filters.since, until=filters.until,
                    after=cursor, limit=1000,
                )  # fmt: skip
                scanned += len(page.records)
                out += [r for r in page.records if filters.match(r.body)]
                if page.next_after is None:
                    break
                cursor = page.next_after
            return out, {"count": len(out)}

        return self.unit.run(ctx, "audit.export", filters.request(), work)

    def audit_record(self, ctx: RequestContext, seq: int) -> Governed[AuditRecord]:
        """One record of the caller's organization (another's is not found)."""

        def work(_: Decision) -> tuple[AuditRecord, dict[str, Any]]:
            page = self.gate.auditlog.read(ctx.tenant_id, after=seq - 1, limit=1)
            if not page.records or page.records[0].seq != seq:
                raise NotFoundError(f"no audit record #{seq} in your organization")
            return page.records[0], {"count": 1}

        return self.unit.run(ctx, "audit.read", {"seq": seq}, work)

    def verify_audit_log(
        self, ctx: RequestContext, anchors: list[Anchor] | None = None
    ) -> Governed[VerifyReport]:
        """Recompute the whole chain (every organization's records link it) and check it
        against ``anchors`` kept outside the database; the report names records only by seq."""
        anchors = list(anchors or [])
        request = {"anchors": [str(a) for a in anchors]}

        def work(_: Decision) -> tuple[VerifyReport, dict[str, Any]]:
            report = self.gate.auditlog.verify(anchors)
            return report, {"count": report.records, "status": "ok"}

        return self.unit.run(ctx, "audit.verify", request, work)


MAX_SCAN = 20_000
"""Records one filtered audit search looks at, at most."""


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """What an auditor filters the log by; the first five are indexed columns."""

    operation: str | None = None
    principal_id: str | None = None
    request_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    purpose: str | None = None
    case_ref: str | None = None
    allowed: bool | None = None
    rule: str | None = None

    def request(self) -> dict[str, Any]:
        out = {}
        for name in self.__slots__:  # type: ignore[attr-defined]
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    def match(self, body: dict[str, Any]) -> bool:
        decision = body.get("decision") or {}
        checks = (
            (self.purpose, body.get("purpose")),
            (self.case_ref, body.get("case_ref")),
            (self.allowed, decision.get("allowed")),
            (self.rule, decision.get("rule")),
        )
        return all(want is None or want == have for want, have in checks)
