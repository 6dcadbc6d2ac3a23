"""Client request tokens in the SQLite store (``store.idempotency``), as a mixin of
``SQLiteStore``: one table, added by :func:`migrate` (additive), its rows deleted with their
collection (foreign key, ``ON DELETE CASCADE``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from faceledger.store.idempotency import KEEP_SECONDS, IdempotencyStore, RememberedRequest

if TYPE_CHECKING:
    from faceledger.sql.ddl import DDL
    from faceledger.store.sqlite import SQLiteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS request_tokens (
    tenant_id     TEXT NOT NULL,
    token         TEXT NOT NULL,
    collection_pk INTEGER NOT NULL REFERENCES collections(pk) ON DELETE CASCADE,
    operation     TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    result        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, token)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS request_tokens_by_time ON request_tokens (created_at)
"""


def migrate(ddl: DDL) -> None:
    """Create what is missing (in the baseline migration); idempotent."""
    ddl.run(SCHEMA)


def _cutoff() -> str:
    then = datetime.now(UTC) - timedelta(seconds=KEEP_SECONDS)
    return then.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SQLiteIdempotency(IdempotencyStore):
    """Mixed into ``SQLiteStore``: uses its connection, lock and transactions."""

    def remembered_request(
        self: SQLiteStore, tenant_id: str, token: str
    ) -> RememberedRequest | None:
        with self._read() as c:
            row = c.execute(
                "SELECT operation, fingerprint, result, created_at FROM request_tokens"
                " WHERE tenant_id = ? AND token = ? AND created_at >= ?",
                (tenant_id, token, _cutoff()),
            ).fetchone()
        return RememberedRequest(*row) if row else None

    def remember_request(
        self: SQLiteStore,
        tenant_id: str,
        token: str,
        collection_id: str,
        request: RememberedRequest,
    ) -> None:
        with self._write() as c:
            col = self._collection(tenant_id, collection_id)
            c.execute("DELETE FROM request_tokens WHERE created_at < ?", (_cutoff(),))
            c.execute(
                "INSERT INTO request_tokens (tenant_id, token, collection_pk, operation,"
                " fingerprint, result, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant_id, token) DO UPDATE SET collection_pk ="
                " excluded.collection_pk, operation = excluded.operation, fingerprint ="
                " excluded.fingerprint, result = excluded.result, created_at = excluded.created_at",
                (
                    tenant_id, token, col.pk, request.operation, request.fingerprint,
                    request.result, request.created_at,
                ),
            )  # fmt: skip
