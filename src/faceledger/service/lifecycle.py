"""The biometric data lifecycle: consent records, retention, closing cases, erasing a subject.

Each is a governed operation of :class:`~faceledger.service.faces.FaceService` (this module is a
mixin of it, like ``service.users``), decided by the policy, tenant-scoped and recorded once:

- ``consent.record`` / ``consent.list`` / ``consent.get`` / ``consent.withdraw``: consent as a
  first-class record (subject reference, scope: collections and purposes, who recorded it,
  evidence reference, given-at, expiry, withdrawn-at). Enrolment refers to one
  (``index_faces(consent=...)``), and every face stores the id of the consent it was enrolled
  under. Withdrawing deletes those faces in the same transaction as the withdrawal and its
  audit event: searches stop finding them at once.
- ``retention.purge``: deletes every face whose retention has ended (its collection's rule or
  the policy's cap, counted from enrolment; an expired consent; a closed case). One record per
  purge, with the face ids and counts.
- ``case.close``: records the case as closed and deletes what was enrolled under it.
- Face crops (``service.crops``) go with their faces; a lead's probe crops are dropped by a
  purge once the lead has been closed longer than the policy's cap, by closing its case, and
  by erasing a subject it names.
- ``subject.erase``: a data subject's faces, users and consent records across the organization's
  collections, and the rows of review leads that name them, in one request; returns a receipt
  with the audit record's seq and hash. Deleted rows are zeroed (``secure_delete``) and the
  store's WAL is checkpointed and truncated afterwards.

Audit records hold ids and counts, never a subject reference (it would outlive an erasure in an
append-only log) and never biometric data.

A ``consent`` given at enrolment that is not a consent record id (``cns_`` + 16 hex digits) is
free text (the policy's ``require.consent`` predates consent records): the first enrolment with
that text into a collection records a consent whose subject and evidence are the text, scoped to
that collection, any purpose, no expiry; later enrolments with the same text into the same
collection reuse it. Once it is withdrawn the same text is refused there: record a new consent.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from faceledger.errors import ConflictError, FaceledgerError, InvalidRequestError, NotFoundError
from faceledger.governance import vocabulary
from faceledger.governance.clock import iso, utc_now
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.service.unit import Governed
from faceledger.store.base import MAX_PAGE, Page
from faceledger.store.lifecycle import CONSENT_ID, ConsentRecord, RetentionRule
from faceledger.validation import MAX_REFERENCE, check_id, clean_text

if TYPE_CHECKING:
    from faceledger.service.faces import FaceService

MAX_SCOPE = 100
"""Collections, or purposes, one consent may name."""


class ConsentError(FaceledgerError):
    """The consent given for an enrolment does not allow it: unknown in this organization,
    withdrawn, expired, not yet given, or its scope does not cover the collection or purpose."""

    code = "consent_refused"


@dataclass(slots=True)
class Deletion:
    """What a withdrawal, purge or case closure deleted (face ids by collection)."""

    at: str
    faces: dict[str, list[str]] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    consent: ConsentRecord | None = None
    case_ref: str | None = None
    already_closed: bool = False
    lead_crops: list[str] = field(default_factory=list)
    """Leads whose probe crops were dropped (their retention ended, or their case closed)."""

    @property
    def face_ids(self) -> list[str]:
        return [f for ids in self.faces.values() for f in ids]

    def counts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"by_collection": {c: len(ids) for c, ids in self.faces.items()}}
        if self.reasons:
            out["by_reason"] = dict(self.reasons)
        return out

    def outcome(self) -> dict[str, Any]:
        return {"face_ids": self.face_ids, "count": len(self.face_ids), "counts": self.counts()}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at": self.at,
            "deleted_faces": {c: list(ids) for c, ids in self.faces.items()},
            "count": len(self.face_ids),
            "counts": self.counts(),
        }
        if self.consent is not None:
            out["consent"] = self.consent.to_dict(self.at)
        if self.case_ref is not None:
            out["case_ref"] = self.case_ref
            out["already_closed"] = self.already_closed
        return out


@dataclass(slots=True)
class ErasureReceipt:
    """What an erasure deleted, when, and the audit record that says so."""

    erased_at: str
    faces: dict[str, list[str]]
    users: dict[str, list[str]]
    consent_ids: list[str]
    leads: dict[str, int]
    """lead id → rows redacted."""
    audit: dict[str, Any] | None = None
    """The erasure's audit record: ``seq`` and ``hash`` (None when the gate keeps no log)."""
    checkpoint: dict[str, int] | None = None

    def counts(self) -> dict[str, int]:
        return {
            "faces": sum(len(v) for v in self.faces.values()),
            "users": sum(len(v) for v in self.users.values()),
            "consents": len(self.consent_ids),
            "leads": len(self.leads),
            "lead_rows": sum(self.leads.values()),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "erased_at": self.erased_at,
            "deleted": {
                "faces": {c: list(v) for c, v in self.faces.items()},
                "users": {c: list(v) for c, v in self.users.items()},
                "consents": list(self.consent_ids),
                "redacted_lead_rows": dict(self.leads),
            },
            "counts": self.counts(),
            "audit_record": self.audit,
            "wal_checkpoint": self.checkpoint,
        }


