"""Response models of the lifecycle routes (consents, retention, cases, erasure)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class DecisionOut(BaseModel):
    allowed: bool
    rule: str
    reason: str
    min_similarity: float | None = None
    max_results: int | None = None
    review_required: bool = False


class ConsentScopeOut(BaseModel):
    collections: list[str]
    purposes: list[str]


class ConsentOut(BaseModel):
    consent_id: str
    subject_ref: str
    scope: ConsentScopeOut
    evidence_ref: str | None
    recorded_by: str
    origin: str
    given_at: str
    expires_at: str | None
    withdrawn_at: str | None
    recorded_at: str
    status: str


class ConsentResponse(BaseModel):
    consent: ConsentOut
    decision: DecisionOut


class ConsentListResponse(BaseModel):
    consents: list[ConsentOut]
    next_token: str | None
    decision: DecisionOut


class DeletionOut(BaseModel):
    at: str
    deleted_faces: dict[str, list[str]]
    count: int
    counts: dict[str, Any]
    consent: ConsentOut | None = None
    case_ref: str | None = None
    already_closed: bool | None = None


class WithdrawalResponse(BaseModel):
    withdrawal: DeletionOut
    decision: DecisionOut


class PurgeResponse(BaseModel):
    purge: DeletionOut
    decision: DecisionOut


class CaseClosedResponse(BaseModel):
    closed: DeletionOut
    decision: DecisionOut


class ErasedOut(BaseModel):
    faces: dict[str, list[str]]
    users: dict[str, list[str]]
    consents: list[str]
    redacted_lead_rows: dict[str, int]


class AuditRef(BaseModel):
    seq: int
    hash: str


class ReceiptOut(BaseModel):
    erased_at: str
    deleted: ErasedOut
    counts: dict[str, int]
    audit_record: AuditRef | None
    wal_checkpoint: dict[str, int] | None


class ErasureResponse(BaseModel):
    receipt: ReceiptOut
    decision: DecisionOut
