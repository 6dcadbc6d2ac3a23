"""A model the user brings: the shipped dlib network saved as a user file, added under its own
model id, reproduces the built-in embeddings and never compares with them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceledger import Engine
from faceledger.cli.app import app
from faceledger.engine.models import model_path
from faceledger.engine.user_models import get
from faceledger.errors import ModelError

runner = CliRunner()


def test_shipped_network_as_a_user_model(tmp_path: Path, engine: Engine, portraits) -> None:
    mine = tmp_path / "my-resnet.dat"
    shutil.copyfile(model_path("descriptor"), mine)
    home = tmp_path / "home"
    added = runner.invoke(
        app, ["model", "add", str(mine), "--name", "mine", "--data-dir", str(home)]
    )
    assert added.exit_code == 0, added.output
    assert "added user:mine" in added.output
    listed = runner.invoke(app, ["model", "list", "--data-dir", str(home)])
    assert listed.output.startswith("user:mine\t")
    again = runner.invoke(
        app, ["model", "add", str(mine), "--name", "mine", "--data-dir", str(home)]
    )
    assert again.exit_code == 1 and "registered already" in again.output

    user = Engine(user_model=get(home, "user:mine"))
    ours, builtin = user.represent(portraits[0])[0], engine.represent(portraits[0])[0]
    assert user.model_id == "user:mine+tta6" and builtin.model_id == "dlib-resnet-v1+tta6"
    np.testing.assert_allclose(ours.embedding, builtin.embedding, atol=1e-6)
    with pytest.raises(ModelError, match="same model id"):
        engine.compare_faces(builtin, [ours])
    with pytest.raises(ModelError, match="no similarity calibration for model 'user:mine"):
        user.compare_faces(ours, [ours])


def test_a_file_that_is_not_a_descriptor_network_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for bad in (model_path("landmarks5"), model_path("mmod")):
        r = runner.invoke(app, ["model", "add", str(bad), "--name", "bad", "--data-dir", str(home)])
        assert r.exit_code == 1, r.output
        assert "not a dlib face descriptor network" in r.output and "Traceback" not in r.output
    r = runner.invoke(
        app, ["model", "add", str(bad), "--name", "Bad Name", "--data-dir", str(home)]
    )
    assert r.exit_code == 1 and "lowercase" in r.output
    assert not (home / "models").exists() or not list((home / "models").glob("*.json"))
