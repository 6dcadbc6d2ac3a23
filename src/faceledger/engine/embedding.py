"""Face descriptors: 128-D vectors from aligned chips, with the id of the model that made them.

Backends compute the same function (dlib's ResNet); ``load_descriptor`` picks the fastest one
installed. A backend may only claim a model id if it reproduces that model's vectors.
"""

from __future__ import annotations

from functools import cached_property
from typing import Protocol

import numpy as np

from faceledger.engine.models import DESCRIPTOR_MODEL_ID, model_path
from faceledger.errors import ModelError


class Descriptor(Protocol):
    model_id: str
    backend: str

    def compute(self, chips: np.ndarray) -> np.ndarray:
        """(N,150,150,3) uint8 RGB chips → (N,128) float32 descriptors."""
        ...


class DlibDescriptor:
    """The reference implementation: dlib's own network evaluation."""

    model_id = DESCRIPTOR_MODEL_ID
    backend = "dlib"

    @cached_property
    def _net(self):  # noqa: ANN202 - dlib type
        import dlib

        return dlib.face_recognition_model_v1(str(model_path("descriptor")))

    def compute(self, chips: np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, 128), dtype=np.float32)
        vecs = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return np.array([np.asarray(v) for v in vecs], dtype=np.float32)


def load_descriptor(backend: str = "auto", *, threads: int | None = None) -> Descriptor:
    """The descriptor for ``backend``: "dlib", "onnx", or "auto" (onnx when installed).

    The onnxruntime path may claim dlib's model id because it reproduces dlib's vectors to
    within 1e-4 per component (enforced by tests/engine/test_onnx_parity.py).
    ``threads`` bounds onnxruntime's threads (1 in each worker of a process pool).
    """
    if backend not in ("auto", "dlib", "onnx"):
        raise ValueError(f"unknown descriptor backend {backend!r}: auto, dlib or onnx")
    if backend != "dlib":
        from faceledger.engine.onnx.runtime import OnnxDescriptor, onnx_available

        if onnx_available():
            return OnnxDescriptor(threads=threads)
        if backend == "onnx":
            raise ModelError("backend 'onnx' needs the onnx and onnxruntime packages")
    return DlibDescriptor()


def flip_average(descriptor: Descriptor, chips: np.ndarray) -> np.ndarray:
    """Mean of the descriptors of each chip and its mirror image (test-time augmentation)."""
    both = np.concatenate([chips, chips[:, :, ::-1]], axis=0)
    vecs = descriptor.compute(np.ascontiguousarray(both))
    n = len(chips)
    return (vecs[:n] + vecs[n:]) / 2.0
