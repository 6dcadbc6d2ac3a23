"""The tamper-evident audit log: one record per request (allowed or denied) and per review step.

Records are hash-chained. Record ``n`` stores ``prev_hash`` (the hash of record ``n-1``, or 64
zeros for the first) and ``hash = sha256(prev_hash + "\\n" + canonical_json(body))``, where the
body holds every field including ``seq`` and is serialized with sorted keys, no spaces and UTF-8.
:meth:`AuditLog.verify` recomputes the chain and names each record that was modified, deleted,
inserted or reordered.

What a chain cannot show by itself: a rewrite of every record from some point on (hashes
recomputed), or a truncated tail. Keep an *anchor* (the head's sequence number and hash, from
:meth:`AuditLog.head` or ``faceledger audit-log anchor``) somewhere the database's writers
cannot reach; ``verify(anchors=...)`` then also detects those. Records appended after the latest
anchor are only as trustworthy as the database file.

The table is written by :meth:`AuditLog.append` only (INSERT, in a ``BEGIN IMMEDIATE``
transaction, so concurrent writers serialize and never fork the chain); SQLite triggers reject
UPDATE and DELETE, and ``verify`` reports it when they are missing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from faceledger import faults
from faceledger.governance.clock import Clock, iso, utc_now
from faceledger.governance.context import RequestContext
from faceledger.governance.db import GovernanceDB
from faceledger.governance.decision import Decision
from faceledger.governance.errors import InvalidArgumentError
from faceledger.governance.events import AuditEvent, RequestDecided, context_fields

__all__ = [
    "Anchor",
    "AuditLog",
    "AuditRecord",
    "VerifyReport",
    "context_fields",
    "serialize_event",
    "verify_export",
]

GENESIS = "0" * 64
INDEXED = ("at", "kind", "tenant_id", "principal_id", "operation", "request_id")
"""Body fields copied into columns for queries; ``verify`` checks the copies match."""


def canonical_json(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    hash: str
    prev_hash: str
    body: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "record": self.body,
        }


@dataclass(frozen=True, slots=True)
class Anchor:
    """A record's sequence number and hash, kept outside the database."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Anchor:
        seq, sep, digest = text.strip().partition(":")
        if not sep or not seq.isdigit() or len(digest) != 64:
            raise InvalidArgumentError(f"anchor {text.strip()!r} is not SEQ:SHA256")
        return cls(int(seq), digest.lower())


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong, at which record: ``kind`` is one of modified, deleted, inserted,
    reordered, renumbered, broken-link, truncated, anchor-mismatch, triggers-missing."""

    seq: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"record #{self.seq}" if self.seq is not None else "log"
        return f"{where}: {self.kind}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "detail": self.detail}


@dataclass(slots=True)
class VerifyReport:
    records: int = 0
    head: Anchor | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "head": None if self.head is None else {"seq": self.head.seq, "hash": self.head.hash},
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_dict() for w in self.warnings],
        }


@dataclass(frozen=True, slots=True)
class Page:
    records: list[AuditRecord]
    next_after: int | None
    """Pass as ``after`` to get the next page; None when this is the last."""


@dataclass(frozen=True, slots=True)
class _Row:
    seq: int
    record: str
    prev_hash: str
    hash: str
    columns: dict[str, Any]


class AuditLog:
    """Append-only, hash-chained records in the governance database."""

    def __init__(self, db: GovernanceDB, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    # writing -----------------------------------------------------------------------------------

    def append(self, event: AuditEvent) -> AuditRecord:
        """Append one typed event; ``seq`` and ``at`` are filled in."""
        if not isinstance(event, AuditEvent):
            raise TypeError("the audit log appends AuditEvent objects (governance.events)")
        return self._append(event.body())

    def append_staged(self, event_id: str, body: str) -> AuditRecord | None:
        """Append an event that was staged in the store's transaction (its outbox), once.

        Returns None when ``event_id`` was appended before (by this or another process): the
        ``audit_applied`` row is written in the same transaction as the record, so a crash
        between appending and clearing the outbox never appends the event twice."""
        with self.db.transaction() as conn:
            if conn.execute(
                "SELECT 1 FROM audit_applied WHERE event_id = ?", (event_id,)
            ).fetchone():
                return None
            faults.point("audit.before_append")
            record = self._append(json.loads(body))
            conn.execute(
                "INSERT INTO audit_applied (event_id, seq) VALUES (?, ?)", (event_id, record.seq)
            )
        faults.point("audit.after_append")
        return record

    def _append(self, body: Mapping[str, Any]) -> AuditRecord:
        data = _jsonable(dict(body))
        data.setdefault("kind", "request")
        if "operation" not in data:
            raise ValueError("an audit record needs an operation")
        with self.db.transaction() as conn:
            head = conn.execute(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq = head["seq"] + 1 if head else 1
            prev = head["hash"] if head else GENESIS
            data["seq"] = seq
            data["at"] = iso(self.clock())
            text = canonical_json(data)
            digest = chain_hash(prev, text)
            conn.execute(
                "INSERT INTO audit_log (seq, at, kind, tenant_id, principal_id, operation, "
                "request_id, record, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*(data.get(k) for k in ("seq", *INDEXED)), text, prev, digest),
            )
        return AuditRecord(seq, digest, prev, data)

    def append_request(
        self,
        ctx: RequestContext,
        operation: str,
        decision: Decision,
        *,
        request: Mapping[str, Any],
        outcome: Mapping[str, Any],
    ) -> AuditRecord:
        """The record of one request (see :class:`~faceledger.governance.events.RequestDecided`)."""
        return self.append(
            RequestDecided(
                ctx=ctx, operation=operation, decision=decision, request=request, outcome=outcome
            )
        )

    # reading -----------------------------------------------------------------------------------

    def head(self) -> Anchor | None:
        row = (
            self.db.connection()
            .execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetchone()
        )
        return Anchor(row["seq"], row["hash"]) if row else None

    def read(
        self,
        tenant_id: str,
        *,
        operation: str | None = None,
        principal_id: str | None = None,
        request_id: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> Page:
        """One tenant's records, oldest first, ``limit`` at a time after sequence ``after``."""
        if not tenant_id:
            raise InvalidArgumentError("reading the audit log needs a tenant")
        if not 1 <= limit <= 1000:
            raise InvalidArgumentError("limit must be between 1 and 1000")
        where = ["tenant_id = ?"]
        args: list[Any] = [tenant_id]
        for column, value in (
            ("operation", operation),
            ("principal_id", principal_id),
            ("request_id", request_id),
            ("kind", kind),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("at >= ?")
            args.append(iso(since))
        if until is not None:
            where.append("at < ?")
            args.append(iso(until))
        if after is not None:
            where.append("seq > ?")
            args.append(after)
        rows = (
            self.db.connection()
            .execute(
                f"SELECT * FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
                (*args, limit + 1),
            )
            .fetchall()
        )
        records = [_record(r) for r in rows[:limit]]
        next_after = records[-1].seq if len(rows) > limit else None
        return Page(records, next_after)

    def records(self, tenant_id: str | None = None) -> Iterator[AuditRecord]:
        """Every record (of one tenant, or all), oldest first."""
        conn = self.db.connection()
        if tenant_id is None:
            cursor = conn.execute("SELECT * FROM audit_log ORDER BY seq")
        else:
            cursor = conn.execute(
                "SELECT * FROM audit_log WHERE tenant_id = ? ORDER BY seq", (tenant_id,)
            )
        for row in cursor:
            yield _record(row)

    def export(self, path: str | os.PathLike[str], tenant_id: str | None = None) -> int:
        """Write records as JSON lines (``seq``, ``prev_hash``, ``hash``, ``record``); a full
        export (no tenant) can be checked with :func:`verify_export`. Returns the count."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        count = 0
        with tmp.open("w", encoding="utf-8") as out:
            for rec in self.records(tenant_id):
                out.write(json.dumps(rec.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
                count += 1
        tmp.replace(path)
        return count

    # checking ----------------------------------------------------------------------------------

    def _integrity_events(self) -> list[AuditRecord]:
        rows = self.db.connection().execute(
            "SELECT * FROM audit_log WHERE kind = 'integrity' ORDER BY seq"
        )
        return [_record(r) for r in rows]

    def verify(self, anchors: Iterable[Anchor] = ()) -> VerifyReport:
        conn = self.db.connection()
        rows = [
            _Row(
                r["seq"],
                r["record"],
                r["prev_hash"],
                r["hash"],
                {k: r[k] for k in INDEXED},
            )
            for r in conn.execute("SELECT * FROM audit_log ORDER BY seq")
        ]
        report = verify_rows(rows, anchors)
        present = self.db.triggers()
        missing = [
            t for t in self.db.audit_triggers if t not in present or t in self.db.missing_triggers
        ]
        if missing:
            report.warnings.append(
                Problem(
                    None,
                    "triggers-missing",
                    f"the append-only trigger(s) {', '.join(missing)} were dropped",
                )
            )
        restored = [r.seq for r in self._integrity_events()]
        if restored:
            report.warnings.append(
                Problem(
                    restored[-1],
                    "triggers-restored",
                    f"the append-only triggers had been dropped and were restored "
                    f"(record(s) {', '.join(f'#{s}' for s in restored)})",
                )
            )
        return report


def verify_export(path: str | os.PathLike[str], anchors: Iterable[Anchor] = ()) -> VerifyReport:
    """Check a full JSON-lines export the way :meth:`AuditLog.verify` checks the database."""
    rows = []
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            item = json.loads(line)
            body = item["record"]
            rows.append(
                _Row(
                    item["seq"],
                    canonical_json(body),
                    item["prev_hash"],
                    item["hash"],
                    {k: body.get(k) for k in INDEXED},
                )
            )
    return verify_rows(rows, anchors)


def verify_rows(rows: Sequence[_Row], anchors: Iterable[Anchor] = ()) -> VerifyReport:
    """The chain check proper, on rows in stored (sequence) order."""
    report = VerifyReport(records=len(rows))
    problems = report.problems
    by_hash = {r.hash: i for i, r in enumerate(rows)}
    referenced = {r.prev_hash for r in rows}
    inserted: set[int] = set()

    for i, row in enumerate(rows):
        # 1. the record against its own hash
        try:
            body = json.loads(row.record)
        except ValueError:
            problems.append(Problem(row.seq, "modified", "the record is not valid JSON"))
            body = None
        if body is not None:
            if chain_hash(row.prev_hash, row.record) != row.hash:
                problems.append(Problem(row.seq, "modified", "its contents do not match its hash"))
            elif canonical_json(body) != row.record:
                problems.append(Problem(row.seq, "modified", "the record is not canonical JSON"))
            else:
                if body.get("seq") != row.seq:
                    problems.append(
                        Problem(
                            row.seq,
                            "renumbered",
                            f"stored as #{row.seq} but written as #{body.get('seq')}",
                        )
                    )
                changed = [k for k in INDEXED if body.get(k) != row.columns.get(k)]
                if changed:
                    problems.append(
                        Problem(
                            row.seq,
                            "modified",
                            f"column(s) {', '.join(changed)} differ from the hashed record",
                        )
                    )
        # 2. the link to the record stored before it
        prev = rows[i - 1] if i else None
        expected_prev = prev.hash if prev else GENESIS
        expected_seq = prev.seq + 1 if prev else 1
        if row.prev_hash == expected_prev:
            if row.seq != expected_seq:
                problems.append(
                    Problem(row.seq, "renumbered", f"follows #{expected_seq - 1} without a gap")
                )
            continue
        if row.seq > expected_seq:
            missing = (
                f"#{expected_seq}"
                if row.seq == expected_seq + 1
                else f"#{expected_seq}-#{row.seq - 1}"
            )
            problems.append(Problem(row.seq, "deleted", f"record(s) {missing} are missing"))
            continue
        j = by_hash.get(row.prev_hash)
        if (
            prev is not None
            and i >= 2
            and j == i - 2
            and prev.hash not in referenced
            and (i - 1) not in inserted
        ):
            inserted.add(i - 1)
            problems.append(
                Problem(
                    prev.seq,
                    "inserted",
                    f"not part of the chain: #{row.seq} was chained to #{rows[j].seq}",
                )
            )
        elif prev is None and row.prev_hash != GENESIS and j is None:
            problems.append(Problem(row.seq, "deleted", "the records before it are missing"))
        elif j is not None:
            problems.append(
                Problem(
                    row.seq,
                    "reordered",
                    f"stored after #{prev.seq if prev else 0} but chained to #{rows[j].seq}",
                )
            )
        else:
            problems.append(
                Problem(
                    row.seq,
                    "broken-link",
                    f"chained to a record that is not #{prev.seq if prev else 0} "
                    "(deleted, or rewritten with a new hash)",
                )
            )

    if rows:
        report.head = Anchor(rows[-1].seq, rows[-1].hash)
    by_seq = {r.seq: r for r in rows}
    last = rows[-1].seq if rows else 0
    for anchor in anchors:
        row = by_seq.get(anchor.seq)
        if row is None and anchor.seq > last:
            problems.append(
                Problem(
                    anchor.seq,
                    "truncated",
                    f"the log ends at #{last} but an anchor says #{anchor.seq} existed",
                )
            )
        elif row is None:
            problems.append(Problem(anchor.seq, "deleted", "an anchored record is missing"))
        elif row.hash != anchor.hash:
            problems.append(
                Problem(
                    anchor.seq,
                    "anchor-mismatch",
                    "its hash differs from the anchor (the chain was rewritten up to here)",
                )
            )
    problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return report


def serialize_event(event: AuditEvent) -> str:
    """An event as canonical JSON, ready to be staged and appended later (``append_staged``)."""
    return canonical_json(_jsonable(event.body()))


def _jsonable(value: Any) -> Any:
    """Dates to ISO text, sets and tuples to lists, floats rounded to stay canonical."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def _record(row: Any) -> AuditRecord:
    return AuditRecord(row["seq"], row["hash"], row["prev_hash"], json.loads(row["record"]))
