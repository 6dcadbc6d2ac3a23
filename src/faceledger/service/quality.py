"""Quality filter levels for indexing, on the engine's measured scales, with Rekognition's names."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from faceledger.engine.types import Face


class QualityFilter(StrEnum):
    """How demanding indexing is about a face before storing it (see QUALITY_BARS)."""

    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


@dataclass(frozen=True, slots=True)
class QualityBar:
    min_face_size: int
    """Shorter side of the face box, pixels (SMALL_BOUNDING_BOX below it)."""
    min_sharpness: float
    """Quality.sharpness 0-100 of the aligned chip (LOW_SHARPNESS below it)."""
    min_brightness: float
    """Quality.brightness 0-100 (LOW_BRIGHTNESS below it)."""
    max_yaw: float
    max_pitch: float
    """Estimated |yaw| and |pitch| in degrees (EXTREME_POSE above either)."""


QUALITY_BARS: dict[QualityFilter, QualityBar | None] = {
    QualityFilter.NONE: None,
    # LOW refuses only faces recognition cannot use (heavy blur, tiny, dark, profile).
    QualityFilter.LOW: QualityBar(30, 10.0, 10.0, 60.0, 45.0),
    QualityFilter.MEDIUM: QualityBar(50, 30.0, 20.0, 45.0, 30.0),
    QualityFilter.HIGH: QualityBar(80, 60.0, 30.0, 30.0, 20.0),
}
"""Quality filter levels, on the engine's measured scales (engine/quality.py, engine/pose.py).
Sharpness: LFW news photos have a median of 87-91 (1st percentile ~47), the Congress portraits
77-100, LFW after a 1.5 px Gaussian blur ~25 and after 3 px ~8: LOW drops the 3 px blur, MEDIUM
the 1.5 px blur. Face size on LFW: 90-155 px (median 108)."""


def quality_reasons(face: Face, level: QualityFilter | str) -> list[str]:
    """Why ``face`` is below the bar of ``level`` (empty when it passes), Rekognition's names."""
    bar = QUALITY_BARS[QualityFilter(level)]
    if bar is None:
        return []
    reasons = []
    if face.quality.face_size < bar.min_face_size:
        reasons.append("SMALL_BOUNDING_BOX")
    if face.quality.sharpness < bar.min_sharpness:
        reasons.append("LOW_SHARPNESS")
    if face.quality.brightness < bar.min_brightness:
        reasons.append("LOW_BRIGHTNESS")
    if abs(face.pose.yaw) > bar.max_yaw or abs(face.pose.pitch) > bar.max_pitch:
        reasons.append("EXTREME_POSE")
    return reasons


def pick_searched(
    faces: list[Face], level: QualityFilter | str
) -> tuple[Face | None, list[tuple[Face, list[str]]]]:
    """The face a search by image uses: the largest (``faces`` come largest first) that passes
    the bar of ``level``; and every other face with why it is not searched (its quality
    reasons, and ``FACE_NOT_LARGEST`` when smaller than the searched one)."""
    searched: Face | None = None
    others: list[tuple[Face, list[str]]] = []
    for face in faces:
        reasons = quality_reasons(face, level)
        if not reasons and searched is None:
            searched = face
            continue
        others.append((face, reasons + ["FACE_NOT_LARGEST"] * (searched is not None)))
    return searched, others
