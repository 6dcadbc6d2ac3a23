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


def test_a_normalised_scoring_is_audited_and_filed_under_its_id(
    tmp_path: Path, portraits: list[Path], monkeypatch
) -> None:
    """The audit scores every pair as the scoring does, on its scale, and files the rates
    where searches of its collections read them."""
    import numpy as np

    from faceledger.engine.scoring import fit
    from faceledger.engine.similarity import DEFAULT_MODEL_ID
    from faceledger.governance.audit_files import latest

    monkeypatch.setenv("FACELEDGER_CACHE_DIR", str(tmp_path / "cache"))
    home = tmp_path / "home"
    rng = np.random.default_rng(0)
    vectors = (rng.normal(size=(200, 128)) * 0.025).astype(np.float32)
    scoring = fit(vectors, None, base_model_id=DEFAULT_MODEL_ID, clusters=4, target=1e-2)
    scoring.save(home)
    manifest = tmp_path / "people.csv"
    manifest.write_text("path,subject,gender\n" + "".join(f"{p},{p.stem},F\n" for p in portraits))
    common = ["fairness", "audit", "--datasets", str(manifest), "--data-dir", str(home),
              "--bootstrap", "0", "--no-one-to-many"]  # fmt: skip
    both = runner.invoke(app, [*common, "--scoring", scoring.scoring_id, "--calibrate"])
    assert both.exit_code == 1 and "leave out --scoring" in both.output
    out = tmp_path / "out"
    result = runner.invoke(app, [*common, "--scoring", scoring.scoring_id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    audit = json.loads((out / "audit.json").read_text())
    assert audit["settings"]["model"] == scoring.scoring_id
    filed = latest(home, scoring.scoring_id)
    assert filed is not None and filed["model_id"] == scoring.scoring_id
    assert latest(home, DEFAULT_MODEL_ID) is None, "the raw model's rates were not measured"
