"""``faceledger model normalize|scorings`` and ``$FACELEDGER_SCORING``: a scoring fitted into
the data folder is what collections record and what the runtime's engine scores with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.engine.scoring import fit
from faceledger.engine.similarity import DEFAULT_MODEL_ID

runner = CliRunner()


def run(*args: str, home: Path, ok: bool = True, **env: str):  # noqa: ANN201
    result = runner.invoke(app, list(args), env={"FACELEDGER_HOME": str(home), **env})
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def test_normalize_needs_one_source_and_enough_faces(tmp_path: Path, portraits) -> None:
    home = tmp_path / "home"
    neither = run("model", "normalize", home=home, ok=False)
    assert neither.exit_code != 0 and "--manifest CSV or --folder DIR" in neither.output
    few = run("model", "normalize", "--folder", str(portraits[0].parent), "--workers", "1",
              home=home, ok=False)  # fmt: skip
    assert few.exit_code != 0 and f"at least 50 images; got {len(portraits)}" in few.output
    assert not (home / "scorings").exists()


def test_a_fitted_scoring_is_listed_and_named_by_collections(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run("admin", "init", home=home)
    rng = np.random.default_rng(0)
    vectors = (rng.normal(size=(200, 128)) * 0.025).astype(np.float32)
    scoring = fit(vectors, None, base_model_id=DEFAULT_MODEL_ID, clusters=4, target=1e-2)
    scoring.save(home)
    listed = json.loads(run("model", "scorings", "--json", home=home).stdout)["scorings"]
    assert [s["scoring_id"] for s in listed] == [scoring.scoring_id]
    assert listed[0]["images"] == 200
    digest = scoring.scoring_id.rsplit(".", 1)[-1]
    run("collection", "create", "people", home=home, FACELEDGER_SCORING=digest)
    run("collection", "create", "plain", home=home)
    desc = json.loads(run("collection", "describe", "people", "--json", home=home).stdout)
    assert desc["model_id"] == scoring.scoring_id
    plain = json.loads(run("collection", "describe", "plain", "--json", home=home).stdout)
    assert plain["model_id"] == DEFAULT_MODEL_ID
    missing = run("collection", "create", "x", home=home, ok=False, FACELEDGER_SCORING="nope")
    assert missing.exit_code != 0 and "faceledger model normalize" in missing.output
