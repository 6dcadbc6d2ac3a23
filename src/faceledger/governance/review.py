"""Human review: where the policy requires it, results become a pending *lead*.

A lead is released to its requester only after two different reviewers of the requester's
organization, neither of them the requester, have confirmed it; one rejection closes it for good.
Every step, refused attempts included, is an audit-log event committed in the same transaction
as the change it records. Leads of another organization are reported as not found.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faceledger.governance.auditlog import AuditLog
from faceledger.governance.clock import Clock, iso, utc_now
from faceledger.governance.context import RequestContext
from faceledger.governance.db import GovernanceDB
from faceledger.governance.decision import Decision
from faceledger.governance.errors import (
    ConflictError,
    ForbiddenError,
    InvalidArgumentError,
    NotFoundError,
)
from faceledger.governance.events import ReviewStep
from faceledger.validation import MAX_NOTE, clean_text

REQUIRED_CONFIRMATIONS = 2


@dataclass(frozen=True, slots=True)
class Review:
    reviewer_id: str
    verdict: str
    note: str | None
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "reviewer_id": self.reviewer_id,
            "verdict": self.verdict,
            "note": self.note,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class Lead:
    id: str
    tenant_id: str
    requester_id: str
    operation: str
    request_id: str
    purpose: str | None
    case_ref: str | None
    status: str
    """pending, released or rejected."""
    created_at: str
    closed_at: str | None
    reviews: tuple[Review, ...]
    results: list[dict[str, Any]] | None
    """None when the viewer may not see them (the requester, before release)."""
    probe_crops: int = 0
    """How many probe crops (the searched faces, in order) the lead keeps for its reviewers."""
    authorization_ref: str | None = None
    authorization_date: str | None = None
    """The authorization the request that opened the lead declared."""
    search: dict[str, Any] | None = None
    """The search that opened it: collection, model, threshold, gallery size."""
    error_rates: dict[str, Any] | None = None
    """Expected false candidates of the search held (``governance.error_rates``): no identity,
    so shown to the requester and the reviewers alike."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "requester_id": self.requester_id,
            "operation": self.operation,
            "request_id": self.request_id,
            "purpose": self.purpose,
            "case_ref": self.case_ref,
            "status": self.status,
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "reviews": [r.to_dict() for r in self.reviews],
            "results": self.results,
            "probe_crops": self.probe_crops,
            "authorization_ref": self.authorization_ref,
            "authorization_date": self.authorization_date,
            "search": self.search,
            "error_rates": self.error_rates,
        }


