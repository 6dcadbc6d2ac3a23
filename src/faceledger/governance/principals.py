"""Organizations (tenants), accounts with roles, and API keys.

An organization has an actor class (law-enforcement, child-protection, research, commercial, ...:
the closed list of :mod:`faceledger.governance.vocabulary`), which the policy matches on. An
account belongs to one organization and holds roles (admin, operator, reviewer, auditor). An API
key belongs to one account.

API keys look like ``flk_<key id>_<secret>``: the key id (16 hex digits) finds the row in O(1);
the secret is 256 random bits, stored only as its SHA-256 (a slow hash adds nothing for a secret
this long) and compared in constant time. The full key is returned once, when it is created.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

from faceledger.governance.clock import Clock, iso, utc_now
from faceledger.governance.context import RequestContext
from faceledger.governance.db import GovernanceDB
from faceledger.governance.errors import (
    AuthError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
)
from faceledger.governance.vocabulary import ACTOR_CLASSES, ROLES, check_actor_class, check_role

KEY_PREFIX = "flk"
KNOWN_ACTOR_CLASSES = ACTOR_CLASSES
"""The actor classes an organization may have (no others: see governance.vocabulary)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
_KEY = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{16}})_([0-9a-f]{{64}})$")
EXCLUSIVE_ROLES = frozenset({"auditor"})
"""Separation of duties: an auditor holds no other role."""


