"""Typed audit events: every record the audit log holds is one of these, serialized by one method.

An event is a small frozen dataclass that knows who acted (the request context, when there is
one) and what happened; :meth:`AuditEvent.body` turns it into the JSON object that is hashed
into the chain (``seq`` and ``at`` are added by :class:`~faceledger.governance.auditlog.AuditLog`
when it appends). Images and embeddings never enter an event: only their SHA-256, ids,
similarities and counts.

To add an event: subclass :class:`AuditEvent`, give it a ``kind`` and the fields it needs, and
put them into :meth:`_fields`. Appending is always ``auditlog.append(event)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision


def context_fields(ctx: RequestContext | None) -> dict[str, Any]:
    """The audit fields every record takes from the request context."""
    if ctx is None:
        return {"request_id": None, "principal_id": None, "tenant_id": None}
    return {
        "request_id": ctx.request_id,
        "principal_id": ctx.principal_id,
        "tenant_id": ctx.tenant_id,
        "actor_class": ctx.actor_class,
        "roles": sorted(ctx.roles),
        "purpose": ctx.purpose,
        "case_ref": ctx.case_ref,
        "authorization_ref": ctx.authorization_ref,
        "authorization_date": ctx.authorization_date,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """Base of every audit event: ``kind`` and ``operation`` name it."""

    kind: ClassVar[str] = "request"
    operation: str

    def body(self) -> dict[str, Any]:
        """The record's JSON object (the one serializer; ``AuditLog`` adds seq and at)."""
        body: dict[str, Any] = {"kind": self.kind, "operation": self.operation}
        body.update(self._fields())
        return body

    def _fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestDecided(AuditEvent):
    """One governed request: who, why, which inputs (hashes), the decision, what came back."""

    ctx: RequestContext
    decision: Decision
    request: Mapping[str, Any] = field(default_factory=dict)
    outcome: Mapping[str, Any] = field(default_factory=dict)
    event_id: str | None = None
    """Set when the event was staged in the store's transaction (see ``service.unit``)."""

    def _fields(self) -> dict[str, Any]:
        out = context_fields(self.ctx)
        out.update(
            collection_id=self.request.get("collection_id"),
            image_sha256=_as_list(self.request.get("image_sha256")),
            request=request_summary(self.request),
            decision=self.decision.to_dict(),
            outcome=outcome_summary(self.outcome),
        )
        policy_sha = self.decision.obligations.get("policy_sha256")
        if policy_sha:
            out["policy_sha256"] = policy_sha
        if self.event_id:
            out["event_id"] = self.event_id
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewStep(AuditEvent):
    """A lead opened, confirmed, rejected or released (kind ``review``)."""

    kind: ClassVar[str] = "review"
    ctx: RequestContext
    lead_id: str
    requester_id: str | None
    allowed: bool
    rule: str
    reason: str
    status: str | None
    reviewers: Sequence[str] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def _fields(self) -> dict[str, Any]:
        out = context_fields(self.ctx)
        out.update(
            lead_id=self.lead_id,
            requester_id=self.requester_id,
            reviewers=list(self.reviewers),
            decision={"allowed": self.allowed, "rule": self.rule, "reason": self.reason},
            outcome={"status": self.status},
        )
        out.update({k: v for k, v in self.extra.items() if v is not None})
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFinished(AuditEvent):
    """An asynchronous job ended (kind ``job``): a request decided and recorded when it was
    submitted (``video.search``), now succeeded, withheld for review, failed or cancelled. Its
    ``job_id`` ties it to that request's record; the outcome holds result ids and
    similarities, never footage or embeddings."""

    kind: ClassVar[str] = "job"
    ctx: RequestContext
    decision: Decision
    job_id: str
    outcome: Mapping[str, Any] = field(default_factory=dict)
    event_id: str | None = None

    def _fields(self) -> dict[str, Any]:
        out = context_fields(self.ctx)
        out.update(
            job_id=self.job_id,
            decision=self.decision.to_dict(),
            outcome=outcome_summary(self.outcome),
        )
        if self.event_id:
            out["event_id"] = self.event_id
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRejected(AuditEvent):
    """A request by a known principal refused before any operation was decided."""

    operation: str = "http.rejected"
    ctx: RequestContext
    method: str | None
    path: str | None
    status: int
    code: str

    def _fields(self) -> dict[str, Any]:
        out = context_fields(self.ctx)
        out.update(
            request={"method": self.method, "path": self.path},
            decision={
                "allowed": False,
                "rule": "request-rejected",
                "reason": f"Refused before any operation was decided: HTTP {self.status} "
                f"{self.code}.",
            },
            outcome={"status": "rejected", "error": self.code or str(self.status)},
        )
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Unauthenticated(AuditEvent):
    """A presented credential that did not authenticate: no tenant, the key id, never the
    secret. ``count`` > 1: a summary of attempts not recorded one by one
    (``http.unauthenticated.suppressed``, see ``faceledger.api.unauthenticated``)."""

    operation: str = "http.unauthenticated"
    request_id: str | None
    method: str | None
    path: str | None
    key_id: str | None
    reason: str
    code: str
    count: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict)

    def _fields(self) -> dict[str, Any]:
        request: dict[str, Any] = {"method": self.method, "path": self.path, "key_id": self.key_id}
        request.update(self.extra)
        outcome: dict[str, Any] = {"status": "rejected", "error": self.code}
        if self.count != 1:
            outcome["count"] = self.count
        return {
            **context_fields(None),
            "request_id": self.request_id,
            "request": request,
            "decision": {"allowed": False, "rule": "authentication", "reason": self.reason},
            "outcome": outcome,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggersRestored(AuditEvent):
    """The log's append-only triggers had been dropped; they were put back (kind integrity)."""

    kind: ClassVar[str] = "integrity"
    operation: str = "audit.triggers_restored"
    missing_triggers: Sequence[str]

    def _fields(self) -> dict[str, Any]:
        return {
            "missing_triggers": list(self.missing_triggers),
            "decision": {
                "allowed": True,
                "rule": "integrity",
                "reason": "The audit log's append-only triggers were missing and were restored.",
            },
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class HostCommand(AuditEvent):
    """A command run on the host by someone with access to the data folder (administration,
    export, verification): kind ``admin``, rule ``local-host-access``."""

    kind: ClassVar[str] = "admin"
    principal_id: str
    tenant_id: str | None
    details: Mapping[str, Any] = field(default_factory=dict)

    def _fields(self) -> dict[str, Any]:
        return {
            "principal_id": self.principal_id,
            "tenant_id": self.tenant_id,
            "decision": {
                "allowed": True,
                "rule": "local-host-access",
                "reason": "Run on the host by someone with access to the data folder.",
            },
            **self.details,
        }


# ---------------------------------------------------------------------------------- summaries

_REQUEST_FIELDS = (
    "threshold",
    "age_band",
    "max_results",
    "consent",
    "face_id",
    "face_ids",
    "user_id",
    "external_image_id",
    "lead_id",
    "search_mode",
    "quality_filter",
    "min_user_similarity",
    "client_request_token",
    "target_faces",
    # the data lifecycle (a consent's subject reference is never logged: it may be erased)
    "consent_id",
    "case_ref",
    "retention_days",
    "until_case_closed",
    "days_since_match",
    "user_ids",
    # reports and evaluations: periods, digests and counts only
    "period_start",
    "period_end",
    "fairness_sha256",
    "archive_sha256",
    "manifest_sha256",
    "mode",
    "thresholds",
    # video search
    "video_sha256",
    "sample_fps",
    "min_face_size",
    "job_id",
    # footage requests (a camera's location is not biometric data)
    "footage_request_id",
    "camera_id",
    "camera_name",
    "share_id",
    "event_type",
    "window",
    "lat",
    "lon",
    "radius_m",
)


def request_summary(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request's scalar parameters worth keeping (never pixels or embeddings)."""
    return {k: request[k] for k in _REQUEST_FIELDS if request.get(k) is not None}


def outcome_summary(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """Status, error, result ids and similarities, lead id, counts."""
    out: dict[str, Any] = {}
    for k in ("status", "error_code", "error", "lead_id", "count", "face_ids", "user_ids",
              "consent_id", "consent_ids", "lead_ids", "counts", "replayed",
              "faces_not_searched", "skipped", "deleted_faces", "deleted_users",
              "manifest_sha256", "image_sha256", "crop_sha256", "lead_crops_dropped",
              "job_id", "tracks", "samples", "job_ids", "share_id", "camera_id",
              "footage_request_id", "error_rates"):  # fmt: skip
        if outcome.get(k) is not None:
            out[k] = outcome[k]
    results = outcome.get("results")
    if results is not None:
        out["results"] = [_result_summary(r) for r in results]
    return out


def _result_summary(result: Any) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        return {"id": str(result)}
    item: dict[str, Any] = {}
    for k in ("face_id", "user_id", "id", "external_image_id"):
        if result.get(k) is not None:
            item[k] = result[k]
    if result.get("similarity") is not None:
        item["similarity"] = round(float(result["similarity"]), 4)
    return item


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return [value]
    return list(value)
