"""An image input as bytes and its SHA-256: what the service hashes into requests and records."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from faceledger.errors import ImageError
from faceledger.images import ImageInput


def image_digest(image: ImageInput) -> tuple[ImageInput, str]:
    """The input as bytes (paths read once) and its SHA-256 (of the pixels for arrays)."""
    if isinstance(image, np.ndarray):
        h = hashlib.sha256(str(image.shape).encode() + np.ascontiguousarray(image).tobytes())
        return image, h.hexdigest()
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        if not path.is_file():
            raise ImageError(f"no such file: {path}", code="file_not_found")
        try:
            image = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read {path}: {exc.strerror}", code="unreadable") from exc
    elif hasattr(image, "read"):
        image = image.read()  # type: ignore[union-attr]
    data = bytes(image)  # type: ignore[arg-type]
    return data, hashlib.sha256(data).hexdigest()
