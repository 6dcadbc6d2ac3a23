"""Face detection: ``auto`` by default (dlib's HOG, then its CNN (MMOD) where HOG may have
missed), or either detector alone.

Both detectors see faces of about 80×80 pixels and larger. To find smaller faces the image is
scaled up so that ``min_face_size`` pixels become 80; very large images are scaled *down* so
that at most ``max_detect_pixels`` are searched. The smallest face actually findable in an image
is therefore ``effective_min_face_size`` and is reported, never silently worse.

``auto`` runs HOG first. The CNN costs about 25 times as much per pixel, so it searches at most
``CNN_MAX_DETECT_PIXELS`` and therefore sees faces from its own, possibly larger, minimum size.
It runs when HOG found no face of at least that size (nothing at all, or only smaller faces,
where a larger face HOG missed could still be), and its faces that do not overlap a HOG face are
added. Measured on LFW, the Congress portraits and UTKFace by ``benchmarks/detectors.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

from faceledger.engine.models import model_path
from faceledger.engine.types import BoundingBox

DETECTOR_WINDOW = 80
"""Side in pixels of the smallest face dlib's detectors find at scale 1."""

DEFAULT_MIN_FACE_SIZE = 40
DEFAULT_MAX_DETECT_PIXELS = 8_500_000
"""A 1080p frame (2.07 MP) scaled ×2 (min face 40 px) is 8.3 MP: still searched in full."""

HOG_THRESHOLD = -0.2
"""Slightly below dlib's 0: recovers profile-ish faces; false positives are filtered by the
landmark fit and the quality measures downstream. Measured on LFW in benchmarks/lfw_verification."""

DETECTORS = ("auto", "hog", "cnn")
DEFAULT_DETECTOR = "auto"
CNN_MAX_DETECT_PIXELS = 2_100_000
"""What the CNN searches at most under ``auto``: a 1080p frame at scale 1 (faces from 80 px);
a 250×250 LFW image at ×2 (faces from 40 px) is searched whole."""
SAME_FACE_IOU = 0.3
"""A CNN box overlapping a HOG box at least this much (intersection over union) is the same face."""


@dataclass(frozen=True, slots=True)
class Detection:
    box: BoundingBox
    score: float
    detector: str


@dataclass(frozen=True, slots=True)
class DetectionPlan:
    scale: float

    def effective_min_face_size(self) -> int:
        return int(math.ceil(DETECTOR_WINDOW / self.scale))


def plan_scale(
    width: int, height: int, *, min_face_size: int, max_detect_pixels: int
) -> DetectionPlan:
    """Choose the scale at which to search: enough for ``min_face_size``, capped in pixels."""
    want = DETECTOR_WINDOW / max(1, min_face_size)
    cap = math.sqrt(max_detect_pixels / max(1, width * height))
    scale = min(want, cap)
    if 0.95 <= scale <= 1.05:
        scale = 1.0
    return DetectionPlan(scale=scale)


