"""Organizations, accounts and API keys: random, shown once, stored hashed, revocable."""

from __future__ import annotations

import hashlib

import pytest
from tests_gov_helpers import attacker, dump

from faceledger.governance.errors import (
    AuthError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
)
from faceledger.governance.principals import Principals


@pytest.fixture
def principals(db, clock) -> Principals:
    return Principals(db, clock=clock)


@pytest.fixture
def setup(principals):
    org = principals.create_org("Acme", "commercial")
    acct = principals.create_account("Acme", "alice", ["operator", "reviewer"])
    issued = principals.create_key(acct.id, label="laptop")
    return org, acct, issued


def test_authenticate_returns_context(principals, setup):
    org, acct, issued = setup
    ctx = principals.authenticate(issued.api_key)
    assert ctx.principal_id == acct.id
    assert ctx.tenant_id == org.id
    assert ctx.actor_class == "commercial"
    assert ctx.roles == frozenset({"operator", "reviewer"})
    assert ctx.purpose is None


def test_wrong_and_malformed_keys(principals, setup):
    _, _, issued = setup
    wrong_secret = issued.api_key[:-1] + ("0" if issued.api_key[-1] != "0" else "1")
    for bad in [wrong_secret, "flk_0000000000000000_" + "0" * 64, "nonsense", "", "flk__"]:
        with pytest.raises(AuthError) as info:
            principals.authenticate(bad)
        assert info.value.code == "unauthorized"


def test_revoked_key(principals, setup):
    _, _, issued = setup
    info = principals.revoke_key(issued.key_id)
    assert info.revoked_at is not None
    with pytest.raises(AuthError, match="revoked"):
        principals.authenticate(issued.api_key)
    with pytest.raises(ConflictError):
        principals.revoke_key(issued.key_id)
    with pytest.raises(NotFoundError):
        principals.revoke_key("ffffffffffffffff")


def test_key_is_stored_hashed_and_shown_once(principals, setup, db):
    _, acct, issued = setup
    secret = issued.api_key.split("_")[2]
    assert len(secret) == 64  # 256 bits
    everything = dump(db)
    assert secret not in everything and issued.api_key not in everything
    stored = attacker(db).execute("SELECT secret_sha256 FROM api_keys").fetchone()[0]
    assert stored == hashlib.sha256(f"flk:{issued.key_id}:{secret}".encode()).hexdigest()
    listed = principals.list_keys(acct.id)
    assert [k.key_id for k in listed] == [issued.key_id]
    assert "api_key" not in listed[0].to_dict() and secret not in str(listed[0].to_dict())
    second = principals.create_key(acct.id)
    assert second.api_key != issued.api_key and second.key_id != issued.key_id


def test_accounts_and_orgs(principals, setup):
    org, acct, _ = setup
    assert principals.get_account("Acme/alice") == acct
    assert principals.get_account(f"{org.id}/alice") == acct
    assert principals.get_org(org.id) == principals.get_org("Acme") == org
    assert [a.name for a in principals.list_accounts("Acme")] == ["alice"]
    with pytest.raises(ConflictError):
        principals.create_org("Acme", "research")
    with pytest.raises(ConflictError):
        principals.create_account("Acme", "alice", ["operator"])
    with pytest.raises(NotFoundError):
        principals.get_account("Acme/bob")
    with pytest.raises(NotFoundError):
        principals.create_account("Nope", "bob", ["operator"])


def test_invalid_arguments(principals, setup):
    with pytest.raises(InvalidArgumentError):
        principals.create_org("Police", "Law Enforcement")
    with pytest.raises(InvalidArgumentError):
        principals.create_account("Acme", "bob", ["superuser"])
    with pytest.raises(InvalidArgumentError):
        principals.create_account("Acme", "bob", [])
    with pytest.raises(InvalidArgumentError, match="separation of duties"):
        principals.create_account("Acme", "carol", ["auditor", "operator"])
    assert principals.create_account("Acme", "carol", ["auditor"]).roles == {"auditor"}
