"""An ONNX face embedding model a user brings: its input, normalization and output checked once,
then run with onnxruntime on the chips its alignment cuts (``engine.user_models``).

The input is one image tensor of rank 4, NCHW (``[N, 3, S, S]``) or NHWC (``[N, S, S, 3]``), of
uint8 (normalization ``uint8``: the pixels as they are) or float (any other normalization:
``(pixel - MEAN) / STD`` per channel). The first output is the embedding, ``[N, 128]`` (the
store holds 128 numbers per face).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceledger.errors import ModelError

EMBEDDING_DIM = 128
NORMALIZATION_PRESETS = {"unit": "0:255", "arcface": "127.5:127.5"}
_SPEC = re.compile(r"^(uint8|[a-z-]+|[0-9.]+:[0-9.]+)(,bgr)?$")


@dataclass(frozen=True, slots=True)
class Normalization:
    spec: str
    """As given: ``uint8``, ``unit`` (x/255), ``arcface`` ((x-127.5)/127.5), or ``MEAN:STD``;
    ``,bgr`` appended when the model wants blue first."""
    raw: bool
    mean: float
    std: float
    bgr: bool

    def apply(self, chips: np.ndarray, nchw: bool) -> np.ndarray:
        x = chips[..., ::-1] if self.bgr else chips
        if not self.raw:
            x = (x.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)
        if nchw:
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)


def parse_normalization(spec: str) -> Normalization:
    text = spec.strip().lower()
    m = _SPEC.match(text)
    base = m.group(1) if m else ""
    base = NORMALIZATION_PRESETS.get(base, base)
    if not m or (base != "uint8" and ":" not in base):
        raise ModelError(
            f"normalization {spec!r}: give uint8 (pixels as they are), unit (x/255), arcface "
            "((x-127.5)/127.5) or MEAN:STD, optionally followed by ,bgr"
        )
    bgr = bool(m.group(2))
    if base == "uint8":
        return Normalization(text, True, 0.0, 1.0, bgr)
    mean, std = (float(v) for v in base.split(":"))
    if std <= 0:
        raise ModelError(f"normalization {spec!r}: STD must be positive")
    return Normalization(text, False, mean, std, bgr)


class OnnxEmbedder:
    """Embeddings of a user's ONNX model (``Descriptor`` protocol) on ``size``×``size`` chips."""

    backend = "onnx"

    def __init__(
        self,
        path: str | Path,
        *,
        model_id: str,
        size: int,
        normalization: str,
        threads: int | None = None,
    ) -> None:
        from faceledger.engine.onnx.runtime import _session

        self.model_id = model_id
        self.chip_size = size
        self.normalization = parse_normalization(normalization)
        try:
            self._session = _session(Path(path), threads)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own message says what it met
            raise ModelError(f"{path}: onnxruntime cannot load it ({exc})") from None
        self._input, self._nchw, self._batch = self._check_input()

    def _check_input(self) -> tuple[str, bool, int | None]:
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(
                "an embedding model needs exactly one image input of rank 4 (NCHW or NHWC); "
                f"this one has {[(i.name, i.shape) for i in inputs]}"
            )
        spec = inputs[0]
        shape = spec.shape
        nchw = shape[1] == 3
        if not nchw and shape[3] != 3:
            raise ModelError(f"input {spec.name} {shape}: neither [N,3,S,S] nor [N,S,S,3]")
        spatial = shape[2:4] if nchw else shape[1:3]
        for dim in spatial:
            if isinstance(dim, int) and dim != self.chip_size:
                raise ModelError(
                    f"input {spec.name} {shape} takes {dim}-pixel chips: give --input-size {dim}"
                )
        uint8 = spec.type == "tensor(uint8)"
        if uint8 != self.normalization.raw:
            want = "uint8" if uint8 else "a float normalization (unit, arcface, MEAN:STD)"
            raise ModelError(f"input {spec.name} is {spec.type}: give --normalization {want}")
        if not uint8 and spec.type not in ("tensor(float)", "tensor(float16)"):
            raise ModelError(f"input {spec.name} is {spec.type}: uint8 or float expected")
        self._half = spec.type == "tensor(float16)"
        batch = shape[0] if isinstance(shape[0], int) else None
        return spec.name, nchw, batch

    def compute(self, chips: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB chips → (N, 128) float32 embeddings."""
        chips = np.asarray(chips)
        size = self.chip_size
        if chips.ndim != 4 or chips.shape[1:] != (size, size, 3) or chips.dtype != np.uint8:
            raise ValueError(f"expected (N, {size}, {size}, 3) uint8 chips, got {chips.shape}")
        if len(chips) == 0:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        x = self.normalization.apply(chips, self._nchw)
        if self._half:
            x = x.astype(np.float16)
        step = self._batch or 16
        outs = [
            np.asarray(self._session.run(None, {self._input: x[i : i + step]})[0])
            for i in range(0, len(x), step)
        ]
        out = np.concatenate(outs).reshape(len(chips), -1).astype(np.float32, copy=False)
        if out.shape[1] != EMBEDDING_DIM or not np.isfinite(out).all():
            raise ModelError(
                f"model {self.model_id} gave {out.shape[1]} numbers per face; faceledger stores "
                f"{EMBEDDING_DIM}-number embeddings"
            )
        return out