class FaceDetector:
    """Runs dlib's detectors at a planned scale and maps boxes back to image pixels."""

    def __init__(
        self, kind: str = DEFAULT_DETECTOR, *, backend: str = "auto", threads: int | None = None
    ):
        if kind not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, not {kind!r}")
        self.kind = kind
        self.backend = backend
        self.threads = threads

    @cached_property
    def _hog(self):  # noqa: ANN202 - dlib type
        import dlib

        return dlib.get_frontal_face_detector()

    @cached_property
    def _cnn(self):  # noqa: ANN202 - dlib or onnx detector
        """The MMOD CNN on onnxruntime when installed (same boxes, ~10× faster), else dlib."""
        if self.backend != "dlib":
            from faceledger.engine.onnx.runtime import OnnxMmodDetector, onnx_available

            if onnx_available():
                return OnnxMmodDetector(str(model_path("mmod")), threads=self.threads)
        import dlib

        return dlib.cnn_face_detection_model_v1(str(model_path("mmod")))

    def detect(
        self,
        pixels: np.ndarray,
        *,
        min_face_size: int = DEFAULT_MIN_FACE_SIZE,
        max_detect_pixels: int = DEFAULT_MAX_DETECT_PIXELS,
        hog_raw: list[tuple[tuple[int, int, int, int], float]] | None = None,
    ) -> tuple[list[Detection], DetectionPlan]:
        """``hog_raw``: HOG's raw answer on :meth:`hog_input` of these pixels, computed
        elsewhere (video search runs HOG on some regions in a second process)."""
        if self.kind != "auto":
            raw = hog_raw if self.kind == "hog" else None
            return self._detect_with(self.kind, pixels, min_face_size, max_detect_pixels, raw)
        found, plan = self._detect_with("hog", pixels, min_face_size, max_detect_pixels, hog_raw)
        cnn_pixels = min(max_detect_pixels, CNN_MAX_DETECT_PIXELS)
        height, width = pixels.shape[:2]
        cnn_min = plan_scale(
            width, height, min_face_size=min_face_size, max_detect_pixels=cnn_pixels
        ).effective_min_face_size()
        if any(min(d.box.width, d.box.height) >= cnn_min for d in found):
            return found, plan
        extra, _ = self._detect_with("cnn", pixels, min_face_size, cnn_pixels)
        found += [d for d in extra if all(d.box.iou(h.box) < SAME_FACE_IOU for h in found)]
        return found, plan

    def hog_input(
        self, pixels: np.ndarray, *, min_face_size: int, max_detect_pixels: int
    ) -> np.ndarray | None:
        """The pixels HOG searches for :meth:`detect` (scaled as planned); None when this
        detector does not run HOG."""
        if self.kind == "cnn":
            return None
        height, width = pixels.shape[:2]
        plan = plan_scale(
            width, height, min_face_size=min_face_size, max_detect_pixels=max_detect_pixels
        )
        return _resize(pixels, plan.scale)

    def _detect_with(
        self,
        kind: str,
        pixels: np.ndarray,
        min_face_size: int,
        max_detect_pixels: int,
        raw: list[tuple[tuple[int, int, int, int], float]] | None = None,
    ) -> tuple[list[Detection], DetectionPlan]:
        height, width = pixels.shape[:2]
        plan = plan_scale(
            width, height, min_face_size=min_face_size, max_detect_pixels=max_detect_pixels
        )
        if raw is None:
            raw = self._run(kind, _resize(pixels, plan.scale))
        out = []
        for (left, top, right, bottom), score in raw:
            box = _unscale_box(left, top, right, bottom, plan.scale, width, height)
            if box.width >= 4 and box.height >= 4:
                out.append(Detection(box, score, kind))
        return out, plan

    def _run(self, kind: str, img: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        if kind == "hog":
            rects, scores, _ = self._hog.run(img, 0, HOG_THRESHOLD)
            return [
                ((r.left(), r.top(), r.right(), r.bottom()), float(s))
                for r, s in zip(rects, scores, strict=True)
            ]
        if hasattr(self._cnn, "detect"):
            return self._cnn.detect(img, 0)
        dets = self._cnn(img, 0)
        return [
            ((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), float(d.confidence))
            for d in dets
        ]


def _resize(pixels: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return pixels
    h, w = pixels.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.BILINEAR if scale > 1 else Image.Resampling.BOX
    return np.asarray(Image.fromarray(pixels).resize(size, resample))


def _unscale_box(
    left: int, top: int, right: int, bottom: int, scale: float, width: int, height: int
) -> BoundingBox:
    x0 = max(0, int(round(left / scale)))
    y0 = max(0, int(round(top / scale)))
    x1 = min(width, int(round((right + 1) / scale)))
    y1 = min(height, int(round((bottom + 1) / scale)))
    return BoundingBox(x0, y0, max(0, x1 - x0), max(0, y1 - y0))