@dataclass(frozen=True, slots=True)
class Org:
    id: str
    name: str
    actor_class: str
    created_at: str

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "actor_class": self.actor_class,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    org_id: str
    name: str
    roles: frozenset[str]
    created_at: str

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "org_id": self.org_id,
            "name": self.name,
            "roles": sorted(self.roles),
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    account_id: str
    label: str | None
    created_at: str
    revoked_at: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "account_id": self.account_id,
            "label": self.label,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``api_key`` is the only copy of the secret there will ever be."""

    key_id: str
    account_id: str
    api_key: str
    created_at: str


def hash_secret(key_id: str, secret: str) -> str:
    return hashlib.sha256(f"{KEY_PREFIX}:{key_id}:{secret}".encode()).hexdigest()


class Principals:
    """The directory of organizations, accounts and API keys in the governance database."""

    def __init__(self, db: GovernanceDB, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    # organizations -----------------------------------------------------------------------------

    def create_org(self, name: str, actor_class: str) -> Org:
        _check_name(name, "organization name")
        check_actor_class(actor_class)
        org = Org(_new_id("org"), name, actor_class, iso(self.clock()))
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM orgs WHERE name = ?", (name,)).fetchone():
                raise ConflictError(f"organization {name!r} exists already")
            conn.execute(
                "INSERT INTO orgs (id, name, actor_class, created_at) VALUES (?, ?, ?, ?)",
                (org.id, org.name, org.actor_class, org.created_at),
            )
        return org

    def get_org(self, ref: str) -> Org:
        """An organization by id or name."""
        row = (
            self.db.connection()
            .execute("SELECT * FROM orgs WHERE id = ? OR name = ? ORDER BY id = ? DESC", (ref,) * 3)
            .fetchone()
        )
        if row is None:
            raise NotFoundError(f"no organization {ref!r}")
        return Org(row["id"], row["name"], row["actor_class"], row["created_at"])

    def list_orgs(self) -> list[Org]:
        rows = self.db.connection().execute("SELECT * FROM orgs ORDER BY name").fetchall()
        return [Org(r["id"], r["name"], r["actor_class"], r["created_at"]) for r in rows]

    # accounts ----------------------------------------------------------------------------------

    def create_account(self, org_ref: str, name: str, roles: list[str] | set[str]) -> Account:
        _check_name(name, "account name")
        role_set = _check_roles(roles)
        org = self.get_org(org_ref)
        account = Account(_new_id("acct"), org.id, name, role_set, iso(self.clock()))
        with self.db.transaction() as conn:
            dup = conn.execute(
                "SELECT 1 FROM accounts WHERE org_id = ? AND name = ?", (org.id, name)
            ).fetchone()
            if dup:
                raise ConflictError(f"account {name!r} exists already in {org.name!r}")
            conn.execute(
                "INSERT INTO accounts (id, org_id, name, roles, created_at) VALUES (?, ?, ?, ?, ?)",
                (account.id, org.id, name, json.dumps(sorted(role_set)), account.created_at),
            )
        return account

    def get_account(self, ref: str) -> Account:
        """An account by id, or by ``ORG/NAME`` (organization id or name)."""
        conn = self.db.connection()
        row = conn.execute("SELECT * FROM accounts WHERE id = ?", (ref,)).fetchone()
        if row is None and "/" in ref:
            org_ref, _, name = ref.rpartition("/")
            try:
                org = self.get_org(org_ref)
            except NotFoundError:
                raise NotFoundError(f"no account {ref!r}") from None
            row = conn.execute(
                "SELECT * FROM accounts WHERE org_id = ? AND name = ?", (org.id, name)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no account {ref!r} (give its id or ORG/NAME)")
        return _account(row)

    def list_accounts(self, org_ref: str | None = None) -> list[Account]:
        conn = self.db.connection()
        if org_ref is None:
            rows = conn.execute("SELECT * FROM accounts ORDER BY org_id, name").fetchall()
        else:
            org = self.get_org(org_ref)
            rows = conn.execute(
                "SELECT * FROM accounts WHERE org_id = ? ORDER BY name", (org.id,)
            ).fetchall()
        return [_account(r) for r in rows]

    # API keys ----------------------------------------------------------------------------------

    def create_key(self, account_ref: str, *, label: str | None = None) -> IssuedKey:
        account = self.get_account(account_ref)
        key_id = secrets.token_hex(8)
        secret = secrets.token_hex(32)
        created = iso(self.clock())
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys (key_id, account_id, secret_sha256, label, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key_id, account.id, hash_secret(key_id, secret), label, created),
            )
        return IssuedKey(key_id, account.id, f"{KEY_PREFIX}_{key_id}_{secret}", created)

    def revoke_key(self, key_id: str) -> KeyInfo:
        key_id = _key_id_of(key_id)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no API key {key_id!r}")
            if row["revoked_at"] is not None:
                raise ConflictError(f"API key {key_id} was revoked at {row['revoked_at']}")
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", (iso(self.clock()), key_id)
            )
            row = conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        return _key(row)

    def list_keys(self, account_ref: str | None = None) -> list[KeyInfo]:
        conn = self.db.connection()
        if account_ref is None:
            rows = conn.execute("SELECT * FROM api_keys ORDER BY created_at").fetchall()
        else:
            account = self.get_account(account_ref)
            rows = conn.execute(
                "SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_at", (account.id,)
            ).fetchall()
        return [_key(r) for r in rows]

    def authenticate(self, api_key: str, *, request_id: str | None = None) -> RequestContext:
        """The context of the key's account (no purpose yet), or :class:`AuthError`."""
        match = _KEY.match(api_key.strip()) if isinstance(api_key, str) else None
        if match is None:
            raise AuthError("malformed API key")
        key_id, secret = match.groups()
        row = (
            self.db.connection()
            .execute(
                "SELECT k.secret_sha256, k.revoked_at, a.id AS account_id, a.roles, "
                "o.id AS org_id, o.actor_class "
                "FROM api_keys k JOIN accounts a ON a.id = k.account_id "
                "JOIN orgs o ON o.id = a.org_id WHERE k.key_id = ?",
                (key_id,),
            )
            .fetchone()
        )
        expected = row["secret_sha256"] if row else hash_secret("0" * 16, "0" * 64)
        ok = hmac.compare_digest(hash_secret(key_id, secret), expected)
        if row is None or not ok:
            raise AuthError("invalid API key")
        if row["revoked_at"] is not None:
            raise AuthError("API key revoked")
        extra = {"request_id": request_id} if request_id else {}
        return RequestContext(
            principal_id=row["account_id"],
            tenant_id=row["org_id"],
            actor_class=row["actor_class"],
            roles=frozenset(json.loads(row["roles"])),
            **extra,
        )


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"{what} {name!r}: 1-64 letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def _check_roles(roles: list[str] | set[str]) -> frozenset[str]:
    role_set = frozenset(roles)
    if not role_set:
        raise InvalidArgumentError(f"an account needs at least one role ({', '.join(ROLES)})")
    for role in sorted(role_set.difference(ROLES)):
        check_role(role)
    for role in EXCLUSIVE_ROLES & role_set:
        if len(role_set) > 1:
            raise InvalidArgumentError(
                f"the {role} role is held alone (separation of duties): "
                "create a separate account for other roles"
            )
    return role_set


def _key_id_of(ref: str) -> str:
    match = _KEY.match(ref)
    return match.group(1) if match else ref


def _account(row) -> Account:  # noqa: ANN001
    return Account(
        row["id"],
        row["org_id"],
        row["name"],
        frozenset(json.loads(row["roles"])),
        row["created_at"],
    )


def _key(row) -> KeyInfo:  # noqa: ANN001
    return KeyInfo(
        row["key_id"], row["account_id"], row["label"], row["created_at"], row["revoked_at"]
    )


__all__ = [
    "Account",
    "IssuedKey",
    "KeyInfo",
    "Org",
    "Principals",
]
