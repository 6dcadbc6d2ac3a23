"""faceledger's results as Rekognition's JSON shapes (service model 2016-06-27).

Boxes and landmarks are ratios of the upright image's width and height; similarities are
faceledger's calibrated 0-100 scale (see docs/rekognition.md); ``Confidence`` is a monotone map
of the detector's score to 0-100 (50 at the detector's cut-off), not a calibrated probability.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from faceledger.engine.types import BoundingBox, Face, Pose, Quality
from faceledger.store.base import FaceRecord

DETECTOR_CUTOFF = -0.2
"""The HOG detector keeps faces scoring at least this (Confidence 50 there)."""

LANDMARKS = {
    # Rekognition's names are from the viewer's side (eyeLeft: the eye on the image's left,
    # the person's right); dlib's five points are the person's (engine.types.LANDMARK_NAMES).
    "eyeLeft": (2, 3),
    "eyeRight": (0, 1),
    "leftEyeLeft": (2,),
    "leftEyeRight": (3,),
    "rightEyeLeft": (1,),
    "rightEyeRight": (0,),
    "nose": (4,),
}


def confidence(score: float) -> float:
    """The detector's score as 0-100: 50 at the cut-off, 94 at score 0.5, 99.2 at 1."""
    return round(100.0 / (1.0 + math.exp(-4.0 * (float(score) - DETECTOR_CUTOFF))), 4)


def bounding_box(box: BoundingBox, width: int | None, height: int | None) -> dict[str, float]:
    if not width or not height:
        return {}
    return {
        "Width": round(box.width / width, 6),
        "Height": round(box.height / height, 6),
        "Left": round(box.left / width, 6),
        "Top": round(box.top / height, 6),
    }


def _with_box(out: dict[str, Any], box: BoundingBox, width: int | None, height: int | None):
    """Put ``BoundingBox`` first when the image size is known (faces stored before sizes were
    kept have none: the member is left out rather than invented)."""
    bb = bounding_box(box, width, height)
    return {"BoundingBox": bb, **out} if bb else out


def landmarks(points: np.ndarray, width: int, height: int) -> list[dict[str, Any]]:
    pts = np.asarray(points, dtype=np.float64)
    out = []
    for name, idx in LANDMARKS.items():
        x, y = pts[list(idx)].mean(axis=0)
        out.append({"Type": name, "X": round(x / width, 6), "Y": round(y / height, 6)})
    return out


def pose(p: Pose) -> dict[str, float]:
    def clamp(v: float) -> float:
        return round(max(-180.0, min(180.0, float(v))), 3)

    return {"Roll": clamp(p.roll), "Yaw": clamp(p.yaw), "Pitch": clamp(p.pitch)}


def quality(q: Quality) -> dict[str, float]:
    return {"Brightness": round(float(q.brightness), 3), "Sharpness": round(float(q.sharpness), 3)}


def face_detail(face: Face, width: int, height: int) -> dict[str, Any]:
    """A detected face (DetectFaces' FaceDetail; ComparedFace has the same members)."""
    return _with_box(
        {
            "Confidence": confidence(face.score),
            "Landmarks": landmarks(face.landmarks, width, height),
            "Pose": pose(face.pose),
            "Quality": quality(face.quality),
        },
        face.box, width, height,
    )  # fmt: skip


def record_detail(record: FaceRecord) -> dict[str, Any]:
    """FaceDetail of a stored face (no landmarks are stored)."""
    return _with_box(
        {
            "Confidence": confidence(record.score),
            "Pose": pose(record.pose),
            "Quality": quality(record.quality),
        },
        record.box, record.image_width, record.image_height,
    )  # fmt: skip


def image_id(image_sha256: str) -> str:
    """A stable UUID-shaped ImageId: the first 128 bits of the image's SHA-256."""
    return str(uuid.UUID(hex=image_sha256[:32]))


def stored_face(record: FaceRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"FaceId": record.face_id, "ImageId": image_id(record.image_sha256)}
    if record.external_image_id is not None:
        out["ExternalImageId"] = record.external_image_id
    out["Confidence"] = confidence(record.score)
    if record.user_id is not None:
        out["UserId"] = record.user_id
    return _with_box(out, record.box, record.image_width, record.image_height)


def face_matches(hits: Sequence[Any]) -> list[dict[str, Any]]:
    """FaceMatch list from store hits, most similar first."""
    return [
        {"Similarity": round(float(h.similarity), 4), "Face": stored_face(h.face)} for h in hits
    ]


def epoch(timestamp: str) -> float:
    """A stored ISO time as epoch seconds (the JSON protocol's timestamp)."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def user(user_id: str) -> dict[str, str]:
    return {"UserId": user_id, "UserStatus": "ACTIVE"}


def lead_results(operation: str, rows: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A released lead's rows in Rekognition's terms (FaceMatches or UserMatches)."""
    if rows is None:
        return {}
    if operation == "users.search":
        return {
            "UserMatches": [
                {"Similarity": float(r["similarity"]), "User": user(r["user_id"])} for r in rows
            ]
        }
    matches = []
    for r in rows:
        face = {k: r[src] for k, src in (("FaceId", "face_id"), ("ExternalImageId",
                "external_image_id"), ("UserId", "user_id")) if r.get(src) is not None}  # fmt: skip
        match: dict[str, Any] = {"Similarity": float(r["similarity"])}
        if face:
            match["Face"] = face
        if "target_face" in r:
            match["TargetFaceIndex"] = int(r["target_face"])
        matches.append(match)
    return {"FaceMatches": matches}
