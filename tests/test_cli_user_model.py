"""A user model through the CLI on the Congress portraits: ``--model`` (or ``$FACELEDGER_MODEL``)
on the commands that open the runtime; collections are of its id and never searched by
another model's embeddings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.engine.models import model_path

runner = CliRunner()
WHY = ("--purpose", "photo-organization", "--case-ref", "album-1")


def run(*args: str, home: Path, ok: bool = True, **env: str):  # noqa: ANN201
    result = runner.invoke(app, list(args), env={"FACELEDGER_HOME": str(home), **env})
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def test_collections_index_and_search_under_a_user_model(
    tmp_path: Path, portraits: list[Path]
) -> None:
    home = tmp_path / "home"
    mine = tmp_path / "my-resnet.dat"
    shutil.copyfile(model_path("descriptor"), mine)
    run("admin", "init", home=home)
    bad = run("model", "add", str(mine), "--name", "mine", "--calibration", "0.3:0.4", home=home,
              ok=False)  # fmt: skip
    assert bad.exit_code == 1 and "need 0 < D99 < D90" in bad.output
    added = run("model", "add", str(mine), "--name", "mine", "--calibration", "0.371:0.331",
                "--json", home=home)  # fmt: skip
    assert json.loads(added.stdout)["calibration"] == [0.371, 0.331]
    run("collection", "create", "people", "--model", "mine", home=home)
    desc = json.loads(run("collection", "describe", "people", "--json", home=home).stdout)
    assert desc["model_id"] == "user:mine+tta6"
    folder = portraits[0].parent
    out = run("index", "people", str(folder), "--json", "--workers", "1", "--consent", "c-1",
              "--external-id", "stem", "--model", "user:mine", home=home)  # fmt: skip
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert lines[-1]["summary"]["indexed_faces"] == len(portraits)
    ids = {x["external_image_id"]: x["face_records"][0]["face_id"] for x in lines[:-1]}

    probe = str(portraits[2])
    found = json.loads(run("search", "people", probe, *WHY, "--json", "--model", "mine",
                           home=home).stdout)  # fmt: skip
    assert found["model_id"] == "user:mine+tta6"
    assert [m["face"]["face_id"] for m in found["searches"][0]["matches"]] == [
        ids[portraits[2].stem]
    ]
    by_env = run("search", "people", probe, *WHY, "--json", home=home, FACELEDGER_MODEL="mine")
    assert json.loads(by_env.stdout)["searches"] == found["searches"]
    builtin = run("search", "people", probe, *WHY, home=home, ok=False)
    assert builtin.exit_code == 1 and "Traceback" not in builtin.stderr
    assert "holds embeddings of model 'user:mine+tta6'" in builtin.stderr
    unknown = run("search", "people", probe, *WHY, "--model", "nosuch", home=home, ok=False)
    assert "no model 'nosuch' registered" in unknown.stderr
