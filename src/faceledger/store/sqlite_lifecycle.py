"""The lifecycle tables of the SQLite store (consents, retention rules, closed cases, and what
each face was enrolled under), as a mixin of ``SQLiteStore``.

Added by :func:`migrate` (additive: three new tables, three nullable columns of ``faces``), so
a file written before keeps working: its faces have no consent id or case and their enrolment
time is their ``created_at``. Deleted rows are overwritten with zeros (``PRAGMA secure_delete``,
set by the store on its connection), and :meth:`SQLiteLifecycle.checkpoint` truncates the WAL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from faceledger.store.base import NotFoundError, Page, check_limit
from faceledger.store.lifecycle import (
    ConsentRecord,
    DueFace,
    LifecycleStore,
    RetentionRule,
    SubjectHoldings,
)

if TYPE_CHECKING:
    from faceledger.sql.ddl import DDL
    from faceledger.store.sqlite import SQLiteStore

LIFECYCLE_SCHEMA = """
CREATE TABLE IF NOT EXISTS consents (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    consent_id    TEXT NOT NULL UNIQUE,
    tenant_id     TEXT NOT NULL,
    subject_ref   TEXT NOT NULL,
    collections   TEXT NOT NULL,
    purposes      TEXT NOT NULL,
    evidence_ref  TEXT,
    recorded_by   TEXT NOT NULL,
    origin        TEXT NOT NULL CHECK (origin IN ('recorded', 'free-text')),
    given_at      TEXT NOT NULL,
    expires_at    TEXT,
    withdrawn_at  TEXT,
    recorded_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consents_by_subject ON consents (tenant_id, subject_ref);
CREATE TABLE IF NOT EXISTS retention_rules (
    collection_pk     INTEGER PRIMARY KEY REFERENCES collections(pk) ON DELETE CASCADE,
    max_age_days      INTEGER,
    until_case_closed INTEGER NOT NULL DEFAULT 0,
    set_at            TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS closed_cases (
    tenant_id TEXT NOT NULL,
    case_ref  TEXT NOT NULL,
    closed_by TEXT NOT NULL,
    closed_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, case_ref)
) WITHOUT ROWID
"""
FACE_COLUMNS = {
    "consent_id": "TEXT",
    "case_ref": "TEXT",
    "enrolled_at": "TEXT",
    "last_matched_at": "TEXT",
}
RULE_COLUMNS = {"max_days_since_match": "INTEGER"}
FACE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS faces_by_consent ON faces (consent_id)"
    " WHERE consent_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS faces_by_case ON faces (case_ref) WHERE case_ref IS NOT NULL",
)
_CONSENT_COLUMNS = (
    "consent_id, tenant_id, subject_ref, collections, purposes, evidence_ref, recorded_by,"
    " given_at, expires_at, withdrawn_at, recorded_at, origin"
)


def migrate(ddl: DDL) -> None:
    """Create what is missing (in the baseline migration); idempotent."""
    ddl.run(LIFECYCLE_SCHEMA)
    ddl.add_columns("faces", FACE_COLUMNS)
    ddl.add_columns("retention_rules", RULE_COLUMNS)
    for statement in FACE_INDEXES:
        ddl.execute(statement)


def _iso(t: datetime) -> str:
    """The governance clock's format (fixed width, sorts as text)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _consent(row: Sequence[object]) -> ConsentRecord:
    return ConsentRecord(
        consent_id=row[0], tenant_id=row[1], subject_ref=row[2],
        collections=tuple(json.loads(row[3])), purposes=tuple(json.loads(row[4])),
        evidence_ref=row[5], recorded_by=row[6], given_at=row[7], expires_at=row[8],
        withdrawn_at=row[9], recorded_at=row[10], origin=row[11],
    )  # type: ignore[arg-type]  # fmt: skip


def _grouped(rows: Sequence[Sequence[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for collection_id, face_id in rows:
        out.setdefault(collection_id, []).append(face_id)
    return out


class SQLiteLifecycle(LifecycleStore):
    """Mixed into ``SQLiteStore``: uses its connection, lock and transactions."""

    # consent ------------------------------------------------------------------------------
    def add_consent(self: SQLiteStore, record: ConsentRecord) -> ConsentRecord:
        with self._write() as c:
            c.execute(
                f"INSERT INTO consents ({_CONSENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.consent_id, record.tenant_id, record.subject_ref,
                    json.dumps(list(record.collections)), json.dumps(list(record.purposes)),
                    record.evidence_ref, record.recorded_by, record.given_at, record.expires_at,
                    record.withdrawn_at, record.recorded_at, record.origin,
                ),
            )  # fmt: skip
        return record

    def get_consent(self: SQLiteStore, tenant_id: str, consent_id: str) -> ConsentRecord:
        with self._read() as c:
            row = c.execute(
                f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE tenant_id = ? AND consent_id = ?",
                (tenant_id, consent_id),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"consent {consent_id!r} not found")
        return _consent(row)

    def find_free_text_consent(
        self: SQLiteStore, tenant_id: str, text: str, collection_id: str
    ) -> ConsentRecord | None:
        with self._read() as c:
            row = c.execute(
                f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE tenant_id = ? AND origin ="
                " 'free-text' AND subject_ref = ? AND collections = ? ORDER BY seq DESC LIMIT 1",
                (tenant_id, text, json.dumps([collection_id])),
            ).fetchone()
        return _consent(row) if row else None

    def list_consents(
        self: SQLiteStore,
        tenant_id: str,
        *,
        subject_ref: str | None = None,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Page[ConsentRecord]:
        check_limit(limit)
        listing = ("consents", tenant_id, subject_ref or "")
        after = self._tokens.decode(listing, next_token, int) or 0
        sql = f"SELECT seq, {_CONSENT_COLUMNS} FROM consents WHERE tenant_id = ? AND seq > ?"
        args: list[object] = [tenant_id, after]
        if subject_ref is not None:
            sql += " AND subject_ref = ?"
            args.append(subject_ref)
        with self._read() as c:
            rows = c.execute(sql + " ORDER BY seq LIMIT ?", (*args, limit + 1)).fetchall()
        items = [_consent(r[1:]) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, self._tokens.encode(listing, rows[limit - 1][0]) if more else None)

    def mark_withdrawn(
        self: SQLiteStore, tenant_id: str, consent_id: str, at: str
    ) -> ConsentRecord:
        with self._write() as c:
            c.execute(
                "UPDATE consents SET withdrawn_at = ? WHERE tenant_id = ? AND consent_id = ?"
                " AND withdrawn_at IS NULL",
                (at, tenant_id, consent_id),
            )
            return self.get_consent(tenant_id, consent_id)

    def consent_faces(
        self: SQLiteStore, tenant_id: str, consent_ids: Sequence[str]
    ) -> dict[str, list[str]]:
        ids = list(consent_ids)
        if not ids:
            return {}
        with self._read() as c:
            rows = c.execute(
                "SELECT c.collection_id, f.face_id FROM faces f JOIN collections c"
                " ON c.pk = f.collection_pk WHERE c.tenant_id = ?"
                f" AND f.consent_id IN ({','.join('?' * len(ids))}) ORDER BY f.seq",
                (tenant_id, *ids),
            ).fetchall()
        return _grouped(rows)

    def delete_consents(self: SQLiteStore, tenant_id: str, consent_ids: Sequence[str]) -> list[str]:
        deleted = []
        with self._write() as c:
            for consent_id in dict.fromkeys(consent_ids):
                n = c.execute(
                    "DELETE FROM consents WHERE tenant_id = ? AND consent_id = ?",
                    (tenant_id, consent_id),
                ).rowcount
                if n:
                    deleted.append(consent_id)
        return deleted

    # enrolment ----------------------------------------------------------------------------
    def tag_faces(
        self: SQLiteStore,
        tenant_id: str,
        collection_id: str,
        face_ids: Sequence[str],
        *,
        consent_id: str | None,
        case_ref: str | None,
        enrolled_at: str,
    ) -> None:
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            c.executemany(
                "UPDATE faces SET consent_id = ?, case_ref = ?, enrolled_at = ?"
                " WHERE collection_pk = ? AND face_id = ?",
                [(consent_id, case_ref, enrolled_at, col.pk, f) for f in face_ids],
            )

    def mark_matched(
        self: SQLiteStore, tenant_id: str, collection_id: str, face_ids: Sequence[str], at: str
    ) -> None:
        if not face_ids:
            return
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            c.executemany(
                "UPDATE faces SET last_matched_at = ? WHERE collection_pk = ? AND face_id = ?",
                [(at, col.pk, f) for f in dict.fromkeys(face_ids)],
            )

    def face_lifecycle(
        self: SQLiteStore, tenant_id: str, collection_id: str, face_ids: Sequence[str]
    ) -> dict[str, dict[str, str | None]]:
        ids = list(face_ids)
        out: dict[str, dict[str, str | None]] = {}
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                for face_id, consent_id, case_ref, enrolled, created in c.execute(
                    "SELECT face_id, consent_id, case_ref, enrolled_at, created_at FROM faces"
                    f" WHERE collection_pk = ? AND face_id IN ({','.join('?' * len(part))})",
                    (col.pk, *part),
                ):
                    out[face_id] = {
                        "consent_id": consent_id,
                        "case_ref": case_ref,
                        "enrolled_at": enrolled or created,
                    }
        return out

    # retention ----------------------------------------------------------------------------
    def set_retention(
        self: SQLiteStore, tenant_id: str, collection_id: str, rule: RetentionRule
    ) -> None:
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            c.execute(
                "INSERT INTO retention_rules (collection_pk, max_age_days, until_case_closed,"
                " set_at, max_days_since_match) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (collection_pk) DO UPDATE SET"
                " max_age_days = excluded.max_age_days,"
                " until_case_closed = excluded.until_case_closed, set_at = excluded.set_at,"
                " max_days_since_match = excluded.max_days_since_match",
                (
                    col.pk,
                    rule.max_age_days,
                    int(rule.until_case_closed),
                    rule.set_at or "",
                    rule.max_days_since_match,
                ),  # fmt: skip
            )

    def get_retention(
        self: SQLiteStore, tenant_id: str, collection_id: str
    ) -> RetentionRule | None:
        with self._read() as c:
            col = self._collection(tenant_id, collection_id)
            row = c.execute(
                "SELECT max_age_days, until_case_closed, set_at, max_days_since_match"
                " FROM retention_rules WHERE collection_pk = ?",
                (col.pk,),
            ).fetchone()
        return RetentionRule(row[0], bool(row[1]), row[2], row[3]) if row else None

    def due_faces(
        self: SQLiteStore, tenant_id: str, now: str, cap_days: int | None
    ) -> list[DueFace]:
        at = datetime.fromisoformat(now.replace("Z", "+00:00"))
        due: dict[tuple[str, str], str] = {}
        with self._read() as c:
            cols = c.execute(
                "SELECT c.pk, c.collection_id, r.max_age_days, r.max_days_since_match"
                " FROM collections c LEFT JOIN retention_rules r ON r.collection_pk = c.pk"
                " WHERE c.tenant_id = ?",
                (tenant_id,),
            ).fetchall()
            for pk, collection_id, days, unmatched in cols:
                limits = [d for d in (days, cap_days) if d is not None]
                if limits:
                    cutoff = _iso(at - timedelta(days=min(limits)))
                    for (face_id,) in c.execute(
                        "SELECT face_id FROM faces WHERE collection_pk = ?"
                        " AND coalesce(enrolled_at, created_at) < ? ORDER BY seq",
                        (pk, cutoff),
                    ):
                        due.setdefault((collection_id, face_id), "age")
                if unmatched is not None:
                    cutoff = _iso(at - timedelta(days=unmatched))
                    for (face_id,) in c.execute(
                        "SELECT face_id FROM faces WHERE collection_pk = ? AND"
                        " coalesce(last_matched_at, enrolled_at, created_at) < ? ORDER BY seq",
                        (pk, cutoff),
                    ):
                        due.setdefault((collection_id, face_id), "unmatched")
            for collection_id, face_id in c.execute(
                "SELECT c.collection_id, f.face_id FROM faces f JOIN collections c ON c.pk ="
                " f.collection_pk JOIN consents k ON k.consent_id = f.consent_id"
                " WHERE c.tenant_id = ? AND k.tenant_id = c.tenant_id AND"
                " (k.withdrawn_at IS NOT NULL OR (k.expires_at IS NOT NULL AND k.expires_at <= ?))"
                " ORDER BY f.seq",
                (tenant_id, now),
            ):
                due.setdefault((collection_id, face_id), "consent-expired")
            for collection_id, face_id in c.execute(
                "SELECT c.collection_id, f.face_id FROM faces f JOIN collections c ON c.pk ="
                " f.collection_pk JOIN closed_cases k ON k.tenant_id = c.tenant_id AND"
                " k.case_ref = f.case_ref WHERE c.tenant_id = ? ORDER BY f.seq",
                (tenant_id,),
            ):
                due.setdefault((collection_id, face_id), "case-closed")
        return [DueFace(col, face, why) for (col, face), why in due.items()]

    def close_case(self: SQLiteStore, tenant_id: str, case_ref: str, *, by: str, at: str) -> bool:
        with self._write() as c:
            return bool(
                c.execute(
                    "INSERT INTO closed_cases (tenant_id, case_ref, closed_by, closed_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (tenant_id, case_ref, by, at),
                ).rowcount
            )

    def is_case_closed(self: SQLiteStore, tenant_id: str, case_ref: str) -> bool:
        with self._read() as c:
            return (
                c.execute(
                    "SELECT 1 FROM closed_cases WHERE tenant_id = ? AND case_ref = ?",
                    (tenant_id, case_ref),
                ).fetchone()
                is not None
            )

    def case_faces(self: SQLiteStore, tenant_id: str, case_ref: str) -> dict[str, list[str]]:
        with self._read() as c:
            rows = c.execute(
                "SELECT c.collection_id, f.face_id FROM faces f JOIN collections c"
                " ON c.pk = f.collection_pk WHERE c.tenant_id = ? AND f.case_ref = ?"
                " ORDER BY f.seq",
                (tenant_id, case_ref),
            ).fetchall()
        return _grouped(rows)

    # erasure ------------------------------------------------------------------------------
    def subject_holdings(
        self: SQLiteStore, tenant_id: str, *, subject_ref: str | None, user_ids: Sequence[str]
    ) -> SubjectHoldings:
        held = SubjectHoldings()
        with self._read() as c:
            if subject_ref is not None:
                held.consent_ids = [
                    r[0]
                    for r in c.execute(
                        "SELECT consent_id FROM consents WHERE tenant_id = ? AND subject_ref = ?"
                        " ORDER BY seq",
                        (tenant_id, subject_ref),
                    )
                ]
        faces = dict(self.consent_faces(tenant_id, held.consent_ids))
        users = list(dict.fromkeys(user_ids))
        with self._read() as c:
            if users:
                marks = ",".join("?" * len(users))
                for collection_id, user_id in c.execute(
                    "SELECT c.collection_id, u.user_id FROM users u JOIN collections c"
                    f" ON c.pk = u.collection_pk WHERE c.tenant_id = ? AND u.user_id IN ({marks})"
                    " ORDER BY c.collection_id, u.user_id",
                    (tenant_id, *users),
                ):
                    held.users.setdefault(collection_id, []).append(user_id)
                for collection_id, face_id in c.execute(
                    "SELECT c.collection_id, f.face_id FROM faces f JOIN users u ON u.pk ="
                    " f.user_pk JOIN collections c ON c.pk = f.collection_pk WHERE"
                    f" c.tenant_id = ? AND u.user_id IN ({marks}) ORDER BY f.seq",
                    (tenant_id, *users),
                ):
                    ids = faces.setdefault(collection_id, [])
                    if face_id not in ids:
                        ids.append(face_id)
        held.faces = faces
        return held

    def checkpoint(self: SQLiteStore) -> dict[str, int]:
        with self._lock:
            busy, log_frames, checkpointed = self._conn.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).fetchone()
        return {"busy": busy, "log_frames": log_frames, "checkpointed_frames": checkpointed}
