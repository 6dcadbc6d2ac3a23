"""The governance tables, as the baseline migration creates them (``migrations/governance``),
and the audit log's append-only triggers, which every open checks and puts back.

Written once for SQLite; :class:`faceledger.sql.ddl.DDL` rewrites the tables for PostgreSQL.
The triggers differ: SQLite's ``RAISE(ABORT)`` triggers, PostgreSQL's trigger function (also
refusing ``TRUNCATE``). A change after this baseline is a new Alembic revision.
"""

from __future__ import annotations

from faceledger.sql.ddl import DDL

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
"""

LEAD_COLUMNS = {
    "authorization_ref": "TEXT",
    "authorization_date": "TEXT",
    "search": "TEXT",
    "error_rates": "TEXT",
}

SQLITE_TRIGGERS = {
    "audit_log_no_update": "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON"
    " audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "audit_log_no_delete": "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON"
    " audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
}
POSTGRES_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$"
)
POSTGRES_TRIGGERS = {
    "audit_log_no_update": "CREATE OR REPLACE TRIGGER audit_log_no_update BEFORE UPDATE ON"
    " audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "audit_log_no_delete": "CREATE OR REPLACE TRIGGER audit_log_no_delete BEFORE DELETE ON"
    " audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "audit_log_no_truncate": "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE"
    " ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
}


def audit_triggers(postgres: bool) -> tuple[str, ...]:
    return tuple(POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS)


def present_triggers(conn: object, *, postgres: bool) -> set[str]:
    """The names of the triggers on ``audit_log`` now."""
    if postgres:
        sql = (
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            " AND tgrelid = to_regclass('audit_log')"
        )
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"
    return {r[0] for r in conn.execute(sql)}  # type: ignore[attr-defined]


def create_triggers(execute: object, *, postgres: bool) -> None:
    """(Re)create the append-only triggers; idempotent."""
    if postgres:
        execute(POSTGRES_FUNCTION)  # type: ignore[operator]
    for statement in (POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS).values():
        execute(statement)  # type: ignore[operator]


def create(ddl: DDL) -> None:
    """Create what is missing; idempotent (also for files from before versioned migrations)."""
    ddl.run(SCHEMA)
    ddl.add_columns("leads", LEAD_COLUMNS)
    create_triggers(ddl.execute, postgres=ddl.postgres)