def as_time(value: str | date | datetime | None, name: str) -> str | None:
    """A time given as ISO text, a date (00:00 UTC) or an aware datetime, in the governance
    clock's format; InvalidRequestError when it is none of these."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (
                date.fromisoformat(text)
                if len(text) == 10
                else datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError:
            raise InvalidRequestError(
                f"{name} must be a date (YYYY-MM-DD) or an ISO date-time, not {text!r}"
            ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, datetime):
        raise InvalidRequestError(f"{name} must be a date or a date-time")
    try:
        when = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (OverflowError, ValueError):
        when = None
    if when is None or not 1970 <= when.year <= 9999:
        raise InvalidRequestError(f"{name} must be a time between 1970 and 9999")
    return iso(when)


def _names(values: Sequence[str] | None, what: str) -> list[str]:
    out = list(dict.fromkeys(values or ()))
    if len(out) > MAX_SCOPE:
        raise InvalidRequestError(f"a consent names at most {MAX_SCOPE} {what}")
    return out


class LifecycleOperations:
    """The lifecycle half of :class:`~faceledger.service.faces.FaceService`."""

    def _now(self: FaceService) -> str:
        clock = getattr(self.gate, "clock", utc_now)
        return iso(clock())

    # ------------------------------------------------------------------ consent
    def record_consent(
        self: FaceService,
        ctx: RequestContext,
        subject_ref: str,
        *,
        collections: Sequence[str],
        purposes: Sequence[str] = (),
        evidence_ref: str | None = None,
        given_at: str | date | datetime | None = None,
        expires_at: str | date | datetime | None = None,
    ) -> Governed[ConsentRecord]:
        """Record a data subject's consent for ``collections`` (and, if named, only for these
        ``purposes``). ``given_at`` defaults to now; ``expires_at`` to never."""
        subject = clean_text(subject_ref, "subject_ref", MAX_REFERENCE)
        if subject is None:
            raise InvalidRequestError("a consent needs the subject's reference")
        cols = [check_id(c, "collection id") for c in _names(collections, "collections")]
        if not cols:
            raise InvalidRequestError("a consent names the collections it covers (at least one)")
        purps = _names(purposes, "purposes")
        for p in purps:
            if not vocabulary.is_known("purpose", p):
                raise InvalidRequestError(vocabulary.unknown_message("purpose", p))
        evidence = clean_text(evidence_ref, "evidence_ref", MAX_REFERENCE)
        given = as_time(given_at, "given_at")
        expires = as_time(expires_at, "expires_at")
        request = {
            "collections": cols, "purposes": purps, "given_at": given, "expires_at": expires,
        }  # fmt: skip

        def work(_: Decision) -> tuple[ConsentRecord, dict[str, Any]]:
            now = self._now()
            start = given or now
            if expires is not None and expires <= start:
                raise InvalidRequestError("expires_at must be later than given_at")
            record = ConsentRecord(
                consent_id=f"cns_{secrets.token_hex(8)}", tenant_id=ctx.tenant_id,
                subject_ref=subject, collections=tuple(cols), purposes=tuple(purps),
                evidence_ref=evidence, recorded_by=ctx.principal_id, given_at=start,
                expires_at=expires, withdrawn_at=None, recorded_at=now,
            )  # fmt: skip
            self.store.add_consent(record)
            return record, {"consent_id": record.consent_id}

        return self.unit.run(ctx, "consent.record", request, work, writes=True)

    def list_consents(
        self: FaceService,
        ctx: RequestContext,
        *,
        subject_ref: str | None = None,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Governed[Page[ConsentRecord]]:
        """The organization's consent records in the order they were recorded."""
        subject = clean_text(subject_ref, "subject_ref", MAX_REFERENCE)
        request = {"limit": limit, "next_token": next_token, "by_subject": subject is not None}

        def work(_: Decision) -> tuple[Page[ConsentRecord], dict[str, Any]]:
            page = self.store.list_consents(
                ctx.tenant_id, subject_ref=subject, limit=min(limit, MAX_PAGE),
                next_token=next_token,
            )  # fmt: skip
            ids = [r.consent_id for r in page.items]
            return page, {"consent_ids": ids, "count": len(ids)}

        return self.unit.run(ctx, "consent.list", request, work)

    def get_consent(
        self: FaceService, ctx: RequestContext, consent_id: str
    ) -> Governed[ConsentRecord]:
        def work(_: Decision) -> tuple[ConsentRecord, dict[str, Any]]:
            record = self.store.get_consent(ctx.tenant_id, consent_id)
            return record, {"consent_id": record.consent_id}

        return self.unit.run(ctx, "consent.get", {"consent_id": consent_id}, work)

    def withdraw_consent(
        self: FaceService, ctx: RequestContext, consent_id: str
    ) -> Governed[Deletion]:
        """Withdraw a consent: it is marked withdrawn and every face enrolled under it is
        deleted, in one transaction with the audit record (face ids and counts)."""
        request = {"consent_id": consent_id}

        def work(_: Decision) -> tuple[Deletion, dict[str, Any]]:
            record = self.store.get_consent(ctx.tenant_id, consent_id)
            if record.withdrawn_at is not None:
                raise ConflictError(f"consent {consent_id!r} was withdrawn already")
            now = self._now()
            done = Deletion(now)
            self._delete(ctx, self.store.consent_faces(ctx.tenant_id, [consent_id]), done)
            done.consent = self.store.mark_withdrawn(ctx.tenant_id, consent_id, now)
            return done, {"consent_id": consent_id, **done.outcome()}

        return self.unit.run(ctx, "consent.withdraw", request, work, writes=True)

    def _delete(self: FaceService, ctx: RequestContext, faces: dict[str, list[str]],
                done: Deletion) -> None:  # fmt: skip
        """Delete faces (inside the unit's transaction): the store's deletion log makes every
        search index follow before its next search."""
        for collection_id, ids in faces.items():
            deleted = self.store.delete_faces(ctx.tenant_id, collection_id, ids)
            if deleted:
                done.faces.setdefault(collection_id, []).extend(deleted)

    # ------------------------------------------------------------------ enrolment
    def _consent_for(
        self: FaceService, ctx: RequestContext, collection_id: str, consent: str, now: str,
        *, create: bool,
    ) -> str | None:  # fmt: skip
        """The id of the consent record an enrolment refers to, checked (ConsentError)."""
        if CONSENT_ID.fullmatch(consent):
            try:
                record = self.store.get_consent(ctx.tenant_id, consent)
            except NotFoundError:
                raise ConsentError(f"no consent record {consent!r} in your organization") from None
        else:
            record = self.store.find_free_text_consent(ctx.tenant_id, consent, collection_id)
            if record is None:
                if not create:
                    return None
                record = self.store.add_consent(
                    ConsentRecord(
                        consent_id=f"cns_{secrets.token_hex(8)}",
                        tenant_id=ctx.tenant_id,
                        subject_ref=consent,
                        collections=(collection_id,),
                        purposes=(),
                        evidence_ref=consent,
                        recorded_by=ctx.principal_id,
                        given_at=now,
                        expires_at=None,
                        withdrawn_at=None,
                        recorded_at=now,
                        origin="free-text",
                    )  # fmt: skip
                )
        check_consent(record, collection_id, ctx.purpose, now)
        return record.consent_id

    def _check_enrolment(
        self: FaceService, ctx: RequestContext, request: dict[str, Any], *, create: bool
    ) -> str | None:
        """Consent and retention checks of one enrolment; returns the consent id."""
        collection_id = request["collection_id"]
        now = self._now()
        rule = self.store.get_retention(ctx.tenant_id, collection_id)
        if rule is not None and rule.until_case_closed and not ctx.case_ref:
            raise InvalidRequestError(
                f"collection {collection_id!r} keeps faces until their case is closed: "
                "enrolment needs a case reference"
            )
        if ctx.case_ref and self.store.is_case_closed(ctx.tenant_id, ctx.case_ref):
            raise ConflictError(f"case {ctx.case_ref!r} is closed: nothing more is enrolled for it")
        consent = request.get("consent")
        if consent is None:
            return None
        return self._consent_for(ctx, collection_id, consent, now, create=create)

    def _bind_enrolment(
        self: FaceService, ctx: RequestContext, request: dict[str, Any], face_ids: Sequence[str]
    ) -> str | None:
        """Inside the enrolment's transaction: check again, record (free-text) consent, and
        store on each face its consent id, case reference and enrolment time."""
        consent_id = self._check_enrolment(ctx, request, create=bool(face_ids))
        if face_ids:
            self.store.tag_faces(
                ctx.tenant_id, request["collection_id"], face_ids, consent_id=consent_id,
                case_ref=ctx.case_ref, enrolled_at=self._now(),
            )  # fmt: skip
        return consent_id

    def _set_retention(
        self: FaceService,
        ctx: RequestContext,
        collection_id: str,
        decision: Decision,
        retention_days: int | None,
        until_case_closed: bool,
        days_since_match: int | None = None,
    ) -> RetentionRule:
        """A new collection's rule (inside its creation's transaction): the one asked for, else
        the policy's cap (every collection has a rule when the policy sets a cap)."""
        days = retention_days
        if days is None:
            days = decision.obligations.get("retention_max_days")
        rule = RetentionRule(days, until_case_closed, self._now(), days_since_match)
        self.store.set_retention(ctx.tenant_id, collection_id, rule)
        return rule

    def _matched(
        self: FaceService, ctx: RequestContext, collection_id: str, hits: Sequence[Any]
    ) -> None:
        """A search returned these faces: their retention since last match starts again (a user
        search marks the faces of the users it returned: service/users.py)."""
        self.store.mark_matched(
            ctx.tenant_id, collection_id, [h.face.face_id for h in hits], self._now()
        )

    # ------------------------------------------------------------------ retention
    def purge_due(self: FaceService, ctx: RequestContext) -> Governed[Deletion]:
        """Delete every face of the organization whose retention has ended: older than its
        collection's rule or the policy's cap (``retention_max_days``), enrolled under an
        expired or withdrawn consent, or under a closed case. One audit record."""

        def work(decision: Decision) -> tuple[Deletion, dict[str, Any]]:
            now = self._now()
            cap = decision.obligations.get("retention_max_days")
            done = Deletion(now)
            due: dict[str, list[str]] = {}
            for face in self.store.due_faces(ctx.tenant_id, now, cap):
                due.setdefault(face.collection_id, []).append(face.face_id)
                done.reasons[face.reason] = done.reasons.get(face.reason, 0) + 1
            self._delete(ctx, due, done)
            done.lead_crops = self._drop_lead_crops(ctx, cap_days=cap)  # type: ignore[attr-defined]
            return done, {**done.outcome(), "lead_crops_dropped": done.lead_crops}

        return self.unit.run(ctx, "retention.purge", {}, work, writes=True)

    def close_case(self: FaceService, ctx: RequestContext, case_ref: str) -> Governed[Deletion]:
        """Close a case: what was enrolled under it is deleted, and nothing more is enrolled
        for it. Closing a closed case deletes anything left (``already_closed``)."""
        ref = clean_text(case_ref, "case_ref", MAX_REFERENCE)
        if ref is None:
            raise InvalidRequestError("give the case reference to close")

        def work(_: Decision) -> tuple[Deletion, dict[str, Any]]:
            now = self._now()
            done = Deletion(now, case_ref=ref)
            done.already_closed = not self.store.close_case(
                ctx.tenant_id, ref, by=ctx.principal_id, at=now
            )
            self._delete(ctx, self.store.case_faces(ctx.tenant_id, ref), done)
            done.lead_crops = self._drop_lead_crops(ctx, case_ref=ref)  # type: ignore[attr-defined]
            return done, {**done.outcome(), "lead_crops_dropped": done.lead_crops}

        return self.unit.run(ctx, "case.close", {"case_ref": ref}, work, writes=True)

    # ------------------------------------------------------------------ erasure
    def erase_subject(
        self: FaceService,
        ctx: RequestContext,
        *,
        subject_ref: str | None = None,
        user_ids: Sequence[str] = (),
    ) -> Governed[ErasureReceipt]:
        """Erase a data subject from the organization: the faces enrolled under the consents
        of ``subject_ref`` and those consent records, the users ``user_ids`` in every
        collection with their faces, and the rows of review leads and the matches of video
        search jobs naming any of them. One
        transaction and one audit record; then the store's WAL is checkpointed (TRUNCATE) so
        the deleted rows, zeroed by ``secure_delete``, leave no copy in the log file."""
        subject = clean_text(subject_ref, "subject_ref", MAX_REFERENCE)
        users = [check_id(u, "user id") for u in dict.fromkeys(user_ids)]
        if subject is None and not users:
            raise InvalidRequestError("give the subject's reference, user ids, or both")
        request = {"user_ids": users, "by_subject": subject is not None}

        def work(_: Decision) -> tuple[ErasureReceipt, dict[str, Any]]:
            held = self.store.subject_holdings(ctx.tenant_id, subject_ref=subject, user_ids=users)
            face_ids = {f for ids in held.faces.values() for f in ids}
            reviews = getattr(self.gate, "reviews", None)
            leads = (
                reviews.redact(ctx.tenant_id, face_ids=face_ids, user_ids=set(users))
                if reviews is not None and (face_ids or users)
                else {}
            )
            videos = (
                self.store.redact_video_jobs(ctx.tenant_id, face_ids, set(users))
                if face_ids or users
                else 0
            )
            done = Deletion(self._now())
            self._delete(ctx, held.faces, done)
            for collection_id, ids in held.users.items():
                for user_id in ids:
                    self.store.delete_user(ctx.tenant_id, collection_id, user_id)
            consents = self.store.delete_consents(ctx.tenant_id, held.consent_ids)
            dropped = self._drop_lead_crops(ctx, lead_ids=sorted(leads))  # type: ignore[attr-defined]
            receipt = ErasureReceipt(done.at, done.faces, held.users, consents, leads)
            outcome = {
                "face_ids": done.face_ids, "count": len(done.face_ids),
                "user_ids": [u for ids in held.users.values() for u in ids],
                "consent_ids": consents, "lead_ids": sorted(leads),
                "counts": {**receipt.counts(), "video_jobs": videos},
                "lead_crops_dropped": dropped,
            }  # fmt: skip
            return receipt, outcome

        governed = self.unit.run(ctx, "subject.erase", request, work, writes=True)
        receipt = governed.result
        receipt.checkpoint = self.store.checkpoint()
        auditlog = getattr(self.gate, "auditlog", None)
        if auditlog is not None:
            page = auditlog.read(
                ctx.tenant_id, request_id=ctx.request_id, operation="subject.erase", limit=1000
            )
            if page.records:
                record = page.records[-1]
                receipt.audit = {"seq": record.seq, "hash": record.hash}
        return governed


def check_consent(record: ConsentRecord, collection_id: str, purpose: str | None, now: str) -> None:
    """ConsentError unless ``record`` allows enrolling into ``collection_id`` for ``purpose``
    at ``now``."""
    ref = record.consent_id
    status = record.status(now)
    if status == "withdrawn":
        raise ConsentError(f"consent {ref} was withdrawn on {record.withdrawn_at[:10]}")  # type: ignore[index]
    if status == "expired":
        raise ConsentError(f"consent {ref} expired on {record.expires_at[:10]}")  # type: ignore[index]
    if record.given_at > now:
        raise ConsentError(f"consent {ref} is given only from {record.given_at[:10]}")
    if collection_id not in record.collections:
        raise ConsentError(
            f"consent {ref} covers {', '.join(record.collections)}, not {collection_id!r}"
        )
    if record.purposes and purpose not in record.purposes:
        declared = f"purpose {purpose!r}" if purpose else "no declared purpose"
        raise ConsentError(
            f"consent {ref} is for {', '.join(record.purposes)} only ({declared} was given)"
        )
