"""Time in governance is UTC, aware, and injectable (tests pass their own clock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    """``2024-05-01T12:00:00.000000Z``: fixed width, sorts as text."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: governance times must be timezone-aware")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
