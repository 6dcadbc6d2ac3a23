"""Helpers for the governance tests (pytest puts this folder on sys.path)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from faceledger.governance.context import RequestContext


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def make_ctx(
    principal: str = "acct_op",
    tenant: str = "org_a",
    actor_class: str = "commercial",
    roles: tuple[str, ...] = ("operator",),
    purpose: str | None = None,
    case_ref: str | None = None,
    authorization_ref: str | None = None,
    authorization_date: date | None = None,
) -> RequestContext:
    return RequestContext(
        principal_id=principal,
        tenant_id=tenant,
        actor_class=actor_class,
        roles=frozenset(roles),
        purpose=purpose,
        case_ref=case_ref,
        authorization_ref=authorization_ref,
        authorization_date=authorization_date,
    )


ctx = make_ctx


def attacker(db, *, drop: tuple[str, ...] = ()):
    """What an attacker with the database has (the SQLite file, or PostgreSQL's password):
    a plain connection, here with ``?`` placeholders on both engines, and autocommit."""
    import sqlite3

    if db.postgres:
        from faceledger.sql.postgres import Connection

        conn = Connection(db.url, lock_key=0)
        for trigger in drop:
            conn.execute(f"DROP TRIGGER {trigger} ON audit_log")
        return conn
    conn = sqlite3.connect(db.path, isolation_level=None)
    for trigger in drop:
        conn.execute(f"DROP TRIGGER {trigger}")
    return conn


def database_errors() -> tuple[type[Exception], ...]:
    import sqlite3

    from faceledger.sql.postgres import INTEGRITY_ERRORS, psycopg

    return (sqlite3.DatabaseError, *INTEGRITY_ERRORS) + ((psycopg.Error,) if psycopg else ())


def dump(db) -> str:
    """Every value in every table, as text (``iterdump`` of the file, or of the database)."""
    conn = attacker(db)
    if not db.postgres:
        return "\n".join(conn.iterdump())
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    ]
    return "\n".join(str(row) for t in tables for row in conn.execute(f"SELECT * FROM {t}"))
