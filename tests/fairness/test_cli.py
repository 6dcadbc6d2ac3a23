"""``faceledger fairness audit``: help, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from faceledger.cli import app

runner = CliRunner()


def test_help_lists_the_options():
    result = runner.invoke(app, ["fairness", "audit", "--help"])
    assert result.exit_code == 0
    for option in ("--data", "--datasets", "--out", "--bootstrap", "--seed", "--calibrate"):
        assert option in result.output


def test_unknown_dataset_is_a_one_line_error(tmp_path: Path):
    result = runner.invoke(
        app, ["fairness", "audit", "--data", str(tmp_path), "--datasets", "lfw,imagenet"]
    )
    assert result.exit_code == 1
    assert "unknown dataset 'imagenet'" in result.output
    assert "Traceback" not in result.output


def test_missing_data_skips_then_fails_when_nothing_is_left(tmp_path: Path):
    result = runner.invoke(app, ["fairness", "audit", "--data", str(tmp_path), "--datasets", "lfw"])
    assert result.exit_code == 1
    assert "skip lfw" in result.output and "no audit dataset found" in result.output


def test_file_an_audit_and_the_newest_one_is_used(tmp_path: Path):
    from faceledger.governance.audit_files import latest

    def summary(audit_id: str, when: str) -> Path:
        body = {"format": 1, "model_id": "dlib-resnet-v1+tta6", "audited_at": when,
                "audit_id": audit_id, "datasets": ["utkface"], "grid": []}  # fmt: skip
        path = tmp_path / f"{audit_id}.json"
        path.write_text(json.dumps(body))
        return path

    home = ["--data-dir", str(tmp_path / "home")]
    for audit_id, when in (
        ("audit_b", "2026-12-02T00:00:00Z"),
        ("audit_a", "2026-11-01T00:00:00Z"),
    ):
        result = runner.invoke(app, ["fairness", "file", str(summary(audit_id, when)), *home])
        assert result.exit_code == 0, result.output
        assert f"filed audit {audit_id} of dlib-resnet-v1+tta6" in result.output
    assert latest(tmp_path / "home", "dlib-resnet-v1+tta6")["audit_id"] == "audit_b"
    assert latest(tmp_path / "home", "another-model") is None
    bad = tmp_path / "report.json"
    bad.write_text('{"summary": []}')
    result = runner.invoke(app, ["fairness", "file", str(bad), *home])
    assert result.exit_code == 1 and "not an error_rates.json" in result.output
