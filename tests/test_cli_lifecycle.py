"""The lifecycle commands end to end: consent record | list | show | withdraw, index --consent,
retention run, case close, subject erase."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from faceledger.cli.app import app

runner = CliRunner()


def run(*args: str, home: Path, ok: bool = True):  # noqa: ANN201
    result = runner.invoke(app, list(args), env={"FACELEDGER_HOME": str(home)})
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def js(*args: str, home: Path) -> dict:
    return json.loads(run(*args, "--json", home=home).stdout)


def _audit(home: Path) -> list[dict]:
    from faceledger.governance import AuditLog, GovernanceDB

    db = GovernanceDB(home / "governance.sqlite3")
    try:
        return [r.body for r in AuditLog(db).records()]
    finally:
        db.close()


def test_consent_commands_and_withdrawal(tmp_path: Path, portraits: list[Path]) -> None:
    home = tmp_path / "home"
    run("admin", "init", home=home)
    run("collection", "create", "staff", "--retention-days", "365", home=home)
    run("collection", "create", "regulars", "--days-since-match", "90", home=home)
    created = [r for r in _audit(home) if r["operation"] == "collection.create"]
    assert [r["request"].get("days_since_match") for r in created] == [None, 90]
    record = ("consent", "record", "badge 7", "-c", "staff", "--for-purpose", "research",
              "--evidence", "form 7", "--expires-at", "2099-01-01")  # fmt: skip
    consent = js(*record, home=home)["consent"]
    cid = consent["consent_id"]
    assert consent["scope"] == {"collections": ["staff"], "purposes": ["research"]}
    out_of_scope = run("index", "staff", str(portraits[0]), "--consent", cid, "--workers", "1",
                       home=home, ok=False)  # fmt: skip
    assert out_of_scope.exit_code == 1 and "research" in out_of_scope.stdout + out_of_scope.stderr
    lines = run("index", "staff", str(portraits[0]), "--consent", cid, "--workers", "1",
                "--purpose", "research", "--json", home=home).stdout.splitlines()  # fmt: skip
    face = json.loads(lines[0])["face_records"][0]["face_id"]
    # a free-text consent keeps working (it becomes a record)
    run("index", "staff", str(portraits[1]), "--consent", "paper form 8", "--workers", "1",
        home=home)  # fmt: skip
    listed = js("consent", "list", home=home)["consents"]
    assert [c["origin"] for c in listed] == ["recorded", "free-text"]
    assert "badge 7" in run("consent", "list", home=home).stdout
    assert js("consent", "show", cid, home=home)["evidence_ref"] == "form 7"

    withdrawal = js("consent", "withdraw", cid, home=home)["withdrawal"]
    assert withdrawal["deleted_faces"] == {"staff": [face]}
    faces = js("faces", "list", "staff", home=home)["faces"]
    assert face not in {f["face_id"] for f in faces} and len(faces) == 1
    assert "purged 0 face(s)" in run("retention", "run", home=home).stdout
    closed = js("case", "close", "C-1", home=home)["closed"]
    assert closed["case_ref"] == "C-1" and closed["count"] == 0
    receipt = json.loads(
        run("subject", "erase", "--subject", "paper form 8", "--yes", home=home).stdout
    )["receipt"]
    assert receipt["counts"]["faces"] == 1 and receipt["counts"]["consents"] == 1
    assert receipt["audit_record"]["seq"] > 0
    assert js("faces", "list", "staff", home=home)["faces"] == []
