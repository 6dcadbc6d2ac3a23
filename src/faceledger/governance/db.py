"""The governance database: principals, review leads, rate-limit hits and the audit log.

One SQLite file (WAL) in the data folder, or the PostgreSQL database ``FACELEDGER_DATABASE_URL``
names; one connection per thread. They share one database, so that a review step and its audit
event commit together. Writes go through :meth:`GovernanceDB.transaction`, which begins
``IMMEDIATE`` (the write lock is taken before anything is read, so two writers never read the
same audit-log head; on PostgreSQL a transaction-scoped advisory lock, the same across every
process and machine) and nests: an inner ``transaction()`` joins the outer one. The tables are
made and migrated by Alembic (``migrations/governance``, ``governance/schema.py``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from faceledger.governance.schema import audit_triggers, create_triggers, present_triggers
from faceledger.settings import private_dir, private_file
from faceledger.sql import migrate
from faceledger.sql.postgres import Connection, lock_key
from faceledger.sql.url import database_url

FROM_ENVIRONMENT: Any = object()
"""``url`` default: PostgreSQL when ``FACELEDGER_DATABASE_URL`` names it, else the file."""


class GovernanceDB:
    """The governance database; safe to share between threads (one connection each)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        url: str | None = FROM_ENVIRONMENT,
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.url = database_url() if url is FROM_ENVIRONMENT else url
        self.postgres = self.url is not None
        self._local = threading.local()
        if self.postgres:
            private_dir(self.path.parent)  # the data folder still holds keys and the policy
        else:
            private_file(self.path)  # 0600 in a 0700 folder, before SQLite creates it
        conn = self.connection()
        migrate.upgrade("governance", conn, sqlite_path=self.path, url=self.url)
        with self.transaction():
            present = present_triggers(conn, postgres=self.postgres)
            self.missing_triggers = [t for t in self.audit_triggers if t not in present]
            if self.missing_triggers:
                create_triggers(conn.execute, postgres=self.postgres)
        if self.missing_triggers:
            # Someone dropped the append-only triggers: they are back now, and the log says so.
            from faceledger.governance.auditlog import AuditLog
            from faceledger.governance.events import TriggersRestored

            AuditLog(self).append(TriggersRestored(missing_triggers=self.missing_triggers))

    @property
    def audit_triggers(self) -> tuple[str, ...]:
        return audit_triggers(self.postgres)

    def triggers(self) -> set[str]:
        """The append-only triggers present on the audit log now."""
        return present_triggers(self.connection(), postgres=self.postgres)

    def connection(self) -> Any:
        """This thread's connection: a ``sqlite3.Connection`` or a
        :class:`faceledger.sql.postgres.Connection` (the same interface, rows by name too)."""
        conn = getattr(self._local, "conn", None)
        if conn is None and self.postgres:
            conn = Connection(self.url, lock_key=lock_key("faceledger.governance"))
            self._local.conn = conn
            self._local.depth = 0
        elif conn is None:
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
    def transaction(self) -> Iterator[Any]:
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
