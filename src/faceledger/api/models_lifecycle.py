"""Response models of the lifecycle routes: consent records, retention purges, closed cases,
erasure receipts. Built on the same base as :mod:`faceledger.api.models` (exactly these fields,
no others), and carrying the same decision model."""

from __future__ import annotations

from pydantic import Field

from faceledger.api.models import DecisionField, Model, omitted

__all__ = [
    "CaseClosedResponse",
    "ConsentListResponse",
    "ConsentResponse",
    "ErasureResponse",
    "PurgeResponse",
    "WithdrawalResponse",
]

FaceIdsByCollection = dict[str, list[str]]


class ConsentScope(Model):
    """What a consent covers."""

    collections: list[str] = Field(description="Collections the subject agreed to be enrolled in.")
    purposes: list[str] = Field(description="Purposes covered; empty: any purpose.")


class Consent(Model):
    """A data subject's consent, as recorded."""

    consent_id: str
    subject_ref: str = Field(description="The organization's reference of the data subject.")
    scope: ConsentScope
    evidence_ref: str | None = Field(description="Where the signed release is kept, if given.")
    recorded_by: str = Field(description="Account that recorded it.")
    origin: str = Field(description="How it was recorded (a record, or at enrolment).")
    given_at: str
    expires_at: str | None
    withdrawn_at: str | None
    recorded_at: str
    status: str = Field(description="active, expired or withdrawn, now.")


class DeletionCounts(Model):
    """How many faces went, by collection and (for purges) by reason."""

    omitted_when_none = frozenset({"by_reason"})

    by_collection: dict[str, int]
    by_reason: dict[str, int] | None = omitted(
        "Faces purged by reason: age, consent-expired, case-closed."
    )


class Deletion(Model):
    """Faces deleted by one lifecycle request, in the same transaction as its audit record."""

    omitted_when_none = frozenset({"consent", "case_ref", "already_closed"})

    at: str
    deleted_faces: FaceIdsByCollection = Field(description="Collection id → deleted face ids.")
    count: int
    counts: DeletionCounts
    consent: Consent | None = omitted("The withdrawn consent (withdrawals only).")
    case_ref: str | None = omitted("The closed case (case closing only).")
    already_closed: bool | None = omitted("The case had been closed before (case closing only).")


class ConsentResponse(Model):
    consent: Consent
    decision: DecisionField


class ConsentListResponse(Model):
    consents: list[Consent]
    next_token: str | None = Field(description="Pass back to get the next page; null at the end.")
    decision: DecisionField


class WithdrawalResponse(Model):
    withdrawal: Deletion
    decision: DecisionField


class PurgeResponse(Model):
    purge: Deletion
    decision: DecisionField


class CaseClosedResponse(Model):
    closed: Deletion
    decision: DecisionField


class Erased(Model):
    """What an erasure deleted (identifiers only, never biometric data)."""

    faces: FaceIdsByCollection
    users: FaceIdsByCollection = Field(description="Collection id → deleted user ids.")
    consents: list[str]
    redacted_lead_rows: dict[str, int] = Field(description="Lead id → result rows redacted.")


class ErasureCounts(Model):
    faces: int
    users: int
    consents: int
    leads: int
    lead_rows: int


class AuditRecordRef(Model):
    """The audit record of the erasure: find it by ``seq``, check it by ``hash``."""

    seq: int
    hash: str


class WalCheckpoint(Model):
    """SQLite's ``wal_checkpoint(TRUNCATE)`` result: the deleted bytes left the write-ahead log
    when ``busy`` is 0 and every frame was checkpointed."""

    busy: int
    log_frames: int
    checkpointed_frames: int


class Receipt(Model):
    """The erasure receipt handed to the data subject or their representative."""

    erased_at: str
    deleted: Erased
    counts: ErasureCounts
    audit_record: AuditRecordRef | None
    wal_checkpoint: WalCheckpoint | None = Field(description="None on stores without a WAL.")


class ErasureResponse(Model):
    receipt: Receipt
    decision: DecisionField