class ReviewQueue:
    def __init__(
        self,
        db: GovernanceDB,
        auditlog: AuditLog,
        *,
        clock: Clock = utc_now,
        confirmations: int = REQUIRED_CONFIRMATIONS,
    ) -> None:
        if confirmations < 1:
            raise ValueError("a lead needs at least one confirmation")
        self.db = db
        self.auditlog = auditlog
        self.clock = clock
        self.confirmations = confirmations

    # the requester's side ----------------------------------------------------------------------

    def open(
        self,
        ctx: RequestContext,
        operation: str,
        results: Sequence[Mapping[str, Any]],
        *,
        decision: Decision | None = None,
        crops: Sequence[bytes] = (),
        search: Mapping[str, Any] | None = None,
        lead_id: str | None = None,
    ) -> Lead:
        """Hold ``results`` (ids and similarities) for review, with ``crops`` of the searched
        faces (JPEG, shown to the lead's reviewers); the requester gets the lead id. With a
        ``lead_id`` chosen (and recorded) beforehand, opening it again returns the lead already
        opened, unchanged: a job rerun after a crash does not open a second one."""
        lead_id = lead_id or f"lead_{secrets.token_hex(8)}"
        stored = [dict(r) for r in results]
        rates = decision.obligations.get("error_rates") if decision else None
        now = iso(self.clock())
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM leads WHERE id = ?", (lead_id,)).fetchone():
                return self._load(conn, lead_id, viewer=ctx)
            conn.execute(
                "INSERT INTO leads (id, tenant_id, requester_id, operation, request_id, purpose, "
                "case_ref, results, status, created_at, authorization_ref, authorization_date, "
                "search, error_rates) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    lead_id,
                    ctx.tenant_id,
                    ctx.principal_id,
                    operation,
                    ctx.request_id,
                    ctx.purpose,
                    ctx.case_ref,
                    json.dumps(stored),
                    "pending",
                    now,
                    ctx.authorization_ref,
                    ctx.authorization_date.isoformat() if ctx.authorization_date else None,
                    json.dumps(dict(search)) if search else None,
                    json.dumps(rates) if rates is not None else None,
                ),
            )
            conn.executemany(
                "INSERT INTO lead_crops (lead_id, probe, jpeg) VALUES (?, ?, ?)",
                [(lead_id, i, bytes(jpeg)) for i, jpeg in enumerate(crops)],
            )
            self._event(
                ctx,
                "review.open",
                lead_id=lead_id,
                requester_id=ctx.principal_id,
                allowed=True,
                rule=decision.rule if decision else "review-required",
                reason="Results are held until two reviewers confirm them.",
                status="pending",
                extra={"reviewed_operation": operation, "results": _result_ids(stored)},
            )
            return self._load(conn, lead_id, viewer=ctx)

    def mine(
        self, ctx: RequestContext, *, status: str | None = None, limit: int = 100
    ) -> list[Lead]:
        """The caller's own leads (results only once released)."""
        sql = "SELECT id FROM leads WHERE tenant_id = ? AND requester_id = ?"
        args: list[Any] = [ctx.tenant_id, ctx.principal_id]
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        conn = self.db.connection()
        ids = [r["id"] for r in conn.execute(sql + " ORDER BY created_at LIMIT ?", (*args, limit))]
        return [self._load(conn, i, viewer=ctx) for i in ids]

    def exists(self, lead_id: str) -> bool:
        with self.db.transaction() as conn:
            return bool(conn.execute("SELECT 1 FROM leads WHERE id = ?", (lead_id,)).fetchone())

    def get(self, ctx: RequestContext, lead_id: str) -> Lead:
        """A lead of the caller's organization, as the caller may see it."""
        conn = self.db.connection()
        row = conn.execute(
            "SELECT requester_id FROM leads WHERE id = ? AND tenant_id = ?",
            (lead_id, ctx.tenant_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no lead {lead_id!r}")
        if row["requester_id"] != ctx.principal_id and "reviewer" not in ctx.roles:
            raise ForbiddenError("only the requester and reviewers may see a lead")
        return self._load(conn, lead_id, viewer=ctx)

    # probe crops -------------------------------------------------------------------------------

    def probe_crop(self, lead_id: str, probe: int) -> bytes | None:
        """The JPEG of a lead's searched face ``probe`` (the caller has checked access)."""
        row = (
            self.db.connection()
            .execute(
                "SELECT jpeg FROM lead_crops WHERE lead_id = ? AND probe = ?", (lead_id, probe)
            )
            .fetchone()
        )
        return bytes(row["jpeg"]) if row else None

    def drop_probe_crops(
        self,
        tenant_id: str,
        *,
        closed_before: str | None = None,
        case_ref: str | None = None,
        lead_ids: Sequence[str] = (),
    ) -> list[str]:
        """Delete the probe crops of the organization's leads that were closed before
        ``closed_before`` (their retention ended), that belong to case ``case_ref`` (closed),
        or are named; pending leads keep theirs unless named. Returns the leads affected."""
        where, args = [], []
        if closed_before is not None:
            where.append("(l.closed_at IS NOT NULL AND l.closed_at < ?)")
            args.append(closed_before)
        if case_ref is not None:
            where.append("l.case_ref = ?")
            args.append(case_ref)
        if lead_ids:
            where.append(f"l.id IN ({','.join('?' * len(lead_ids))})")
            args.extend(lead_ids)
        if not where:
            return []
        with self.db.transaction() as conn:
            ids = [
                r["id"]
                for r in conn.execute(
                    "SELECT DISTINCT l.id FROM leads l JOIN lead_crops k ON k.lead_id = l.id"
                    f" WHERE l.tenant_id = ? AND ({' OR '.join(where)}) ORDER BY l.id",
                    (tenant_id, *args),
                )
            ]
            conn.executemany("DELETE FROM lead_crops WHERE lead_id = ?", [(i,) for i in ids])
        return ids

    # erasure -----------------------------------------------------------------------------------

    def redact(self, tenant_id: str, *, face_ids: set[str], user_ids: set[str]) -> dict[str, int]:
        """Replace every result row of the organization's leads that names one of these faces
        or users by ``{"redacted": "subject-erased"}`` (a subject's erasure). The lead keeps its
        status, reviews and other rows. Returns lead id → rows redacted."""
        done: dict[str, int] = {}
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, results FROM leads WHERE tenant_id = ?", (tenant_id,)
            ).fetchall()
            for row in rows:
                results = json.loads(row["results"])
                hits = 0
                for i, item in enumerate(results):
                    if isinstance(item, dict) and (
                        item.get("face_id") in face_ids or item.get("user_id") in user_ids
                    ):
                        results[i] = {"redacted": "subject-erased"}
                        hits += 1
                if hits:
                    conn.execute(
                        "UPDATE leads SET results = ? WHERE id = ?",
                        (json.dumps(results), row["id"]),
                    )
                    done[row["id"]] = hits
        return done

    # the reviewers' side -----------------------------------------------------------------------

    def pending(self, ctx: RequestContext, *, limit: int = 100) -> list[Lead]:
        """Pending leads of the caller's organization that the caller may still review."""
        if "reviewer" not in ctx.roles:
            raise ForbiddenError("only reviewers may list leads for review")
        conn = self.db.connection()
        ids = [
            r["id"]
            for r in conn.execute(
                "SELECT id FROM leads WHERE tenant_id = ? AND status = 'pending' "
                "AND requester_id != ? AND id NOT IN "
                "(SELECT lead_id FROM lead_reviews WHERE reviewer_id = ?) "
                "ORDER BY created_at LIMIT ?",
                (ctx.tenant_id, ctx.principal_id, ctx.principal_id, limit),
            )
        ]
        return [self._load(conn, i, viewer=ctx) for i in ids]

    def confirm(self, ctx: RequestContext, lead_id: str, note: str | None = None) -> Lead:
        return self._verdict(ctx, lead_id, "confirm", note)

    def reject(self, ctx: RequestContext, lead_id: str, note: str | None = None) -> Lead:
        return self._verdict(ctx, lead_id, "reject", note)

    def _verdict(self, ctx: RequestContext, lead_id: str, verdict: str, note: str | None) -> Lead:
        operation = f"review.{verdict}"
        error: Exception | None = None
        bad_note: InvalidArgumentError | None = None
        try:
            note = clean_text(note, "note", MAX_NOTE, blank="none", error=InvalidArgumentError)
        except InvalidArgumentError as exc:  # refused, and logged without the note's text
            note, bad_note = None, exc
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM leads WHERE id = ? AND tenant_id = ?", (lead_id, ctx.tenant_id)
            ).fetchone()
            reviewers = _reviewers(conn, lead_id) if row else []
            rule, reason = None, None
            if "reviewer" not in ctx.roles:
                rule, reason = "review-needs-reviewer", "Only reviewers may review leads."
                error = ForbiddenError(reason)
            elif row is None:
                rule, reason = "review-lead-not-found", f"No lead {lead_id} in this organization."
                error = NotFoundError(f"no lead {lead_id!r}")
            elif row["requester_id"] == ctx.principal_id:
                rule, reason = "review-not-own-lead", "A requester may not review their own lead."
                error = ForbiddenError(reason)
            elif ctx.principal_id in reviewers:
                rule = "review-once-per-reviewer"
                reason = "Each reviewer reviews a lead once; a second reviewer must confirm."
                error = ConflictError(reason)
            elif row["status"] != "pending":
                rule, reason = "review-lead-closed", f"The lead is {row['status']} already."
                error = ConflictError(reason)
            elif bad_note is not None:
                rule, reason, error = "review-invalid-note", str(bad_note), bad_note
            if error is not None:
                self._event(
                    ctx,
                    operation,
                    lead_id=lead_id,
                    requester_id=row["requester_id"]
                    if row and rule != "review-lead-not-found"
                    else None,
                    allowed=False,
                    rule=rule or "",
                    reason=reason or "",
                    status=row["status"] if row else None,
                    reviewers=reviewers,
                    extra={"note": note},
                )
            else:
                now = iso(self.clock())
                conn.execute(
                    "INSERT INTO lead_reviews (lead_id, reviewer_id, verdict, note, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (lead_id, ctx.principal_id, verdict, note, now),
                )
                reviewers = [*reviewers, ctx.principal_id]
                confirmations = conn.execute(
                    "SELECT COUNT(*) AS n FROM lead_reviews "
                    "WHERE lead_id = ? AND verdict = 'confirm'",
                    (lead_id,),
                ).fetchone()["n"]
                status = "pending"
                if verdict == "reject":
                    status = "rejected"
                    reason = "One reviewer rejected the lead; it is closed."
                elif confirmations >= self.confirmations:
                    status = "released"
                    reason = f"{confirmations} reviewers confirmed; the results are released."
                else:
                    reason = (
                        f"{confirmations} of {self.confirmations} confirmations; "
                        "the lead stays pending."
                    )
                if status != "pending":
                    conn.execute(
                        "UPDATE leads SET status = ?, closed_at = ? WHERE id = ?",
                        (status, now, lead_id),
                    )
                self._event(
                    ctx,
                    operation,
                    lead_id=lead_id,
                    requester_id=row["requester_id"],
                    allowed=True,
                    rule=f"review-{verdict}",
                    reason=reason,
                    status=status,
                    reviewers=reviewers,
                    extra={"note": note},
                )
                lead = self._load(conn, lead_id, viewer=ctx)
        if error is not None:
            raise error
        return lead

    # internals ---------------------------------------------------------------------------------

    def _event(
        self,
        ctx: RequestContext,
        operation: str,
        *,
        lead_id: str,
        requester_id: str | None,
        allowed: bool,
        rule: str,
        reason: str,
        status: str | None,
        reviewers: Sequence[str] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.auditlog.append(
            ReviewStep(
                ctx=ctx, operation=operation, lead_id=lead_id, requester_id=requester_id,
                allowed=allowed, rule=rule, reason=reason, status=status,
                reviewers=reviewers, extra=extra or {},
            )
        )  # fmt: skip

    def _load(self, conn: Any, lead_id: str, *, viewer: RequestContext) -> Lead:
        row = conn.execute("SELECT * FROM leads WHERE id = ?", (lead_id,)).fetchone()
        reviews = tuple(
            Review(r["reviewer_id"], r["verdict"], r["note"], r["at"])
            for r in conn.execute(
                "SELECT * FROM lead_reviews WHERE lead_id = ? ORDER BY at, reviewer_id", (lead_id,)
            )
        )
        is_requester = row["requester_id"] == viewer.principal_id
        visible = row["status"] == "released" if is_requester else "reviewer" in viewer.roles
        return Lead(
            id=row["id"],
            tenant_id=row["tenant_id"],
            requester_id=row["requester_id"],
            operation=row["operation"],
            request_id=row["request_id"],
            purpose=row["purpose"],
            case_ref=row["case_ref"],
            status=row["status"],
            created_at=row["created_at"],
            closed_at=row["closed_at"],
            reviews=reviews,
            results=json.loads(row["results"]) if visible else None,
            probe_crops=conn.execute(
                "SELECT COUNT(*) AS n FROM lead_crops WHERE lead_id = ?", (lead_id,)
            ).fetchone()["n"],
            authorization_ref=row["authorization_ref"],
            authorization_date=row["authorization_date"],
            search=json.loads(row["search"]) if row["search"] else None,
            error_rates=json.loads(row["error_rates"]) if row["error_rates"] else None,
        )


def _reviewers(conn: Any, lead_id: str) -> list[str]:
    return [
        r["reviewer_id"]
        for r in conn.execute(
            "SELECT reviewer_id FROM lead_reviews WHERE lead_id = ? ORDER BY at, reviewer_id",
            (lead_id,),
        )
    ]


def _result_ids(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        item = {k: r[k] for k in ("face_id", "user_id", "id") if r.get(k) is not None}
        if r.get("similarity") is not None:
            item["similarity"] = round(float(r["similarity"]), 4)
        out.append(item)
    return out
