"""``faceledger model calibrate``: a user model's similarity scale fitted on a labelled set (a
seeded LFW subset here), stored with the model and used by its comparisons; a set too small to
fit FMR 1e-4 on is refused before anything is embedded."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.engine.models import model_path
from faceledger.engine.onnx import convert
from faceledger.engine.similarity import CALIBRATIONS
from faceledger.engine.user_models import get
from testdata import dataset

runner = CliRunner()
ONNX = ("--input-size", "150", "--normalization", "uint8", "--alignment", "dlib-150")


def _add(tmp_path: Path, home: Path) -> None:
    mine = tmp_path / "dlib.onnx"
    shutil.copyfile(convert.descriptor_onnx(model_path("descriptor")), mine)
    r = runner.invoke(
        app, ["model", "add", str(mine), "--name", "mine", *ONNX, "--data-dir", str(home)]
    )
    assert r.exit_code == 0, r.output


def test_a_set_too_small_for_fmr_1e4_is_refused(tmp_path: Path, portraits) -> None:
    home = tmp_path / "home"
    _add(tmp_path, home)
    manifest = tmp_path / "tiny.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "identity"])  # path,identity is read as path,subject
        w.writerows([str(p), f"person-{i}"] for i, p in enumerate(portraits))
    r = runner.invoke(
        app, ["model", "calibrate", "mine", "--manifest", str(manifest), "--data-dir", str(home)]
    )
    assert r.exit_code == 1, r.output
    assert f"{len(portraits)} images give {len(portraits) * (len(portraits) - 1) // 2}" in r.output
    assert "needs at least 10,000" in r.output and "Traceback" not in r.output
    assert get(home, "mine").calibration is None


def test_calibrate_on_an_lfw_subset(tmp_path: Path, shared_data: Path, monkeypatch) -> None:
    dataset(shared_data, "lfw")
    monkeypatch.setenv("FACELEDGER_CACHE_DIR", str(tmp_path / "cache"))
    home = tmp_path / "home"
    _add(tmp_path, home)
    r = runner.invoke(
        app,
        ["model", "calibrate", "mine", "--data", str(shared_data), "--max-images", "150",
         "--workers", "1", "--json", "--data-dir", str(home)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    stored = json.loads(r.stdout)
    d90, d99 = stored["calibration"]
    on = stored["calibrated_on"]
    assert on["images"] == 150 and on["impostor_pairs"] >= 10_000
    assert not on["impostor_pairs_sampled"] and on["dataset"] == "lfw"
    # the same network as the shipped one, whose scale was fitted on all of LFW: a 150-image
    # subset lands near it (1e-4 rests on about one pair, so the tolerance is wide there)
    shipped = CALIBRATIONS["dlib-resnet-v1+tta6"]
    mine = get(home, "mine")
    assert mine.calibration == (d90, d99) and 0 < d99 < d90
    assert abs(d90 - 0.371) < 0.03 and abs(d99 - 0.331) < 0.06
    mine.register_calibration()
    fitted = CALIBRATIONS["user:mine+tta6"]
    assert fitted != shipped
    listed = runner.invoke(app, ["model", "list", "--json", "--data-dir", str(home)])
    assert json.loads(listed.stdout)["models"][0]["calibration"] == [d90, d99]
