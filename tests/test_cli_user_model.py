"""A user model through the CLI on the Congress portraits: ``--model`` (or ``$FACELEDGER_MODEL``)
on the commands that open the runtime; collections are of its id and never searched by
another model's embeddings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.engine.models import model_path
from faceledger.engine.onnx import convert

runner = CliRunner()
WHY = ("--purpose", "photo-organization", "--case-ref", "album-1")


def run(*args: str, home: Path, ok: bool = True, **env: str):  # noqa: ANN201
    result = runner.invoke(app, list(args), env={"FACELEDGER_HOME": str(home), **env})
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


@pytest.mark.parametrize("kind", ["dat", "onnx"])
def test_collections_index_and_search_under_a_user_model(
    tmp_path: Path, portraits: list[Path], kind: str
) -> None:
    """The shipped network as a user's dlib file, and exported to ONNX (with its input size,
    normalization and alignment): add, index a collection, search it; never with another
    model's embeddings."""
    home = tmp_path / "home"
    mine = tmp_path / f"my-resnet.{kind}"
    options: tuple[str, ...] = ()
    if kind == "dat":
        shutil.copyfile(model_path("descriptor"), mine)
    else:
        shutil.copyfile(convert.descriptor_onnx(model_path("descriptor")), mine)
        options = ("--input-size", "150", "--normalization", "uint8", "--alignment", "dlib-150")
    run("admin", "init", home=home)
    bad = run("model", "add", str(mine), "--name", "mine", "--calibration", "0.3:0.4", *options,
              home=home, ok=False)  # fmt: skip
    assert bad.exit_code == 1 and "need 0 < D99 < D90" in bad.output
    added = run("model", "add", str(mine), "--name", "mine", "--calibration", "0.371:0.331",
                *options, "--json", home=home)  # fmt: skip
    assert json.loads(added.stdout)["kind"] == ("onnx" if kind == "onnx" else "dlib")
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


def test_fairness_audit_of_a_user_model_is_filed_under_its_id(
    tmp_path: Path, portraits: list[Path], monkeypatch
) -> None:
    """A tiny audit (the Congress portraits of the fixtures, each its own subject, plus one
    mirrored copy filed as another subject) of the user model and of the shipped network: the
    same network, so the same rates, filed under each model's id."""
    import csv

    import numpy as np
    from PIL import Image

    from faceledger.governance.audit_files import latest

    monkeypatch.setenv("FACELEDGER_CACHE_DIR", str(tmp_path / "cache"))
    home = tmp_path / "home"
    mine = tmp_path / "my-resnet.dat"
    shutil.copyfile(model_path("descriptor"), mine)
    run("model", "add", str(mine), "--name", "mine", "--calibration", "0.371:0.331", home=home)
    run("model", "add", str(mine), "--name", "nocal", home=home)
    mirrored = tmp_path / "mirrored.jpg"
    Image.fromarray(np.asarray(Image.open(portraits[0]).convert("RGB"))[:, ::-1]).save(mirrored)
    manifest = tmp_path / "congress.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "subject"])
        for i, p in enumerate([*portraits, mirrored]):
            w.writerow([str(p), f"s{i}"])
    common = ("fairness", "audit", "--datasets", str(manifest), "--bootstrap", "0",
              "--no-one-to-many", "--workers", "1", "--json")  # fmt: skip
    env = {"FACELEDGER_CACHE_DIR": str(tmp_path / "cache")}
    run(*common, "--out", str(tmp_path / "a"), "--model", "mine", home=home, **env)
    run(*common, "--out", str(tmp_path / "b"), home=home, **env)
    theirs, ours = latest(home, "dlib-resnet-v1+tta6"), latest(home, "user:mine+tta6")
    assert ours is not None and theirs is not None and ours["audit_id"] != theirs["audit_id"]
    assert ours["model_id"] == "user:mine+tta6"
    row = next(r for r in ours["grid"] if r["similarity"] == 99.9)
    assert row["overall"]["false_matches"] >= 1  # the mirrored pair, measured with the user model
    assert [r["overall"] for r in ours["grid"]] == [r["overall"] for r in theirs["grid"]]
    refused = run(*common, "--out", str(tmp_path / "c"), "--model", "nocal", home=home,
                  ok=False, **env)  # fmt: skip
    assert refused.exit_code == 1 and "no similarity calibration" in refused.output
    assert latest(home, "user:nocal+tta6") is None
