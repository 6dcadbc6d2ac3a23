"""Face detection: dlib's HOG detector by default, its CNN (MMOD) detector as an option.

Both detectors see faces of about 80×80 pixels and larger. To find smaller faces the image is
scaled up so that ``min_face_size`` pixels become 80; very large images are scaled *down* so
that at most ``max_detect_pixels`` are searched. The smallest face actually findable in an image
is therefore ``effective_min_face_size`` and is reported, never silently worse.
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
    """Runs one dlib detector at a planned scale and maps boxes back to image pixels."""

    def __init__(self, kind: str = "hog", *, backend: str = "auto", threads: int | None = None):
        if kind not in ("hog", "cnn"):
            raise ValueError(f"detector must be 'hog' or 'cnn', not {kind!r}")
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
    ) -> tuple[list[Detection], DetectionPlan]:
        height, width = pixels.shape[:2]
        plan = plan_scale(
            width, height, min_face_size=min_face_size, max_detect_pixels=max_detect_pixels
        )
        scaled = _resize(pixels, plan.scale)
        raw = self._run(scaled)
        out = []
        for (left, top, right, bottom), score in raw:
            box = _unscale_box(left, top, right, bottom, plan.scale, width, height)
            if box.width >= 4 and box.height >= 4:
                out.append(Detection(box, score, self.kind))
        return out, plan

    def _run(self, img: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        if self.kind == "hog":
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
