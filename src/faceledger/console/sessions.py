"""Console sessions: an API key given once at sign-in, kept on the server, never in the browser.

The browser holds only a random session id in a cookie (HttpOnly, SameSite=Strict, Secure when
served over HTTPS, path /console). The server keeps the key (so that a revoked key ends its
sessions at the next request: every request authenticates it again), a CSRF token every form
must return, and the time of the last request: a session idle longer than ``idle_seconds`` is
gone.

Sessions live in the governance database (table ``console_sessions``), so that every process
of ``faceledger serve --workers N`` knows them and a restart keeps them. A row holds the
SHA-256 of the session id (never the id) and the API key sealed with a key stream derived from
the session id (SHAKE-256 of the id, a one-time pad: the id has 256 random bits and is used for
nothing else): the database alone gives neither a session nor a key; the browser's cookie
unseals its own key only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from faceledger.governance.db import GovernanceDB

COOKIE = "faceledger_console"
SIGNIN_COOKIE = "faceledger_console_signin"
"""Double-submit token of the sign-in form (there is no session yet to hold it)."""
DEFAULT_IDLE_SECONDS = 15 * 60
MAX_SESSIONS = 10_000


@dataclass(slots=True)
class Session:
    key: str
    principal_id: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.time)

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), str(token).encode())


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _pad(sid: str, n: int) -> bytes:
    return hashlib.shake_256(b"faceledger console key\0" + sid.encode()).digest(n)


def _seal(sid: str, key: str) -> bytes:
    data = key.encode()
    return bytes(a ^ b for a, b in zip(data, _pad(sid, len(data)), strict=True))


def _unseal(sid: str, sealed: bytes) -> str:
    return bytes(a ^ b for a, b in zip(sealed, _pad(sid, len(sealed)), strict=True)).decode()


class SessionStore:
    """Sessions by the SHA-256 of their id (the id itself is only in the browser's cookie);
    shared by every process on the same governance database."""

    def __init__(self, db: GovernanceDB, idle_seconds: float = DEFAULT_IDLE_SECONDS) -> None:
        self.db = db
        self.idle_seconds = idle_seconds

    def create(self, key: str, principal_id: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(key, principal_id)
        with self.db.transaction() as conn:
            self._expire(conn, session.last_seen)
            (n,) = conn.execute("SELECT COUNT(*) FROM console_sessions").fetchone()
            if n >= MAX_SESSIONS:  # the oldest idle ones make room
                conn.execute(
                    "DELETE FROM console_sessions WHERE sid_sha256 IN (SELECT sid_sha256 FROM "
                    "console_sessions ORDER BY last_seen LIMIT ?)",
                    (n - MAX_SESSIONS + 1,),
                )
            conn.execute(
                "INSERT INTO console_sessions (sid_sha256, principal_id, key_sealed, csrf,"
                " last_seen) VALUES (?, ?, ?, ?, ?)",
                (_digest(sid), principal_id, _seal(sid, key), session.csrf, session.last_seen),
            )
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session of this id (its idle clock restarted), or None."""
        if not sid:
            return None
        now = time.time()
        digest = _digest(sid)
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT principal_id, key_sealed, csrf, last_seen FROM console_sessions"
                " WHERE sid_sha256 = ?",
                (digest,),
            ).fetchone()
            if row is None:
                return None
            if now - row["last_seen"] > self.idle_seconds:
                conn.execute("DELETE FROM console_sessions WHERE sid_sha256 = ?", (digest,))
                return None
            conn.execute(
                "UPDATE console_sessions SET last_seen = ? WHERE sid_sha256 = ?", (now, digest)
            )
        return Session(_unseal(sid, row["key_sealed"]), row["principal_id"], row["csrf"], now)

    def drop(self, sid: str | None) -> None:
        if sid:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM console_sessions WHERE sid_sha256 = ?", (_digest(sid),))

    def _expire(self, conn: object, now: float) -> None:
        conn.execute(  # type: ignore[attr-defined]
            "DELETE FROM console_sessions WHERE last_seen < ?", (now - self.idle_seconds,)
        )
