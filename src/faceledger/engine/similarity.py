"""Distance between embeddings and the similarity score (0–100) people set thresholds on.

Similarity is a fixed, strictly decreasing logistic function of the Euclidean distance,
``100 / (1 + exp((d - midpoint) / slope))``, with constants per model id. The constants were set
once, from LFW impostor pairs, so that for every model **similarity 90 ⇔ a false-match rate of
1e-3 and similarity 99 ⇔ 1e-4 on LFW**: a threshold then means the same thing whatever the model.
Those are calibration targets, not guarantees: the measured rates on LFW and on other
populations (UTKFace adults, children) are in the README's table and the fairness audit, which
show some populations match falsely far more often at the same threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from faceledger.errors import ModelError

DEFAULT_MODEL_ID = "dlib-resnet-v1+tta6"
DEFAULT_THRESHOLD = 90.0
"""Default for 1:1 comparison: LFW FMR 1e-3 per comparison."""
DEFAULT_SEARCH_THRESHOLD = 99.9
"""Default for 1:N search. A search makes one comparison per enrolled face, so false candidates
grow with the gallery: at 90, 72 % of never-enrolled LFW probes matched someone in a gallery of
3,714 (benchmarks/search.py); at 99.9 a comparison's LFW FMR is 8e-6."""


@dataclass(frozen=True, slots=True)
class Calibration:
    midpoint: float
    """Distance at which similarity is 50."""
    slope: float
    """Distance per logistic unit."""

    @classmethod
    def from_targets(cls, d90: float, d99: float) -> Calibration:
        """Constants that put similarity 90 at distance d90 and 99 at d99."""
        slope = (d90 - d99) / math.log(11.0)  # ln(99) - ln(9)
        return cls(midpoint=d90 + slope * math.log(9.0), slope=slope)


CALIBRATIONS: dict[str, Calibration] = {
    # Distances at LFW FMR 1e-3 and 1e-4 over 2,000,000 sampled impostor pairs of the
    # deep-funneled images (benchmarks/lfw_verification.py --calibrate), rounded to 1e-3.
    "dlib-resnet-v1+tta6": Calibration.from_targets(d90=0.371, d99=0.331),
    "dlib-resnet-v1": Calibration.from_targets(d90=0.542, d99=0.473),
}


CALIBRATED_FMR = ((99.0, 1e-4), (90.0, 1e-3))
"""The calibration targets: a comparison of two different LFW people scores at least 99 with
probability 1e-4, at least 90 with 1e-3 (every model id)."""


def false_match_bound(threshold: float) -> tuple[float, float] | None:
    """(calibrated similarity, LFW false-match rate) bounding the rate at ``threshold``: the
    highest calibration point at or below it (the rate only falls as the threshold rises), or
    None below 90. An LFW figure: some populations match falsely far more often (the fairness
    audit measures how much)."""
    for similarity, rate in CALIBRATED_FMR:
        if threshold >= similarity:
            return similarity, rate
    return None


def calibration(model_id: str = DEFAULT_MODEL_ID) -> Calibration:
    try:
        return CALIBRATIONS[model_id]
    except KeyError:
        raise ModelError(
            f"no similarity calibration for model {model_id!r}; known: {sorted(CALIBRATIONS)}"
        ) from None


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Euclidean distance; broadcasts over leading axes of ``b``."""
    d = np.linalg.norm(np.asarray(b, dtype=np.float32) - np.asarray(a, dtype=np.float32), axis=-1)
    return float(d) if np.ndim(d) == 0 else d


def similarity_from_distance(
    d: np.ndarray | float, model_id: str = DEFAULT_MODEL_ID
) -> np.ndarray | float:
    """Map distance to similarity in [0, 100] with the model's calibration."""
    cal = calibration(model_id)
    z = np.clip((np.asarray(d, dtype=np.float64) - cal.midpoint) / cal.slope, -700, 700)
    s = 100.0 / (1.0 + np.exp(z))
    return float(s) if np.ndim(s) == 0 else s


def distance_from_similarity(s: float, model_id: str = DEFAULT_MODEL_ID) -> float:
    """Inverse of ``similarity_from_distance``: the largest distance a threshold accepts."""
    if not 0.0 < s < 100.0:
        raise ValueError("similarity threshold must be strictly between 0 and 100")
    cal = calibration(model_id)
    return cal.midpoint + cal.slope * math.log(100.0 / s - 1.0)
