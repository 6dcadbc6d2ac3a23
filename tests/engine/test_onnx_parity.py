"""Parity of the onnxruntime descriptor and CNN detector with dlib itself, on real faces."""

from __future__ import annotations

import os
from pathlib import Path

import dlib
import face_recognition_models as frm
import numpy as np
import pytest
from PIL import Image

from faceledger.engine.onnx import (
    OnnxDescriptor,
    OnnxDescriptorInt8,
    OnnxMmodDetector,
    convert,
    mmod,
    onnx_available,
)
from faceledger.engine.onnx.dlib_format import read_dlib_net

REPO = Path(__file__).resolve().parents[2]
N_LFW_FACES = 40
N_CONGRESS_FACES = 5
DESCRIPTOR_TOL = 1e-4
IOU_MIN = 0.95


def _data_root() -> Path:
    return Path(os.environ.get("FACELEDGER_DATA") or REPO.parent / "shared" / "data")


def _lfw_images(n: int, stride: int = 7) -> list[Path]:
    root = _data_root() / "lfw" / "lfw-deepfunneled"
    if not root.is_dir():
        pytest.skip(f"LFW not found under {root} (set FACELEDGER_DATA)")
    people = sorted(p for p in root.iterdir() if p.is_dir())
    return [sorted(p.glob("*.jpg"))[0] for p in people[::stride][:n]]


