"""Head pose estimated from dlib's five landmarks (four eye corners and the base of the nose).

Five points cannot give a precise 3-D pose; these are geometric estimates good to roughly ±10°
for moderate angles, enough to flag profile or tilted faces for the quality filter.
"""

from __future__ import annotations

import math

import numpy as np

from faceledger.engine.types import Pose

FRONTAL_NOSE_DROP = 0.76
"""Vertical distance eyes→nose base over the distance between eye centres, for a frontal face
(median over Congress portraits)."""
NOSE_DEPTH = 0.65
"""How far the nose base stands out from the eye plane, relative to the eye distance."""


def estimate_pose(landmarks: np.ndarray) -> Pose:
    """Yaw, pitch and roll in degrees from the 5×2 landmark array (LANDMARK_NAMES order)."""
    left_eye = landmarks[0:2].mean(axis=0)  # person's left: image right
    right_eye = landmarks[2:4].mean(axis=0)
    nose = landmarks[4]
    eye_vec = left_eye - right_eye
    iod = float(np.hypot(*eye_vec))
    if iod < 1e-6:
        return Pose(0.0, 0.0, 0.0)
    roll = math.degrees(math.atan2(float(eye_vec[1]), float(eye_vec[0])))
    # Express the nose in a frame aligned with the eye line, origin at the eye midpoint.
    ux = eye_vec / iod
    uy = np.array([-ux[1], ux[0]])
    rel = nose - (left_eye + right_eye) / 2
    along = float(rel @ ux) / iod
    down = float(rel @ uy) / iod
    # Foreshortening of the eye line under yaw shrinks iod by cos(yaw); first order is enough.
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, along / NOSE_DEPTH))))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, (FRONTAL_NOSE_DROP - down) / NOSE_DEPTH))))
    return Pose(yaw=yaw, pitch=pitch, roll=roll)
