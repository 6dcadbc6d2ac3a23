"""The governance database: one SQLite file (WAL), one connection per thread.

Principals, review leads, rate-limit hits and the audit log share the file, so that a review step
and its audit event commit together. Writes go through :meth:`GovernanceDB.transaction`, which
begins ``IMMEDIATE`` (the write lock is taken before anything is read, so two writers never read
the same audit-log head) and nests: an inner ``transaction()`` joins the outer one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faceledger.settings import private_file

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    actor_class TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    secret_sha256 TEXT NOT NULL,
    label TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS leads (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    request_id TEXT NOT NULL,
    purpose TEXT,
    case_ref TEXT,
    results TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'released', 'rejected')),
    created_at TEXT NOT NULL,
    closed_at TEXT,
    error_rates TEXT
);
CREATE INDEX IF NOT EXISTS leads_tenant_status ON leads (tenant_id, status, created_at);
CREATE TABLE IF NOT EXISTS lead_reviews (
    lead_id TEXT NOT NULL REFERENCES leads(id),
    reviewer_id TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('confirm', 'reject')),
    note TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (lead_id, reviewer_id)
);
CREATE TABLE IF NOT EXISTS lead_crops (
    lead_id TEXT NOT NULL REFERENCES leads(id),
    probe   INTEGER NOT NULL,
    jpeg    BLOB NOT NULL,
    PRIMARY KEY (lead_id, probe)
);
CREATE TABLE IF NOT EXISTS rate_hits (
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_hits_key_at ON rate_hits (key, at);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    tenant_id TEXT,
    principal_id TEXT,
    operation TEXT NOT NULL,
    request_id TEXT,
    record TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON audit_log (tenant_id, seq);
CREATE TABLE IF NOT EXISTS audit_applied (
    event_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sigv4_keys (
    access_key_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    secret_sealed TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    binding TEXT NOT NULL,
    label TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS sigv4_seen (
    signature TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sigv4_seen_at ON sigv4_seen (seen_at);
CREATE TABLE IF NOT EXISTS console_sessions (
    sid_sha256   TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL,
    key_sealed   BLOB NOT NULL,
    csrf         TEXT NOT NULL,
    last_seen    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_seen ON console_sessions (last_seen);
CREATE TABLE IF NOT EXISTS task_runs (
    task    TEXT PRIMARY KEY,
    next_at REAL NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

AUDIT_TRIGGERS = ("audit_log_no_update", "audit_log_no_delete")


class GovernanceDB:
    """The governance SQLite file; safe to share between threads (one connection each)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()
        private_file(self.path)  # 0600 in a 0700 folder, before SQLite creates it
        conn = self.connection()
        with self.transaction():
            names = {
                r["name"]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"
                )
            }
            self.missing_triggers = (
                [t for t in AUDIT_TRIGGERS if t not in names] if "audit_log" in names else []
            )
            for statement in _statements(SCHEMA):
                conn.execute(statement)
            have = {r["name"] for r in conn.execute("PRAGMA table_info(leads)")}
            additive = ("authorization_ref", "authorization_date", "search", "error_rates")
            for column in additive:
                if column not in have:
                    conn.execute(f"ALTER TABLE leads ADD COLUMN {column} TEXT")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if self.missing_triggers:
            # Someone dropped the append-only triggers: they are back now, and the log says so.
            from faceledger.governance.auditlog import AuditLog
            from faceledger.governance.events import TriggersRestored

            AuditLog(self).append(TriggersRestored(missing_triggers=self.missing_triggers))

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")  # a dropped probe crop is zeroed
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            self._local.conn = conn
            self._local.depth = 0
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested calls join the outermost one."""
        conn = self.connection()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            self._local.depth = 0
            conn.execute("ROLLBACK")
            raise
        self._local.depth = 0
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _statements(script: str) -> list[str]:
    """Split the schema into statements (triggers contain ``;`` inside BEGIN ... END)."""
    out: list[str] = []
    buf = ""
    for line in script.strip().splitlines():
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out
