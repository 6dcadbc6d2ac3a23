"""The biometric data lifecycle as the store keeps it: consent records, retention rules, closed
cases, and what each face was enrolled under (its consent, its case, its enrolment time).

A store that implements :class:`LifecycleStore` lets the service (``service.lifecycle``) record
and withdraw consent, purge what retention says is due, close cases and erase a subject. Every
write method joins the caller's :meth:`FaceStore.transaction`, so a withdrawal and the deletion
of the faces it covers, or an erasure and its audit event, commit together.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from faceledger.store.base import Page

CONSENT_ID = re.compile(r"^cns_[0-9a-f]{16}$")
"""A consent record's id; any other ``consent`` value given at enrolment is free text."""

ORIGINS = ("recorded", "free-text")


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """Consent of one data subject, for some collections and (optionally) some purposes.

    ``collections`` is never empty; ``purposes`` empty means any purpose. ``origin`` is
    ``recorded`` (through ``consent.record``) or ``free-text`` (made at enrolment from a
    free-text consent reference: subject and evidence are that text, scope that collection)."""

    consent_id: str
    tenant_id: str
    subject_ref: str
    collections: tuple[str, ...]
    purposes: tuple[str, ...]
    evidence_ref: str | None
    recorded_by: str
    given_at: str
    expires_at: str | None
    withdrawn_at: str | None
    recorded_at: str
    origin: str = "recorded"

    def status(self, now: str) -> str:
        """``active``, ``withdrawn`` or ``expired`` at ``now`` (ISO time, UTC)."""
        if self.withdrawn_at is not None:
            return "withdrawn"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self, now: str | None = None) -> dict[str, object]:
        out: dict[str, object] = {
            "consent_id": self.consent_id,
            "subject_ref": self.subject_ref,
            "scope": {"collections": list(self.collections), "purposes": list(self.purposes)},
            "evidence_ref": self.evidence_ref,
            "recorded_by": self.recorded_by,
            "origin": self.origin,
            "given_at": self.given_at,
            "expires_at": self.expires_at,
            "withdrawn_at": self.withdrawn_at,
            "recorded_at": self.recorded_at,
        }
        if now is not None:
            out["status"] = self.status(now)
        return out


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """How long a collection keeps a face: ``max_age_days`` since enrolment (None: no limit of
    its own, the policy's cap still applies); ``until_case_closed``: every face must be enrolled
    under a case reference (its retention ends when the case is closed);
    ``max_days_since_match``: a face not returned by any search for this many days (counted
    from its enrolment when it never was) is due."""

    max_age_days: int | None
    until_case_closed: bool = False
    set_at: str | None = None
    max_days_since_match: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "max_age_days": self.max_age_days,
            "until_case_closed": self.until_case_closed,
            "max_days_since_match": self.max_days_since_match,
            "set_at": self.set_at,
        }


@dataclass(frozen=True, slots=True)
class DueFace:
    """A face whose retention has ended, and why (``age``, ``unmatched``, ``consent-expired``,
    ``case-closed``)."""

    collection_id: str
    face_id: str
    reason: str


@dataclass(slots=True)
class SubjectHoldings:
    """What the store holds of one data subject (found by consent subject and user ids)."""

    consent_ids: list[str] = field(default_factory=list)
    faces: dict[str, list[str]] = field(default_factory=dict)
    """collection id → face ids."""
    users: dict[str, list[str]] = field(default_factory=dict)
    """collection id → user ids."""


class LifecycleStore(ABC):
    """The lifecycle part of a store (implemented by ``SQLiteStore``)."""

    # consent ------------------------------------------------------------------------------
    @abstractmethod
    def add_consent(self, record: ConsentRecord) -> ConsentRecord: ...

    @abstractmethod
    def get_consent(self, tenant_id: str, consent_id: str) -> ConsentRecord:
        """NotFoundError when the id is not one of the tenant's."""

    @abstractmethod
    def find_free_text_consent(
        self, tenant_id: str, text: str, collection_id: str
    ) -> ConsentRecord | None:
        """The latest free-text consent made from ``text`` for ``collection_id``."""

    @abstractmethod
    def list_consents(
        self,
        tenant_id: str,
        *,
        subject_ref: str | None = None,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Page[ConsentRecord]: ...

    @abstractmethod
    def mark_withdrawn(self, tenant_id: str, consent_id: str, at: str) -> ConsentRecord: ...

    @abstractmethod
    def consent_faces(self, tenant_id: str, consent_ids: Sequence[str]) -> dict[str, list[str]]:
        """collection id → ids of the faces enrolled under these consents."""

    @abstractmethod
    def delete_consents(self, tenant_id: str, consent_ids: Sequence[str]) -> list[str]: ...

    # enrolment ----------------------------------------------------------------------------
    @abstractmethod
    def tag_faces(
        self,
        tenant_id: str,
        collection_id: str,
        face_ids: Sequence[str],
        *,
        consent_id: str | None,
        case_ref: str | None,
        enrolled_at: str,
    ) -> None:
        """Record what freshly stored faces were enrolled under (same transaction)."""

    @abstractmethod
    def mark_matched(
        self, tenant_id: str, collection_id: str, face_ids: Sequence[str], at: str
    ) -> None:
        """Record that a search returned these faces at ``at`` (retention since last match)."""

    @abstractmethod
    def face_lifecycle(
        self, tenant_id: str, collection_id: str, face_ids: Sequence[str]
    ) -> dict[str, dict[str, str | None]]:
        """face id → {consent_id, case_ref, enrolled_at}."""

    # retention ----------------------------------------------------------------------------
    @abstractmethod
    def set_retention(self, tenant_id: str, collection_id: str, rule: RetentionRule) -> None: ...

    @abstractmethod
    def get_retention(self, tenant_id: str, collection_id: str) -> RetentionRule | None: ...

    @abstractmethod
    def due_faces(self, tenant_id: str, now: str, cap_days: int | None) -> list[DueFace]:
        """Faces whose retention has ended at ``now``: older than their collection's
        ``max_age_days`` or the cap, not matched for ``max_days_since_match``, enrolled under an
        expired consent or a closed case."""

    @abstractmethod
    def close_case(self, tenant_id: str, case_ref: str, *, by: str, at: str) -> bool:
        """Record the case as closed; False when it was closed already."""

    @abstractmethod
    def is_case_closed(self, tenant_id: str, case_ref: str) -> bool: ...

    @abstractmethod
    def case_faces(self, tenant_id: str, case_ref: str) -> dict[str, list[str]]:
        """collection id → ids of the faces enrolled under this case."""

    # erasure ------------------------------------------------------------------------------
    @abstractmethod
    def subject_holdings(
        self, tenant_id: str, *, subject_ref: str | None, user_ids: Sequence[str]
    ) -> SubjectHoldings:
        """Consents of ``subject_ref`` and their faces; users named in ``user_ids`` in any
        collection of the tenant and their associated faces."""

    @abstractmethod
    def checkpoint(self) -> dict[str, int]:
        """Copy the write-ahead log into the database and truncate it (after an erasure, so
        deleted bytes do not linger in the WAL); returns SQLite's counts."""
