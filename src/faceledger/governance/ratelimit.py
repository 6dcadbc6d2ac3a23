"""Rate limits: at most N requests per window, per principal or per tenant.

The policy says which limits apply (a decision's ``obligations["rate_limits"]``); a limiter
counts. :class:`SqliteRateLimiter` counts in the governance database, so every worker process
sees the same counts; :class:`MemoryRateLimiter` is for tests and single-process use.
A request is counted only when every limit it is subject to has room (all or nothing).
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from faceledger.governance.db import GovernanceDB


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    requests: int
    per_seconds: int


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: Limit
    retry_after: float
    """Seconds until one more request fits."""


class RateLimiter(Protocol):
    def acquire(self, limits: list[Limit], now: datetime) -> Refusal | None:
        """Count one request against every limit, or none and return the first one full."""
        ...


class SqliteRateLimiter:
    def __init__(self, db: GovernanceDB) -> None:
        self.db = db

    def acquire(self, limits: list[Limit], now: datetime) -> Refusal | None:
        t = now.timestamp()
        with self.db.transaction() as conn:
            for limit in limits:
                conn.execute(
                    "DELETE FROM rate_hits WHERE key = ? AND at <= ?",
                    (limit.key, t - limit.per_seconds),
                )
                row = conn.execute(
                    "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM rate_hits WHERE key = ?",
                    (limit.key,),
                ).fetchone()
                if row["n"] >= limit.requests:
                    return Refusal(limit, max(0.0, row["oldest"] + limit.per_seconds - t))
            for limit in limits:
                conn.execute("INSERT INTO rate_hits (key, at) VALUES (?, ?)", (limit.key, t))
        return None


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def acquire(self, limits: list[Limit], now: datetime) -> Refusal | None:
        t = now.timestamp()
        with self._lock:
            for limit in limits:
                hits = self._hits[limit.key]
                while hits and hits[0] <= t - limit.per_seconds:
                    hits.popleft()
                if len(hits) >= limit.requests:
                    return Refusal(limit, max(0.0, hits[0] + limit.per_seconds - t))
            for limit in limits:
                self._hits[limit.key].append(t)
        return None
