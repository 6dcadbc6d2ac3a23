"""Console sessions: an API key given once at sign-in, kept on the server, never in the browser.

The browser holds only a random session id in a cookie (HttpOnly, SameSite=Strict, Secure when
served over HTTPS, path /console). The server keeps the key (so that a revoked key ends its
sessions at the next request: every request authenticates it again), a CSRF token every form
must return, and the time of the last request: a session idle longer than ``idle_seconds`` is
gone. Sessions live in the server's memory: a restart signs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

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
    last_seen: float = field(default_factory=time.monotonic)

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), str(token).encode())


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    """Sessions by the SHA-256 of their id (the id itself is only in the browser's cookie)."""

    def __init__(self, idle_seconds: float = DEFAULT_IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, key: str, principal_id: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(key, principal_id)
        with self._lock:
            self._expire()
            if len(self._sessions) >= MAX_SESSIONS:  # the oldest idle one makes room
                oldest = min(self._sessions, key=lambda k: self._sessions[k].last_seen)
                del self._sessions[oldest]
            self._sessions[_digest(sid)] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session of this id (its idle clock restarted), or None."""
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(_digest(sid))
            if session is None:
                return None
            if now - session.last_seen > self.idle_seconds:
                del self._sessions[_digest(sid)]
                return None
            session.last_seen = now
            return session

    def drop(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._sessions.pop(_digest(sid), None)

    def _expire(self) -> None:
        now = time.monotonic()
        for k in [k for k, s in self._sessions.items() if now - s.last_seen > self.idle_seconds]:
            del self._sessions[k]
