"""SigV4 verification against requests signed by botocore's own signer (no server), and the
sealing of secrets under a master key kept outside the database."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from faceledger.api.rekognition.sigv4 import SignedRequest, SigV4Error, canonical_uri, verify
from faceledger.governance.db import GovernanceDB
from faceledger.governance.principals import Principals
from faceledger.governance.sigv4keys import (
    SECRET_KEY_ENV,
    Binding,
    SecretBox,
    SecretKeyError,
    SigV4Keys,
)


@pytest.fixture()
def keys(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    db = GovernanceDB(tmp_path / "governance.sqlite3")
    p = Principals(db)
    p.create_org("Org", "research")
    p.create_account("Org", "op", ["operator"])
    yield SigV4Keys(db, tmp_path)
    db.close()


def _signed(cred, url: str, body: bytes, headers: dict | None = None) -> SignedRequest:
    req = AWSRequest(
        method="POST", url=url, data=body,
        headers={"X-Amz-Target": "RekognitionService.ListCollections", **(headers or {})},
    )  # fmt: skip
    SigV4Auth(
        Credentials(cred.access_key_id, cred.secret_access_key), "rekognition", "eu-west-3"
    ).add_auth(req)
    path, _, query = url.split("://", 1)[1].partition("/")[2].partition("?")
    host = url.split("://", 1)[1].split("/", 1)[0]
    hdrs = [(k, v) for k, v in req.headers.items()] + [("host", host)]
    return SignedRequest("POST", "/" + path, query, hdrs, req.body)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/",
        "http://h.example/a/b%20c/../d/?z=1&a=b%2Fc&a=a&empty=",
        "http://h.example/~x/./y",
    ],
)
def test_botocore_signatures_verify(keys, url: str) -> None:
    issued = keys.create("Org/op")
    req = _signed(issued, url, b'{"x": "  spaced  "}', {"X-Custom": "  a   b  "})
    cred, auth = verify(req, keys.find, datetime.now(UTC))
    assert cred.account_id == issued.account_id and auth.region == "eu-west-3"
    tampered = SignedRequest(req.method, req.raw_path, req.raw_query, req.headers, b"{}")
    with pytest.raises(SigV4Error) as exc:
        verify(tampered, keys.find, datetime.now(UTC))
    assert exc.value.type == "InvalidSignatureException"
    with pytest.raises(SigV4Error) as exc:
        verify(req, keys.find, datetime.now(UTC), regions=["us-east-1"])
    assert "region" in exc.value.message
    with pytest.raises(SigV4Error, match="Signature not yet current"):
        verify(req, keys.find, datetime.now(UTC) - timedelta(minutes=6))


def test_canonical_uri_matches_botocore() -> None:
    assert canonical_uri("/") == "/"
    assert canonical_uri("/a/b%20c/../d/") == "/a/d/"
    assert canonical_uri("/x y") == "/x%20y"


def test_revoked_expired_and_replay(keys) -> None:
    issued = keys.create("Org/op", binding=Binding(expires_at=datetime(2020, 1, 1, tzinfo=UTC)))
    req = _signed(issued, "http://h/", b"{}")
    with pytest.raises(SigV4Error) as exc:
        verify(req, keys.find, datetime.now(UTC))
    assert exc.value.type == "ExpiredTokenException"
    other = keys.create("Org/op")
    req = _signed(other, "http://h/", b"{}")
    _, auth = verify(req, keys.find, datetime.now(UTC))
    assert keys.remember(auth.signature, window=timedelta(minutes=5))
    assert not keys.remember(auth.signature, window=timedelta(minutes=5))
    keys.revoke(other.access_key_id)
    with pytest.raises(SigV4Error) as exc:
        verify(req, keys.find, datetime.now(UTC))
    assert exc.value.type == "UnrecognizedClientException"


@pytest.mark.sqlite_only("reads the bytes of the governance SQLite file")
def test_secret_is_sealed_and_needs_its_key(keys, tmp_path, monkeypatch) -> None:
    issued = keys.create("Org/op", binding=Binding(purpose="missing-person", case_ref="C-1"))
    raw = (tmp_path / "governance.sqlite3").read_bytes()
    assert issued.secret_access_key.encode() not in raw
    key_file = tmp_path / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert keys.find(issued.access_key_id).secret == issued.secret_access_key
    ctx = keys.find(issued.access_key_id).context("r1")
    assert (ctx.purpose, ctx.case_ref, ctx.request_id) == ("missing-person", "C-1", "r1")
    # another master key: reported as such, never taken for a bad signature
    monkeypatch.setenv(SECRET_KEY_ENV, os.urandom(32).hex())
    with pytest.raises(SecretKeyError, match="sealed under"):
        SigV4Keys(keys.db, tmp_path).find(issued.access_key_id)
    monkeypatch.delenv(SECRET_KEY_ENV)
    key_file.chmod(0o644)
    with pytest.raises(SecretKeyError, match="readable by others"):
        SecretBox.load(tmp_path)
    key_file.chmod(0o600)
    box = SecretBox.load(tmp_path)
    sealed = box.seal("s3cret", "AKID1")
    with pytest.raises(SecretKeyError):
        box.open(sealed, "AKID2")  # bound to its row


def test_binding_refuses_unknown_purpose() -> None:
    with pytest.raises(Exception, match="purpose"):
        Binding(purpose="criminal-investigaton")


def test_cli_issues_and_revokes_sigv4_credentials(tmp_path, monkeypatch) -> None:
    import json

    from typer.testing import CliRunner

    from faceledger.cli.app import app as cli

    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    env = {"FACELEDGER_HOME": str(tmp_path)}
    runner = CliRunner()

    def run(*args: str) -> str:
        r = runner.invoke(cli, list(args), env=env)
        assert r.exit_code == 0, r.output
        return r.stdout

    run("admin", "create-org", "Org", "--actor-class", "law-enforcement")
    run("admin", "create-account", "Org", "op", "--role", "operator")
    bind = ["--purpose", "missing-person", "--authorization-date", "2026-11-30", "--expires"]
    ak, sk = run("admin", "create-key", "Org/op", "--sigv4", *bind, "2026-12-31").split()
    refused = runner.invoke(cli, ["admin", "create-key", "Org/op", "--case-ref", "C"], env=env)
    assert refused.exit_code != 0 and "--sigv4" in refused.output
    api_key = run("admin", "create-key", "Org/op", "--label", "batch").strip()
    listed = {r.get("access_key_id") or r["key_id"]: r for r in
              json.loads(run("admin", "list-keys", "Org/op", "--json"))}  # fmt: skip
    assert listed[ak]["credential"] == "sigv4" and listed[ak]["revoked_at"] is None
    assert listed[ak]["binding"]["purpose"] == "missing-person"
    assert listed[ak]["binding"]["authorization_date"] == "2026-11-30"
    assert any(r["credential"] == "api-key" and r["label"] == "batch" for r in listed.values())
    shown = run("admin", "list-keys") + json.dumps(listed)
    assert sk not in shown and api_key.split("_")[-1] not in shown
    assert "revoked SigV4 credential" in run("admin", "revoke-key", ak)
    again = runner.invoke(cli, ["admin", "revoke-key", ak], env=env)
    assert again.exit_code != 0 and "revoked at" in again.output
    (revoked,) = [r for r in json.loads(run("admin", "list-keys", "--json"))
                  if r.get("access_key_id") == ak]  # fmt: skip
    assert revoked["revoked_at"] is not None
    active = json.loads(run("admin", "list-keys", "--active", "--json"))
    assert ak not in {r.get("access_key_id") for r in active} and len(active) == 1
    db = GovernanceDB(tmp_path / "governance.sqlite3")
    records = [json.loads(r[0]) for r in db.connection().execute("SELECT record FROM audit_log")]
    issued = next(r for r in records if r.get("kind") == "admin" and r.get("key_id") == ak
                  and r["operation"] == "admin.create_key")  # fmt: skip
    assert issued["credential"] == "sigv4"
    assert issued["binding"]["expires_at"].startswith("2027-01-01T00:00:00")
    assert sk not in json.dumps(records)
    assert SigV4Keys(db, tmp_path).find(ak).revoked_at is not None
    db.close()
