"""Quality measures of a face, computed on its aligned chip so they do not depend on image size."""

from __future__ import annotations

import numpy as np

from faceledger.engine.types import BoundingBox, Quality

SHARPNESS_SCALE = 20.0
"""Laplacian variance that maps to sharpness 63 (1 - 1/e). Measured on 60 random images each:
LFW news photos have a median sharpness of 87 (10th percentile 68), Congress portraits 99 (76),
and the same LFW images after a Gaussian blur of 1.5 px a median of 25 (3 px: 8)."""


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: the classic focus measure (Pech-Pacheco 2000)."""
    g = gray.astype(np.float32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def measure_quality(chip: np.ndarray, box: BoundingBox) -> Quality:
    """Sharpness and brightness (0–100) of the chip's central face region, and face size."""
    gray = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    h, w = gray.shape
    inner = gray[h // 5 : h - h // 10, w // 5 : w - w // 5]  # skip padding and background
    sharpness = 100.0 * (1.0 - float(np.exp(-laplacian_variance(inner) / SHARPNESS_SCALE)))
    brightness = float(inner.mean()) / 2.55
    return Quality(sharpness=sharpness, brightness=brightness, face_size=min(box.width, box.height))
