"""An organization's administration by its own administrators: its accounts and their roles,
API keys (created and shown once, revoked), and the policy that decides its requests.

The host's CLI (``faceledger admin``) manages every organization; this is the governed door for
an organization's ``admin`` accounts (the console's administration pages): each call is an
``admin.*`` operation decided by the policy and recorded once, with ids only (never a key's
secret), scoped to the caller's organization (another's accounts and keys are "not found").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faceledger.errors import FaceledgerError, NotFoundError
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.governance.gate import GovernedGate
from faceledger.governance.policy import Rule
from faceledger.governance.principals import Account, IssuedKey, KeyInfo, Org, Principals
from faceledger.service.unit import Governed, UnitOfWork


@dataclass(frozen=True, slots=True)
class Directory:
    """An organization as its administrators see it."""

    org: Org
    accounts: list[Account]
    keys: dict[str, list[KeyInfo]]
    """account id → its keys (ids, labels, dates; never a secret)."""
    rules: list[Rule]
    """The policy's rules, in the order they are tried."""


class AdminService:
    def __init__(self, gate: GovernedGate, principals: Principals) -> None:
        self.gate = gate
        self.principals = principals
        self.unit = UnitOfWork(gate)

    def directory(self, ctx: RequestContext) -> Governed[Directory]:
        def work(_: Decision) -> tuple[Directory, dict[str, Any]]:
            org = self.principals.get_org(ctx.tenant_id)
            accounts = self.principals.list_accounts(ctx.tenant_id)
            keys = {a.id: self.principals.list_keys(a.id) for a in accounts}
            rules = list(self.gate.policy.policy.rules)
            return Directory(org, accounts, keys, rules), {"count": len(accounts)}

        return self.unit.run(ctx, "admin.list", {}, work)

    def create_account(self, ctx: RequestContext, name: str, roles: list[str]) -> Governed[Account]:
        request = {"name": name, "roles": sorted(roles)}

        def work(_: Decision) -> tuple[Account, dict[str, Any]]:
            account = self.principals.create_account(ctx.tenant_id, name, roles)
            return account, {"results": [{"id": account.id}]}

        return self.unit.run(ctx, "admin.create_account", request, work)

    def create_key(
        self, ctx: RequestContext, account_id: str, *, label: str | None = None
    ) -> Governed[IssuedKey]:
        """A new key for an account of the organization; its secret is returned once."""
        request = {"account_id": account_id, "label": label}

        def work(_: Decision) -> tuple[IssuedKey, dict[str, Any]]:
            self._account(ctx, account_id)
            issued = self.principals.create_key(account_id, label=label)
            return issued, {"results": [{"id": issued.key_id}]}

        return self.unit.run(ctx, "admin.create_key", request, work)

    def revoke_key(self, ctx: RequestContext, key_id: str) -> Governed[KeyInfo]:
        def work(_: Decision) -> tuple[KeyInfo, dict[str, Any]]:
            accounts = {a.id for a in self.principals.list_accounts(ctx.tenant_id)}
            keys = [k for a in accounts for k in self.principals.list_keys(a)]
            if key_id not in {k.key_id for k in keys}:
                raise NotFoundError(f"no key {key_id!r} in your organization")
            info = self.principals.revoke_key(key_id)
            return info, {"results": [{"id": key_id}]}

        return self.unit.run(ctx, "admin.revoke_key", {"key_id": key_id}, work)

    def _account(self, ctx: RequestContext, account_id: str) -> Account:
        try:
            account = self.principals.get_account(account_id)
        except FaceledgerError:  # unknown here and unknown elsewhere look the same
            account = None
        if account is None or account.org_id != ctx.tenant_id:
            raise NotFoundError(f"no account {account_id!r} in your organization")
        return account
