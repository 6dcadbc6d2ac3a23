"""Five landmarks per face and the aligned 150×150 chip the descriptor network expects."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from faceledger.engine.models import model_path
from faceledger.engine.types import BoundingBox

CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""dlib's defaults for its ResNet descriptor; the model id assumes exactly these."""


class Aligner:
    """Fits dlib's 5-point shape predictor (licence: any use) and cuts aligned chips."""

    @cached_property
    def _predictor(self):  # noqa: ANN202 - dlib type
        import dlib

        return dlib.shape_predictor(str(model_path("landmarks5")))

    def shape(self, pixels: np.ndarray, box: BoundingBox):  # noqa: ANN201 - dlib type
        import dlib

        rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        return self._predictor(pixels, rect)

    @staticmethod
    def points(shape) -> np.ndarray:  # noqa: ANN001 - dlib type
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    @staticmethod
    def chips(
        pixels: np.ndarray,
        shape,
        paddings: tuple[float, ...] = (CHIP_PADDING,),  # noqa: ANN001
        size: int = CHIP_SIZE,
    ) -> np.ndarray:
        """(len(paddings), size, size, 3) aligned chips, one per padding (crop scale)."""
        import dlib

        return np.stack(
            [np.asarray(dlib.get_face_chip(pixels, shape, size, pad)) for pad in paddings]
        )
