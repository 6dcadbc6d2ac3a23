"""A PostgreSQL connection with the small interface the stores use of :mod:`sqlite3`.

The stores' SQL is written once, in the dialect both engines accept; this module only
translates what cannot be shared:

- ``?`` placeholders become psycopg's ``%s`` (a literal ``%`` becomes ``%%``);
- ``BEGIN IMMEDIATE`` (SQLite's "take the write lock now") becomes ``BEGIN`` followed by a
  transaction-scoped advisory lock on the connection's ``lock_key``: writers to one database
  take turns exactly as SQLite's writers do, across every process and machine. That is what
  keeps the audit chain unbroken (two appenders never read the same head) and what lets a
  server follow committed faces in ``seq`` order (ids are allocated inside the lock, so they
  commit in order);
- a plain ``BEGIN`` (a read snapshot) becomes ``BEGIN ISOLATION LEVEL REPEATABLE READ``, one
  snapshot for every statement inside, as SQLite's read transactions are.

Rows can be read by position and by column name (``row[0]``, ``row["name"]``), like
``sqlite3.Row``. Integrity errors keep their psycopg class; catch :data:`INTEGRITY_ERRORS`.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from faceledger.errors import FaceledgerError
from faceledger.sql.url import redacted

try:  # the [postgres] extra
    import psycopg
    from psycopg.rows import RowMaker
except ImportError:  # pragma: no cover - exercised where the extra is absent
    psycopg = None  # type: ignore[assignment]

INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError,) + (
    (psycopg.IntegrityError,) if psycopg is not None else ()
)
"""Catch these for a unique or foreign-key violation on either engine."""


def require_psycopg() -> None:
    if psycopg is None:
        raise FaceledgerError(
            "FACELEDGER_DATABASE_URL names PostgreSQL, but psycopg is not installed:"
            " pip install 'faceledger[postgres]'",
            code="invalid_settings",
        )


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Row(tuple):  # noqa: SLOT001 - a tuple with names, like sqlite3.Row
    _names: dict[str, int]

    def __new__(cls, values: Iterable[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return super().__getitem__(self._names[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> RowMaker[Row]:
    names = {d.name: i for i, d in enumerate(cursor.description or ())}
    return lambda values: Row(values, names)


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """``?`` → ``%s`` and ``%`` → ``%%``, outside quoted strings and identifiers."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
            out.append("%%" if ch == "%" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def _params(params: Sequence[Any] | None) -> Sequence[Any] | None:
    if params is None:
        return None
    # SQLite stores booleans as 0/1 in INTEGER columns; so does PostgreSQL here
    return [int(p) if isinstance(p, bool) else p for p in params]


class Cursor:
    """The result of one statement: rows, ``rowcount``, iteration."""

    def __init__(self, cur: Any, rowcount: int | None = None) -> None:
        self._cur = cur
        self.rowcount = cur.rowcount if rowcount is None else rowcount

    def fetchone(self) -> Row | None:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Row]:
        return self._cur.fetchall() if self._cur.description else []

    def fetchmany(self, size: int) -> list[Row]:
        return self._cur.fetchmany(size) if self._cur.description else []

    def __iter__(self) -> Iterator[Row]:
        return iter(self._cur) if self._cur.description else iter(())


class Connection:
    """One PostgreSQL session in autocommit mode: transactions are the explicit ``BEGIN`` /
    ``COMMIT`` / ``ROLLBACK`` statements the stores issue, as with ``isolation_level=None``."""

    def __init__(self, url: str, *, lock_key: int, application_name: str = "faceledger") -> None:
        require_psycopg()
        self.url = url
        self.lock_key = lock_key
        try:
            self._conn = psycopg.connect(
                url, autocommit=True, row_factory=_row_factory, application_name=application_name
            )
        except psycopg.OperationalError as e:
            raise FaceledgerError(
                f"cannot connect to PostgreSQL at {redacted(url)}: {str(e).strip()}"
                " (is the server running, and does FACELEDGER_DATABASE_URL name it?)",
                code="store_error",
            ) from None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        head = sql.strip().upper()
        if head == "BEGIN IMMEDIATE":
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
            return Cursor(self._conn.cursor())
        if head in ("BEGIN", "BEGIN DEFERRED"):
            self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            return Cursor(self._conn.cursor())
        cur = self._conn.cursor()
        if params:
            cur.execute(translate(sql), _params(params))
        else:  # no placeholders to fill: the text as written (a LIKE '%x%' stays as it is)
            cur.execute(sql)
        return Cursor(cur)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Cursor:
        cur = self._conn.cursor()
        total = 0
        query = translate(sql)
        for params in seq:
            cur.execute(query, _params(params))
            total += max(cur.rowcount, 0)
        return Cursor(cur, rowcount=total)

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        """A server-side cursor (rows fetched as they are read: a whole collection's
        embeddings never sit in memory twice). Call inside a transaction."""
        cur = self._conn.cursor(name=f"stream_{id(self):x}")
        cur.execute(translate(sql), _params(params))
        return Cursor(cur)

    def close(self) -> None:
        self._conn.close()

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
