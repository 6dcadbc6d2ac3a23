"""Failed authentications in the audit log, without letting outsiders flood it.

A presented API key that does not authenticate is an access attempt worth keeping, but anyone
can send one, as fast as they like. So within a window of :data:`WINDOW_SECONDS` the log keeps
one record per attempt (``http.unauthenticated``) only for the first :data:`PER_CLIENT`
attempts of each client address, and for :data:`PER_WINDOW` attempts in all. The others are
counted, and summed up in one ``http.unauthenticated.suppressed`` record (an
:class:`~faceledger.governance.events.Unauthenticated` event: ``outcome.count`` attempts, and
in ``request`` the window, the addresses and example key ids) once the window has closed:
written by the next request that reaches the service (of anyone), or when the app closes or
shuts down. So a window adds at most ``PER_WINDOW + 1`` records whatever is sent, and every
attempt is accounted for: as a record, or in a summary's ``count``.

Memory is bounded too: at most :data:`MAX_CLIENTS` addresses are counted one by one (the rest
as ``other_clients``; a summary names the :data:`MAX_LISTED_CLIENTS` busiest),
:data:`MAX_KEY_IDS` key ids are kept as examples, and distinct key ids are counted up to
:data:`MAX_DISTINCT`. The counts live in the server process: a crash loses the summary of the
current window (at most one window of suppressed attempts).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from faceledger.governance.auditlog import AuditLog
from faceledger.governance.clock import Clock, iso, utc_now
from faceledger.governance.events import Unauthenticated

WINDOW_SECONDS = 60
PER_CLIENT = 10
"""Attempts of one client address recorded one by one per window."""
PER_WINDOW = 100
"""Attempts recorded one by one per window, all clients together."""
MAX_CLIENTS = 1024
MAX_LISTED_CLIENTS = 20
MAX_KEY_IDS = 20
MAX_DISTINCT = 1000


class UnauthenticatedLog:
    """Thread-safe; one per app (``app.state.unauthenticated``)."""

    def __init__(
        self,
        auditlog: AuditLog,
        clock: Clock = utc_now,
        *,
        window_seconds: float = WINDOW_SECONDS,
        per_client: int = PER_CLIENT,
        per_window: int = PER_WINDOW,
    ) -> None:
        self.auditlog = auditlog
        self.clock = clock
        self.window = timedelta(seconds=window_seconds)
        self.per_client = per_client
        self.per_window = per_window
        self._lock = threading.Lock()
        self._reset(None)

    def _reset(self, start: datetime | None) -> None:
        self._start = start
        self._recorded = 0
        self._per_client: Counter[str] = Counter()
        self._suppressed = 0
        self._suppressed_by_client: Counter[str] = Counter()
        self._other_clients = 0
        self._key_ids: list[str] = []
        self._distinct: set[str] = set()
        self._without_key_id = 0

    def record(self, event: Unauthenticated, *, client: str | None, key_id: str | None) -> None:
        """Append ``event`` (one failed attempt) unless this window has had enough of them."""
        now = self.clock()
        client = client or "unknown"
        with self._lock:
            summary = self._close(now, force=False)
            if self._start is None:
                self._start = now
            counted = client in self._per_client or len(self._per_client) < MAX_CLIENTS
            seen = self._per_client[client] if counted else self.per_client
            keep = seen < self.per_client and self._recorded < self.per_window
            if counted:
                self._per_client[client] += 1
            if keep:
                self._recorded += 1
            else:
                self._suppress(client if counted else None, key_id)
        if summary is not None:
            self.auditlog.append(summary)
        if keep:
            self.auditlog.append(event)

    def flush(self, *, force: bool = False) -> None:
        """Write the summary of a closed window (``force``: of the current one too)."""
        with self._lock:
            summary = self._close(self.clock(), force=force)
        if summary is not None:
            self.auditlog.append(summary)

    def _suppress(self, client: str | None, key_id: str | None) -> None:
        self._suppressed += 1
        if client is None:
            self._other_clients += 1
        else:
            self._suppressed_by_client[client] += 1
        if key_id is None:
            self._without_key_id += 1
            return
        if len(self._distinct) < MAX_DISTINCT:
            self._distinct.add(key_id)
        if len(self._key_ids) < MAX_KEY_IDS and key_id not in self._key_ids:
            self._key_ids.append(key_id)

    def _close(self, now: datetime, *, force: bool) -> Unauthenticated | None:
        """The summary of the window if it is over (or ``force``), and a fresh window."""
        if self._start is None or (not force and now < self._start + self.window):
            return None
        start = self._start
        end = max(start, min(now, start + self.window))
        summary = None
        if self._suppressed:
            summary = self._summary(start, end)
        self._reset(None)
        return summary

    def _summary(self, start: datetime, end: datetime) -> Unauthenticated:
        n = self._suppressed
        top = self._suppressed_by_client.most_common(MAX_LISTED_CLIENTS)
        stats: dict[str, Any] = {
            "window_start": iso(start),
            "window_end": iso(end),
            "clients": dict(top),
            "other_clients": n - sum(count for _, count in top),
            "key_ids": list(self._key_ids),
            "distinct_key_ids": len(self._distinct),
            "distinct_key_ids_capped": len(self._distinct) >= MAX_DISTINCT,
            "without_key_id": self._without_key_id,
        }
        return Unauthenticated(
            operation="http.unauthenticated.suppressed",
            request_id=None,
            method=None,
            path=None,
            key_id=None,
            reason=(
                f"{n} more failed authentication{'s' * (n != 1)} in this window, not recorded "
                f"one by one (at most {self.per_client} per client address and "
                f"{self.per_window} in all per {self.window.total_seconds():g} s)."
            ),
            code="unauthorized",
            count=n,
            extra=stats,
        )