def _congress_images(n: int) -> list[Path]:
    root = _data_root() / "congress_current" / "images"
    if not root.is_dir():
        pytest.skip(f"Congress portraits not found under {root} (set FACELEDGER_DATA)")
    return sorted(root.glob("*.jpg"))[:n]


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Standard intersection over union of inclusive-corner boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(iw, 0) * max(ih, 0)
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module", autouse=True)
def _tmp_cache(tmp_path_factory: pytest.TempPathFactory):
    old = os.environ.get("FACELEDGER_CACHE_DIR")
    os.environ["FACELEDGER_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("FACELEDGER_CACHE_DIR", None)
    else:
        os.environ["FACELEDGER_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def chips() -> np.ndarray:
    """Aligned 150x150 chips, made the way dlib's own pipeline makes them."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    out = []
    for paths, want in ((_lfw_images(80), N_LFW_FACES), (_congress_images(20), N_CONGRESS_FACES)):
        got = 0
        for path in paths:
            img = _rgb(path)
            dets = detector(img, 1)
            if not dets:
                continue
            out.append(dlib.get_face_chip(img, predictor(img, dets[0]), 150, 0.25))
            got += 1
            if got == want:
                break
        assert got == want, "not enough detectable faces for the parity test"
    return np.stack(out)


def test_onnx_available() -> None:
    assert onnx_available()


def test_reader_sees_the_whole_descriptor_network() -> None:
    net = read_dlib_net(frm.face_recognition_model_location())
    kinds = [layer.kind for layer in net.layers]
    assert len(kinds) == 108 and net.num_tags == 22
    assert kinds.count("con") == 29 and kinds.count("add_prev") == 14
    assert net.input["size"] == (150, 150)
    assert np.allclose(net.input["means"], (122.782, 117.001, 104.298))


def test_mmod_geometry_from_the_file() -> None:
    net = read_dlib_net(frm.cnn_face_detector_model_location())
    assert net.loss["detector_windows"] == [(80, 80)]
    assert convert.mmod_stride_and_offset(net) == (8, 14)


def test_conversion_is_cached_by_content_hash() -> None:
    path = frm.cnn_face_detector_model_location()
    first = convert.mmod_onnx(path)
    mtime = first.stat().st_mtime_ns
    second = convert.mmod_onnx(path)
    assert first == second and second.stat().st_mtime_ns == mtime
    assert convert.file_sha256(path) in first.name
    assert first.parent == Path(os.environ["FACELEDGER_CACHE_DIR"]) / "onnx"


def test_descriptor_matches_dlib(chips: np.ndarray) -> None:
    ref_model = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    ref = np.array([np.array(d) for d in ref_model.compute_face_descriptor(list(chips))])
    ours = OnnxDescriptor(threads=2).compute(chips)
    assert ours.shape == (len(chips), 128) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= DESCRIPTOR_TOL
    # batching must not change results
    single = OnnxDescriptor(threads=1).compute(chips[:3])
    assert np.abs(single - ours[:3]).max() <= 1e-6


def test_descriptor_rejects_wrong_input() -> None:
    desc = OnnxDescriptor(threads=1)
    with pytest.raises(ValueError):
        desc.compute(np.zeros((1, 100, 100, 3), np.uint8))
    with pytest.raises(ValueError):
        desc.compute(np.zeros((1, 150, 150, 3), np.float32))
    assert desc.compute(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)


def test_detector_matches_dlib() -> None:
    ref = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
    ours = OnnxMmodDetector(threads=2)
    paths = _lfw_images(5, stride=97) + _congress_images(4)
    n_faces = 0
    for path in paths:
        img = _rgb(path)
        want = [
            ((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence)
            for d in ref(img, 0)
        ]
        got = ours.detect(img, 0)
        assert len(got) == len(want), path.name
        for (g_rect, g_conf), (w_rect, w_conf) in zip(got, want, strict=True):
            assert _iou(g_rect, w_rect) >= IOU_MIN, path.name
            assert abs(g_conf - w_conf) < 1e-3
        n_faces += len(want)
    assert n_faces >= len(paths) - 2  # the sample really contains faces


def test_pyramid_layout_keeps_levels_disjoint() -> None:
    cfg = OnnxMmodDetector(threads=1).config
    rects, nr, nc = mmod.pyramid_rects(512, 512, cfg)
    assert rects[0] == (11, 11, 522, 522)
    assert nc == 512 + 2 * 11 and nr > 512 + 2 * 11
    for i, a in enumerate(rects):
        assert min(a[0], a[1]) >= 0 and a[2] < nc and a[3] < nr
        for b in rects[i + 1 :]:
            assert min(a[2], b[2]) < max(a[0], b[0]) or min(a[3], b[3]) < max(a[1], b[1])


def test_detector_upsample_matches_dlib() -> None:
    """Small faces found only after one pyramid_up must come back in original coordinates."""
    ref = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
    ours = OnnxMmodDetector(threads=2)
    n_faces = 0
    for path in _congress_images(9)[6:9]:
        img = np.asarray(Image.open(path).convert("RGB").resize((120, 150)))
        want = [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()) for d in ref(img, 1)]
        got = [rect for rect, _ in ours.detect(img, 1)]
        assert len(got) == len(want), path.name
        assert all(_iou(g, w) >= IOU_MIN for g, w in zip(got, want, strict=True)), path.name
        n_faces += len(want)
    assert n_faces >= 2


def test_int8_descriptor_is_close_and_cached(chips: np.ndarray) -> None:
    """The int8 variant is approximate by design; guard against it drifting far off."""
    fp32 = OnnxDescriptor(threads=2).compute(chips)
    q = OnnxDescriptorInt8(calibration_chips=chips[:16], threads=2)
    assert q.model_id == "dlib-resnet-v1-int8" != OnnxDescriptor.model_id
    out = q.compute(chips)
    assert out.shape == fp32.shape
    dist_gap = np.abs(np.linalg.norm(out - out[0], axis=1) - np.linalg.norm(fp32 - fp32[0], axis=1))
    assert dist_gap.max() < 0.15
    again = OnnxDescriptorInt8(threads=1)  # no calibration: reuse the cached model
    assert again.onnx_path == q.onnx_path


def test_detector_on_images_too_small_for_the_cnn() -> None:
    """dlib raises on these; we report no faces instead."""
    det = OnnxMmodDetector(threads=1)
    for shape in ((1, 1, 3), (6, 6, 3), (40, 3, 3)):
        assert det.detect(np.full(shape, 128, np.uint8)) == []
    assert det.detect(np.full((8, 30, 3), 128, np.uint8)) == []
