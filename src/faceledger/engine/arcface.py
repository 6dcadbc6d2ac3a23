"""ArcFace-style alignment: five points (eye centres, nose tip, mouth corners) mapped by a
similarity transform onto the standard 112×112 template, from dlib's landmarks.

dlib's 68-point predictor gives the five points directly (eye centres are the means of the six
points around each eye, the nose tip is point 30, the mouth corners 48 and 54). The shipped
5-point predictor (licence: any use) has the eye corners and the base of the nose but no mouth:
there the five points are estimated, in the frame of the eyes (origin between them, unit the
distance between them), as a linear function of where the base of the nose sits
(``FROM_FIVE``, fitted by ``benchmarks/arcface_points.py`` against the 68-point predictor on the
290 Congress portraits and 600 LFW images). On those 890 faces the estimated points move the
112×112 chip by 2.2 pixels on average (median 2.0, 95th percentile 4.6) from the chip the 68
points give; the mouth corners are the least certain (4 pixels), the eyes within 0.7.
"""

from __future__ import annotations

import numpy as np

TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
"""ArcFace's (insightface's) five points in a 112×112 chip: the eye on the image's left, the
other eye, the nose tip, the mouth corner on the image's left, the other corner."""

FROM_FIVE = np.array(
    [
        [-0.4866, 0.0421, -0.0199],
        [-0.0122, 0.005, 0.0058],
        [0.4879, 0.0491, 0.0179],
        [-0.0094, -0.0101, 0.0028],
        [-0.0324, 1.4255, 0.0446],
        [-0.3436, 0.0448, 1.1702],
        [-0.4841, 0.2073, 0.0097],
        [0.5287, -0.0187, 0.7018],
        [0.548, 0.2984, -0.1031],
        [0.5233, -0.1136, 0.7109],
    ]
)
"""Rows: x, y of each of the five points in the eyes' frame; columns: 1 and the base of the
nose's x, y in that frame (``benchmarks/arcface_points.py``)."""


def _eyes_frame(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    origin = (left + right) / 2
    x = right - left
    y = np.array([-x[1], x[0]])
    return origin, x, y


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) ArcFace points (image-left eye first) from dlib's 5 or 68 landmarks."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape == (68, 2):
        eyes = sorted([pts[36:42].mean(0), pts[42:48].mean(0)], key=lambda p: p[0])
        mouth = sorted([pts[48], pts[54]], key=lambda p: p[0])
        return np.array([*eyes, pts[30], *mouth])
    if pts.shape != (5, 2):
        raise ValueError(f"expected dlib's 5 or 68 landmarks, got an array of shape {pts.shape}")
    left, right = sorted([pts[0:2].mean(0), pts[2:4].mean(0)], key=lambda p: p[0])
    origin, x, y = _eyes_frame(left, right)
    scale = float(x @ x)
    rel = pts[4] - origin
    nose = np.array([1.0, rel @ x / scale, rel @ y / scale])
    frame = (FROM_FIVE @ nose).reshape(5, 2)
    return origin + frame[:, :1] * x + frame[:, 1:] * y


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares similarity transform (rotation, uniform scale, shift) taking the
    points ``src`` onto ``dst`` (Umeyama's method, as insightface's ``estimate_norm``)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    u, sv, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sv) @ sign) / ((s**2).sum() / len(src))
    return np.hstack([scale * rot, (md - scale * rot @ ms)[:, None]])


def warp(pixels: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 chip: ``pixels`` under the (2, 3) transform ``matrix``, bilinear."""
    from PIL import Image

    inv = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    # PIL maps each output pixel back to the input, both measured from pixel corners; the
    # landmarks are pixel indices (centres): shift by half a pixel on both sides.
    inv[:, 2] += 0.5 - inv[:, :2] @ np.array([0.5, 0.5])
    img = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    out = img.transform(
        (size, size), Image.Transform.AFFINE, tuple(inv.reshape(-1)), Image.Resampling.BILINEAR
    )
    return np.asarray(out, dtype=np.uint8)


def chips(
    pixels: np.ndarray, landmarks: np.ndarray, size: int, zooms: tuple[float, ...] = (1.0,)
) -> np.ndarray:
    """(len(zooms), size, size, 3) ArcFace-aligned chips; the template is scaled from ``112``
    to ``size`` and, for each zoom, about the chip's centre (>1: closer, <1: more context)."""
    points = five_points(landmarks)
    out = []
    for zoom in zooms:
        centre = np.array([56.0, 56.0])
        template = (centre + (TEMPLATE_112 - centre) * zoom) * (size / 112.0)
        out.append(warp(pixels, similarity_transform(points, template), size))
    return np.stack(out)
