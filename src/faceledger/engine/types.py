"""Plain data types the engine returns; each has ``to_dict`` for stable JSON output."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LANDMARK_NAMES = (
    "left_eye_outer",
    "left_eye_inner",
    "right_eye_outer",
    "right_eye_inner",
    "nose_base",
)
"""Names of dlib's five points, in its order. Left/right are the *person's*: the person's left
eye appears on the image's right side."""


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Pixel box in the upright image: left/top inclusive, width/height in pixels."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return (self.left + self.width / 2, self.top + self.height / 2)

    def iou(self, other: BoundingBox) -> float:
        """Intersection over union, for matching detections."""
        ix = max(0, min(self.right, other.right) - max(self.left, other.left))
        iy = max(0, min(self.bottom, other.bottom) - max(self.top, other.top))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union else 0.0

    def to_dict(self) -> dict[str, int]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


@dataclass(frozen=True, slots=True)
class Pose:
    """Head pose in degrees, *estimated* from five landmarks (about ±10° for |angle| < 45°).

    yaw > 0: the person turns to their left (nose toward the image's right);
    pitch > 0: the face tilts up; roll > 0: the head tilts clockwise in the image.
    """

    yaw: float
    pitch: float
    roll: float

    def to_dict(self) -> dict[str, float]:
        return {
            "yaw": round(self.yaw, 1),
            "pitch": round(self.pitch, 1),
            "roll": round(self.roll, 1),
        }


@dataclass(frozen=True, slots=True)
class Quality:
    """How usable the face is for recognition, measured on the aligned 150×150 chip.

    sharpness: 0–100 from the variance of the Laplacian (blur lowers it);
    brightness: 0–100 mean luminance of the chip; face_size: shorter side of the box in pixels.
    """

    sharpness: float
    brightness: float
    face_size: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "sharpness": round(self.sharpness, 1),
            "brightness": round(self.brightness, 1),
            "face_size": self.face_size,
        }


@dataclass(slots=True)
class Face:
    """One detected face. ``embedding`` is set by ``Engine.represent``, else None."""

    box: BoundingBox
    score: float
    detector: str
    landmarks: np.ndarray
    """5×2 float array of (x, y) pixels, in the order of LANDMARK_NAMES."""
    pose: Pose
    quality: Quality
    embedding: np.ndarray | None = None
    model_id: str | None = None
    chips: np.ndarray | None = field(default=None, repr=False)
    """(K, 150, 150, 3) aligned RGB chips the embedding is computed from (kept on request)."""

    def to_dict(self, *, embedding: bool = True) -> dict[str, object]:
        out: dict[str, object] = {
            "box": self.box.to_dict(),
            "score": round(float(self.score), 4),
            "detector": self.detector,
            "landmarks": {
                name: [round(float(x), 1), round(float(y), 1)]
                for name, (x, y) in zip(LANDMARK_NAMES, self.landmarks, strict=True)
            },
            "pose": self.pose.to_dict(),
            "quality": self.quality.to_dict(),
        }
        if self.model_id is not None:
            out["model_id"] = self.model_id
        if embedding and self.embedding is not None:
            out["embedding"] = [round(float(v), 7) for v in self.embedding]
        return out


@dataclass(frozen=True, slots=True)
class FaceMatch:
    """One target face compared against the source face."""

    face: Face
    distance: float
    similarity: float
    match: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "face": self.face.to_dict(embedding=False),
            "distance": round(self.distance, 4),
            "similarity": round(self.similarity, 2),
            "match": self.match,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """Result of ``Engine.compare``: the source's largest face against every target face."""

    source_face: Face | None
    matches: list[FaceMatch]
    threshold: float
    model_id: str

    @property
    def best(self) -> FaceMatch | None:
        return max(self.matches, key=lambda m: m.similarity, default=None)

    def to_dict(self) -> dict[str, object]:
        return {
            "model_id": self.model_id,
            "threshold": self.threshold,
            "source_face": None
            if self.source_face is None
            else self.source_face.to_dict(embedding=False),
            "matches": [m.to_dict() for m in self.matches],
        }
