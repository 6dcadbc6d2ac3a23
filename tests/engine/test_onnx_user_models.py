"""An ONNX embedding model a user brings: the shipped dlib network exported to ONNX (as it
ships, uint8 NHWC; and wrapped to take normalized float NCHW) and added with its input size,
normalization and alignment reproduces the built-in embeddings under its own model id; the
ArcFace five-point alignment puts the points where the template says; bad options are refused
with the option to fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

from faceledger import Engine
from faceledger.cli.app import app
from faceledger.engine import arcface
from faceledger.engine.models import model_path
from faceledger.engine.onnx import convert
from faceledger.engine.user_models import add, get
from faceledger.errors import ModelError

runner = CliRunner()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """dlib's shipped descriptor network exported to ONNX (input uint8 [N,150,150,3])."""
    path = tmp_path_factory.mktemp("onnx") / "dlib-resnet.onnx"
    shutil.copyfile(convert.descriptor_onnx(model_path("descriptor")), path)
    return path


def float_nchw(exported: Path, target: Path) -> Path:
    """The same network behind an input of float [N,3,150,150] normalized (x-127.5)/127.5, as
    ArcFace-style models take it: the wrapper undoes the normalization exactly (rounding)."""
    model = onnx.load(str(exported))
    graph = model.graph
    (old,) = graph.input
    graph.input.remove(old)
    graph.input.insert(0, helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 150, 150]))
    consts = {"k": 127.5, "lo": 0.0, "hi": 255.0}
    for name, value in consts.items():
        graph.initializer.append(helper.make_tensor(f"w_{name}", TensorProto.FLOAT, [], [value]))
    nodes = [
        helper.make_node("Mul", ["x", "w_k"], ["w_1"]),
        helper.make_node("Add", ["w_1", "w_k"], ["w_2"]),
        helper.make_node("Round", ["w_2"], ["w_3"]),
        helper.make_node("Clip", ["w_3", "w_lo", "w_hi"], ["w_4"]),
        helper.make_node("Transpose", ["w_4"], ["w_5"], perm=[0, 2, 3, 1]),
        helper.make_node("Cast", ["w_5"], [old.name], to=TensorProto.UINT8),
    ]
    for node in reversed(nodes):
        graph.node.insert(0, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return target


def test_exported_network_reproduces_the_builtin_embeddings(
    tmp_path: Path, exported: Path, engine: Engine, portraits
) -> None:
    home = tmp_path / "home"
    r = runner.invoke(
        app,
        ["model", "add", str(exported), "--name", "dlib-onnx", "--input-size", "150",
         "--normalization", "uint8", "--alignment", "dlib-150", "--data-dir", str(home)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "added user:dlib-onnx" in r.output and "faceledger model calibrate dlib-onnx" in r.output
    wrapped = float_nchw(exported, tmp_path / "float.onnx")
    add(home, wrapped, "dlib-float", input_size=150, normalization="arcface", alignment="dlib-150")
    listed = runner.invoke(app, ["model", "list", "--json", "--data-dir", str(home)])
    kinds = {m["name"]: (m["kind"], m["normalization"]) for m in _json(listed.output)["models"]}
    assert kinds == {"dlib-onnx": ("onnx", "uint8"), "dlib-float": ("onnx", "arcface")}

    builtin = [engine.represent(p)[0] for p in portraits[:1]]
    for name in ("dlib-onnx", "dlib-float"):
        user = Engine(user_model=get(home, name))
        assert user.model_id == f"user:{name}+tta6"
        for p, theirs in zip(portraits[:1], builtin, strict=True):
            ours = user.represent(p)[0]
            assert ours.model_id == f"user:{name}+tta6"
            np.testing.assert_allclose(ours.embedding, theirs.embedding, atol=1e-6)
        with pytest.raises(ModelError, match="same model id"):
            engine.compare_faces(builtin[0], [ours])
        with pytest.raises(ModelError, match=f"no similarity calibration for model 'user:{name}"):
            user.compare_faces(ours, [ours])


def test_arcface_alignment_puts_the_five_points_on_the_template(
    tmp_path: Path, exported: Path, engine: Engine, portraits
) -> None:
    # 68 points: eye centres are the means of the six around each eye, nose 30, mouth 48 and 54
    pts68 = np.zeros((68, 2))
    pts68[36:42], pts68[42:48] = [30.0, 40.0], [70.0, 42.0]
    pts68[30], pts68[48], pts68[54] = [50.0, 60.0], [35.0, 80.0], [66.0, 81.0]
    np.testing.assert_allclose(
        arcface.five_points(pts68), [[30, 40], [70, 42], [50, 60], [35, 80], [66, 81]]
    )
    # the transform recovers a known similarity exactly, and the warp follows it to the pixel
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.array([[10.0, 20.0], [80.0, 25.0], [40.0, 60.0], [20.0, 90.0], [70.0, 88.0]])
    m = arcface.similarity_transform(src, src @ rot.T + shift)
    np.testing.assert_allclose(m, np.hstack([rot, shift[:, None]]), atol=1e-9)
    image = np.zeros((100, 100, 3), np.uint8)
    image[37, 61] = 255  # a dot at x=61, y=37
    to_chip = arcface.similarity_transform(src, src * 0.8 + [5.0, 9.0])
    chip = arcface.warp(image, to_chip, 112)
    y, x = np.unravel_index(chip[..., 0].argmax(), chip.shape[:2])
    assert (x, y) == (round(61 * 0.8 + 5), round(37 * 0.8 + 9))

    # a real portrait through an arcface-112 model: its chips are 112x112 at three zooms and
    # the five estimated points land within a few pixels of the template
    add(tmp_path / "home", exported, "arc", input_size=150, normalization="uint8",
        alignment="arcface-112")  # fmt: skip
    face = engine.detect(portraits[0])[0]
    points = arcface.five_points(face.landmarks)
    fit = arcface.similarity_transform(points, arcface.TEMPLATE_112)
    landed = points @ fit[:, :2].T + fit[:, 2]
    assert np.abs(landed - arcface.TEMPLATE_112).max() < 4.0
    user = Engine(user_model=get(tmp_path / "home", "arc"))
    (kept,) = user.detect(portraits[0], keep_chips=True)[:1]
    assert kept.chips is not None and kept.chips.shape == (3, 150, 150, 3)
    ours = user.represent(portraits[0])[0]
    assert ours.model_id == "user:arc+tta6" and np.isclose(np.linalg.norm(ours.embedding), 1.0)


def test_bad_onnx_options_are_refused_with_the_fix(tmp_path: Path, exported: Path) -> None:
    home = tmp_path / "home"

    def refused(path: Path, **options: object) -> str:
        with pytest.raises(ModelError) as err:
            add(home, path, "bad", **options)  # type: ignore[arg-type]
        return str(err.value)

    ok = {"input_size": 150, "normalization": "uint8", "alignment": "dlib-150"}
    assert "give --input-size 150" in refused(exported, **{**ok, "input_size": 112})
    assert "give --normalization uint8" in refused(exported, **{**ok, "normalization": "arcface"})
    assert "MEAN:STD" in refused(exported, **{**ok, "normalization": "zscore"})
    assert "dlib-150 or arcface-112" in refused(exported, **{**ok, "alignment": "mtcnn"})
    assert "needs --input-size, --normalization and --alignment" in refused(exported)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert "onnxruntime cannot load it" in refused(junk, **ok)
    assert "are for .onnx models" in refused(Path(model_path("descriptor")), **ok)
    assert not (home / "models").exists() or not list((home / "models").glob("*.json"))


def _json(text: str) -> dict:
    import json

    return json.loads(text)
