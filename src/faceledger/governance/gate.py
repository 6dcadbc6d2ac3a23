"""``GovernedGate``: the service's Gate, made of governance.

``decide`` checks, in order: the context is authenticated; the request stays in the caller's
tenant; the operation is known; the caller holds the role the operation needs (a floor no policy
can lower); the policy; the rate limits the policy set. ``record`` appends one audit record.

For searches the decision's ``obligations`` also carry the effective threshold and result cap
(the request's own, raised to the policy's floor and lowered to its cap), which the service
applies. When ``decision.review_required`` the service passes the results to :meth:`withhold`
and returns only the lead to the requester.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from faceledger.governance import operations as ops
from faceledger.governance.auditlog import AuditLog, AuditRecord
from faceledger.governance.clock import Clock, utc_now
from faceledger.governance.context import RequestContext
from faceledger.governance.db import GovernanceDB
from faceledger.governance.decision import Decision
from faceledger.governance.errors import ForbiddenError
from faceledger.governance.paths import governance_db_path, policy_path
from faceledger.governance.policy import PolicyEngine
from faceledger.governance.ratelimit import Limit, RateLimiter, SqliteRateLimiter
from faceledger.governance.review import Lead, ReviewQueue


class GovernedGate:
    def __init__(
        self,
        policy: PolicyEngine,
        auditlog: AuditLog,
        rate_limiter: RateLimiter | None = None,
        clock: Clock = utc_now,
        *,
        reviews: ReviewQueue | None = None,
    ) -> None:
        self.policy = policy
        self.auditlog = auditlog
        self.rate_limiter = rate_limiter
        self.clock = clock
        self.reviews = reviews or ReviewQueue(auditlog.db, auditlog, clock=clock)

    @classmethod
    def open(
        cls, data_dir: str | os.PathLike[str] | None = None, *, clock: Clock = utc_now
    ) -> GovernedGate:
        """The gate of a data folder: its governance DB, its policy.yaml or the default."""
        db = GovernanceDB(governance_db_path(data_dir))
        log = AuditLog(db, clock=clock)
        return cls(PolicyEngine.for_path(policy_path(data_dir)), log, SqliteRateLimiter(db), clock)

    # the Gate protocol -------------------------------------------------------------------------

    def decide(self, ctx: RequestContext, operation: str, request: dict[str, Any]) -> Decision:
        if not ctx.principal_id or not ctx.tenant_id:
            return Decision(False, "authentication", "The request has no authenticated principal.")
        tenant = request.get("tenant_id")
        if tenant is not None and tenant != ctx.tenant_id:
            return Decision(
                False, "tenant-isolation", "A principal may only act within its own organization."
            )
        roles = ops.allowed_roles(operation)
        if not roles:
            return Decision(False, "unknown-operation", f"{operation!r} is not a known operation.")
        if not ctx.roles.intersection(roles):
            return Decision(
                False, "role-required", f"{operation} needs the {' or '.join(roles)} role."
            )
        now = self.clock()
        decision = self.policy.decide(ctx, operation, request, now)
        if not decision.allowed:
            return decision
        decision = _effective(decision, request)
        limits = decision.obligations.get("rate_limits")
        if limits and self.rate_limiter is not None:
            refusal = self.rate_limiter.acquire(
                [
                    Limit(
                        _limit_key(decision.rule, lim["scope"], ctx),
                        lim["requests"],
                        lim["per_seconds"],
                    )
                    for lim in limits
                ],
                now,
            )
            if refusal is not None:
                lim = refusal.limit
                return Decision(
                    False,
                    decision.rule,
                    f"Rule {decision.rule} allows {lim.requests} requests per "
                    f"{lim.per_seconds} s per {lim.key.split(':')[1]}; "
                    f"retry in {refusal.retry_after:.0f} s.",
                    obligations={
                        **decision.obligations,
                        "rate_limited": True,
                        "retry_after": round(refusal.retry_after, 3),
                    },
                )
        return decision

    def record(
        self,
        ctx: RequestContext,
        operation: str,
        decision: Decision,
        *,
        request: dict[str, Any],
        outcome: dict[str, Any],
    ) -> AuditRecord:
        return self.auditlog.append_request(
            ctx, operation, decision, request=request, outcome=outcome
        )

    def append_staged(self, event_id: str, body: str) -> AuditRecord | None:
        return self.auditlog.append_staged(event_id, body)

    def transaction(self):  # noqa: ANN201 - a context manager
        """The governance database's transaction (a lead and its request's record together)."""
        return self.auditlog.db.transaction()

    # review ------------------------------------------------------------------------------------

    def withhold(
        self,
        ctx: RequestContext,
        operation: str,
        decision: Decision,
        results: Sequence[Mapping[str, Any]],
        crops: Sequence[bytes] = (),
        search: Mapping[str, Any] | None = None,
        lead_id: str | None = None,
    ) -> Lead:
        """Hold results for human review (with crops of the searched faces, for the
        reviewers); the requester sees the returned lead, not them. ``lead_id``: see
        :meth:`ReviewQueue.open` (idempotent reopening)."""
        if not decision.review_required:
            raise ValueError("withhold() is for decisions that require review")
        return self.reviews.open(
            ctx, operation, results, decision=decision, crops=crops, search=search,
            lead_id=lead_id,
        )  # fmt: skip

    def review(
        self, ctx: RequestContext, lead_id: str, verdict: str, note: str | None = None
    ) -> Lead:
        """One reviewer's verdict ("confirm" or "reject"), policy-checked; exactly one audit
        record either way (the denial, or the review queue's event)."""
        return self.review_decided(ctx, lead_id, verdict, note)[0]

    def review_decided(
        self, ctx: RequestContext, lead_id: str, verdict: str, note: str | None = None
    ) -> tuple[Lead, Decision]:
        """:meth:`review`, with the decision that allowed it."""
        if verdict not in ("confirm", "reject"):
            raise ValueError("verdict is 'confirm' or 'reject'")
        operation = f"review.{verdict}"
        request = {"lead_id": lead_id}
        decision = self.decide(ctx, operation, request)
        if not decision.allowed:
            self.record(ctx, operation, decision, request=request, outcome={"status": "denied"})
            raise ForbiddenError(decision.reason)
        if verdict == "confirm":
            return self.reviews.confirm(ctx, lead_id, note), decision
        return self.reviews.reject(ctx, lead_id, note), decision


def _limit_key(rule: str, scope: str, ctx: RequestContext) -> str:
    who = ctx.principal_id if scope == "principal" else ctx.tenant_id
    return f"{rule}:{scope}:{who}"


def _effective(decision: Decision, request: Mapping[str, Any]) -> Decision:
    """Add the threshold and result cap the service must apply, when the policy set any."""
    if decision.min_similarity is None and decision.max_results is None:
        return decision
    obligations = dict(decision.obligations)
    threshold = request.get("threshold")
    if decision.min_similarity is not None:
        base = float(threshold) if threshold is not None else decision.min_similarity
        obligations["threshold"] = max(base, decision.min_similarity)
    max_results = request.get("max_results")
    if decision.max_results is not None:
        asked = int(max_results) if max_results is not None else decision.max_results
        obligations["max_results"] = min(asked, decision.max_results)
    return Decision(
        decision.allowed,
        decision.rule,
        decision.reason,
        min_similarity=decision.min_similarity,
        max_results=decision.max_results,
        review_required=decision.review_required,
        obligations=obligations,
    )
