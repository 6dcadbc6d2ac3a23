"""The governance side of the one door: leads, reviews and the audit log, for principals.

Like ``FaceService``, every call is decided by the gate and recorded once (a review step is
recorded by the review queue in the same transaction as the change). Everything is scoped to
the caller's organization: another tenant's lead is "not found", and an auditor reads only
their own organization's records.
"""

from __future__ import annotations

from typing import Any

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
