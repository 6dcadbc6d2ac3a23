"""``faceledger fairness audit``: help, and one-line errors."""

from __future__ import annotations

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
