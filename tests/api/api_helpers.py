"""A governed world for the HTTP tests: two law-enforcement organizations with one account per
role (and one operator who is also a reviewer), an app on a temporary data folder with an
injected clock, and the real engine on the public-domain portraits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from faceledger.api import create_app
from faceledger.governance import AuditLog, GovernanceDB, Principals

ROLES = ("admin", "operator", "reviewer", "auditor")
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime | str) -> None:
        self.now = datetime.fromisoformat(when) if isinstance(when, str) else when


@dataclass
class Org:
    id: str
    name: str
    keys: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    root: Path
    clock: Clock
    client: TestClient
    orgs: dict[str, Org]
    db: GovernanceDB
    app: Any = None

    def headers(self, org: str, role: str, **declared: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.orgs[org].keys[role]}", **declared}

    def records(self, **where: Any) -> list[dict[str, Any]]:
        out = []
        for rec in AuditLog(self.db).records():
            if all(rec.body.get(k) == v for k, v in where.items()):
                out.append(rec.body)
        return out


def missing_person(today: date, **extra: str) -> dict[str, str]:
    """Declarations the default policy asks of a law-enforcement search: a missing person."""
    return {
        "X-Purpose": "missing-person",
        "X-Case-Ref": "MP-2024-17",
        "X-Authorization-Ref": "W-4411",
        "X-Authorization-Date": (today - timedelta(days=3)).isoformat(),
        **extra,
    }


def make_world(
    tmp_path: Path,
    engine: Any,
    *,
    actor_class: str = "law-enforcement",
    policy: Path | None = None,
    max_body: int = 10 * 1024 * 1024,
    model: str | None = None,
) -> World:
    root = tmp_path / "data"
    db = GovernanceDB(root / "governance.sqlite3")
    principals = Principals(db)
    orgs = {}
    for name in ("A", "B"):
        org = principals.create_org(f"org-{name}", actor_class)
        entry = Org(org.id, org.name)
        for role in ROLES:
            acct = principals.create_account(org.id, role, [role])
            entry.accounts[role] = acct.id
            entry.keys[role] = principals.create_key(acct.id).api_key
        both = principals.create_account(org.id, "operator-reviewer", ["operator", "reviewer"])
        entry.accounts["operator+reviewer"] = both.id
        entry.keys["operator+reviewer"] = principals.create_key(both.id).api_key
        orgs[name] = entry
    clock = Clock()
    app = create_app(root, policy, engine, clock=clock, max_body=max_body, model=model)
    client = TestClient(app, raise_server_exceptions=False)
    return World(root, clock, client, orgs, db, app)


def upload(path: Path | bytes, name: str = "image", filename: str = "face.jpg") -> dict:
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    return {name: (filename, data, "image/jpeg")}


def add_org(
    world: World, name: str, actor_class: str, roles: tuple[str, ...] = ("operator",)
) -> Org:
    """Another organization in the world (a camera owner, say), one account with ``roles``."""
    principals = Principals(world.db)
    org = principals.create_org(name, actor_class)
    entry = Org(org.id, org.name)
    acct = principals.create_account(org.id, "+".join(roles), list(roles))
    entry.accounts["+".join(roles)] = acct.id
    entry.keys["+".join(roles)] = principals.create_key(acct.id).api_key
    world.orgs[name] = entry
    return entry
