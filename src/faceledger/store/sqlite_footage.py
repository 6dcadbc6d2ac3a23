"""The footage tables of the SQLite store (cameras, footage requests, shares), as a mixin of
``SQLiteStore`` (added by :func:`migrate`: three new tables)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faceledger.store.base import NotFoundError
from faceledger.store.footage import Camera, FootageRequest, FootageStore, Share

if TYPE_CHECKING:
    from faceledger.sql.ddl import DDL
    from faceledger.store.sqlite import SQLiteStore

FOOTAGE_SCHEMA = """
CREATE TABLE IF NOT EXISTS cameras (
    camera_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL,
    lat REAL NOT NULL, lon REAL NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cameras_by_tenant ON cameras (tenant_id);
CREATE TABLE IF NOT EXISTS footage_requests (
    request_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, principal_id TEXT NOT NULL,
    case_ref TEXT NOT NULL, purpose TEXT NOT NULL, reason TEXT NOT NULL, event_type TEXT,
    start_at TEXT NOT NULL, end_at TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL,
    radius_m REAL NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS footage_shares (
    share_id TEXT PRIMARY KEY, request_id TEXT NOT NULL REFERENCES footage_requests(request_id),
    owner_tenant_id TEXT NOT NULL, camera_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('shared', 'declined', 'revoked', 'searched')),
    clip_sha256 TEXT, spool TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    clip_start TEXT
);
CREATE INDEX IF NOT EXISTS shares_by_request ON footage_shares (request_id)
"""
_REQUEST = (
    "request_id, tenant_id, principal_id, case_ref, purpose, reason, event_type, start_at,"
    " end_at, lat, lon, radius_m, created_at, expires_at"
)
_SHARE = (
    "share_id, request_id, owner_tenant_id, camera_id, status, clip_sha256, spool, created_at,"
    " updated_at, clip_start"
)


def migrate(ddl: DDL) -> None:
    """Create what is missing (in the baseline migration); idempotent."""
    ddl.run(FOOTAGE_SCHEMA)
    ddl.add_columns("footage_shares", {"clip_start": "TEXT"})  # clips carry their start time


class SQLiteFootage(FootageStore):
    """Mixed into ``SQLiteStore``: uses its connection, lock and transactions."""

    def add_camera(self: SQLiteStore, camera: Camera) -> Camera:
        with self._write() as c:
            c.execute(
                "INSERT INTO cameras VALUES (?,?,?,?,?,?)",
                (camera.camera_id, camera.tenant_id, camera.name, camera.lat, camera.lon,
                 camera.created_at),
            )  # fmt: skip
        return camera

    def cameras(self: SQLiteStore, tenant_id: str) -> list[Camera]:
        with self._read() as c:
            rows = c.execute(
                "SELECT * FROM cameras WHERE tenant_id = ? ORDER BY created_at", (tenant_id,)
            ).fetchall()
        return [Camera(*r) for r in rows]

    def add_footage_request(self: SQLiteStore, request: FootageRequest) -> FootageRequest:
        with self._write() as c:
            c.execute(
                f"INSERT INTO footage_requests ({_REQUEST}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                tuple(getattr(request, k.strip()) for k in _REQUEST.split(",")),
            )
        return request

    def get_footage_request(self: SQLiteStore, request_id: str) -> FootageRequest:
        with self._read() as c:
            row = c.execute(
                f"SELECT {_REQUEST} FROM footage_requests WHERE request_id = ?", (request_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"footage request {request_id!r} not found")
        return FootageRequest(*row)

    def footage_requests(self: SQLiteStore, tenant_id: str) -> list[FootageRequest]:
        with self._read() as c:
            rows = c.execute(
                f"SELECT {_REQUEST} FROM footage_requests WHERE tenant_id = ?"
                " ORDER BY created_at DESC, request_id DESC",
                (tenant_id,),
            ).fetchall()
        return [FootageRequest(*row) for row in rows]

    def open_footage_requests(self: SQLiteStore, now: str) -> list[FootageRequest]:
        with self._read() as c:
            rows = c.execute(
                f"SELECT {_REQUEST} FROM footage_requests WHERE expires_at > ?"
                " ORDER BY created_at, request_id",
                (now,),
            ).fetchall()
        return [FootageRequest(*r) for r in rows]

    def add_share(self: SQLiteStore, share: Share) -> Share:
        with self._write() as c:
            c.execute(
                f"INSERT INTO footage_shares ({_SHARE}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                tuple(getattr(share, k.strip()) for k in _SHARE.split(",")),
            )
        return share

    def get_share(self: SQLiteStore, share_id: str) -> Share:
        with self._read() as c:
            row = c.execute(
                f"SELECT {_SHARE} FROM footage_shares WHERE share_id = ?", (share_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"share {share_id!r} not found")
        return Share(*row)

    def shares(
        self: SQLiteStore, request_id: str, *, owner_tenant_id: str | None = None
    ) -> list[Share]:
        sql = f"SELECT {_SHARE} FROM footage_shares WHERE request_id = ?"
        args: tuple[Any, ...] = (request_id,)
        if owner_tenant_id is not None:
            sql, args = sql + " AND owner_tenant_id = ?", (*args, owner_tenant_id)
        with self._read() as c:
            rows = c.execute(sql + " ORDER BY created_at", args).fetchall()
        return [Share(*r) for r in rows]

    def set_share_status(self: SQLiteStore, share_id: str, status: str, *, at: str) -> Share:
        with self._write() as c:
            c.execute(
                "UPDATE footage_shares SET status = ?, updated_at = ?,"
                " spool = CASE WHEN ? IN ('revoked', 'searched') THEN NULL ELSE spool END"
                " WHERE share_id = ?",
                (status, at, status, share_id),
            )
        return self.get_share(share_id)

    def inbox_page_token(self: SQLiteStore, tenant_id: str, last: FootageRequest) -> str:
        return self._tokens.encode(
            ("footage-inbox", tenant_id), f"{last.created_at}|{last.request_id}"
        )

    def inbox_page_after(self: SQLiteStore, tenant_id: str, token: str | None) -> tuple[str, str]:
        """The (created_at, request_id) a page token says the previous page ended at."""
        value = self._tokens.decode(("footage-inbox", tenant_id), token, str)
        created_at, _, request_id = str(value or "").partition("|")
        return created_at, request_id
