"""The governance commands: admin, policy check, audit-log verify/export/anchor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from tests_gov_helpers import attacker
from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.governance.auditlog import AuditLog
from faceledger.governance.db import GovernanceDB
from faceledger.governance.principals import Principals

runner = CliRunner()


def run(*args: str, ok: bool = True):
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELEDGER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_admin_flow_and_key_shown_once(home):
    run("admin", "create-org", "Acme", "--actor-class", "commercial")
    run("admin", "create-account", "Acme", "alice", "--role", "operator", "--role", "reviewer")
    key = run("admin", "create-key", "Acme/alice").stdout.strip()
    assert key.startswith("flk_")
    db = GovernanceDB(home / "governance.sqlite3")
    ctx = Principals(db).authenticate(key)
    assert ctx.roles == {"operator", "reviewer"}
    listed = json.loads(run("admin", "list-accounts", "--json").stdout)
    assert key not in json.dumps(listed)
    key_id = listed[0]["keys"][0]["key_id"]
    run("admin", "revoke-key", key_id)
    orgs = json.loads(run("admin", "list-orgs", "--json").stdout)
    assert [o["name"] for o in orgs] == ["Acme"]
    bad = run("admin", "create-account", "Acme", "bob", "--role", "root", ok=False)
    assert bad.exit_code == 1 and "unknown role" in bad.output
    ops = [r.body["operation"] for r in AuditLog(db).records()]
    assert ops == [
        "admin.create_org",
        "admin.create_account",
        "admin.create_key",
        "admin.revoke_key",
    ]


def test_data_dir_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("FACELEDGER_HOME", raising=False)
    run("admin", "create-org", "X", "--actor-class", "research", "--data-dir", str(tmp_path / "d"))
    if not os.environ.get("FACELEDGER_DATABASE_URL"):
        assert (tmp_path / "d" / "governance.sqlite3").exists()
    assert (tmp_path / "d").is_dir()


def test_policy_check(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(run("policy", "show-default").stdout)
    assert "ok, 29 rules" in run("policy", "check", str(good)).stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - id: a\n    effect: alow\n    reason: Typo.\n")
    result = run("policy", "check", str(bad), ok=False)
    assert result.exit_code == 1
    assert f"{bad}:4:13: rules[0].effect" in result.output


def test_policy_decide():
    result = run(
        "policy",
        "decide",
        "faces.search",
        "--actor-class",
        "law-enforcement",
        "--purpose",
        "criminal-investigation",
        "--case",
        "C1",
        "--at",
        "2024-01-01",
        ok=False,
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["rule"] == "law-enforcement-search-moratorium"


def _populate(home):
    run("admin", "create-org", "Acme", "--actor-class", "commercial")
    run("admin", "create-org", "Beta", "--actor-class", "research")
    run("admin", "create-account", "Acme", "alice", "--role", "operator")
    run("admin", "create-account", "Beta", "bob", "--role", "operator")


def test_verify_export_anchor(home, tmp_path):
    _populate(home)
    assert "intact" in run("audit-log", "verify").stdout
    anchor = run("audit-log", "anchor", "--append-to", str(tmp_path / "anchors")).stdout.strip()
    out = tmp_path / "all.jsonl"
    run("audit-log", "export", "--out", str(out))
    assert "intact" in run("audit-log", "verify", "--file", str(out), "--anchor", anchor).stdout
    beta = tmp_path / "beta.jsonl"
    run("audit-log", "export", "--out", str(beta), "--tenant", "Beta")
    db = GovernanceDB(home / "governance.sqlite3")
    beta_id = Principals(db).get_org("Beta").id
    tenants = {json.loads(x)["record"]["tenant_id"] for x in beta.read_text().splitlines()}
    assert tenants == {beta_id}
    page = json.loads(run("audit-log", "read", "--tenant", "Acme").stdout)
    acme = {r["record"]["tenant_id"] for r in page["records"]}
    assert len(acme) == 1 and beta_id not in acme
    # a cut tail is caught with the anchor file
    conn = attacker(db, drop=("audit_log_no_delete",))
    head = int(anchor.split(":")[0])
    conn.execute("DELETE FROM audit_log WHERE seq >= ?", (head - 1,))
    conn.close()
    db.close()
    result = run("audit-log", "verify", "--anchor-file", str(tmp_path / "anchors"), ok=False)
    assert result.exit_code == 1
    assert f"record #{head}: truncated" in result.output


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 shell")
def test_verify_catches_an_edit_made_with_the_sqlite3_shell(home, backend):
    if backend:
        pytest.skip("the sqlite3 shell edits SQLite files (PostgreSQL: test_gov_auditlog)")
    _populate(home)
    db_file = str(home / "governance.sqlite3")
    blocked = subprocess.run(
        ["sqlite3", db_file, "UPDATE audit_log SET operation = 'x' WHERE seq = 2"],
        capture_output=True,
        text=True,
    )
    assert blocked.returncode != 0 and "append-only" in blocked.stderr
    subprocess.run(
        [
            "sqlite3",
            db_file,
            "DROP TRIGGER audit_log_no_update; "
            "UPDATE audit_log SET record = replace(record, 'alice', 'mallory') WHERE seq = 3;",
        ],
        check=True,
    )
    result = run("audit-log", "verify", ok=False)
    assert result.exit_code == 1
    assert "record #3: modified" in result.output
    assert "triggers" in result.output
    report = json.loads(run("audit-log", "verify", "--json", ok=False).stdout)
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(3, "modified")]
