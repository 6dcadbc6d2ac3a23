"""Helpers of the browser tests: the site under test and what a search declares."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

CHROMIUM = os.environ.get("FACELEDGER_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ROLES = {
    "operator": ["operator"],
    "reviewer": ["reviewer"],
    "reviewer2": ["operator", "reviewer"],
    "auditor": ["auditor"],
    "admin": ["admin"],
}


@dataclass
class Site:
    base: str
    root: Path
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    shots: Path | None = None

    def api(self, org: str, role: str, **declared: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[org][role]}", **declared}


def declarations() -> dict[str, str]:
    return {
        "X-Purpose": "missing-person",
        "X-Case-Ref": "MP-2026-0042",
        "X-Authorization-Ref": "W-7731",
        "X-Authorization-Date": (date.today() - timedelta(days=3)).isoformat(),
    }
