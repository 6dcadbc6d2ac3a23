"""faceledger: face recognition you can account for.

The small public API::

    from faceledger import Engine
    faces = Engine().represent("photo.jpg")
"""

from importlib.metadata import PackageNotFoundError, version

from faceledger.engine import (
    DEFAULT_SEARCH_THRESHOLD,
    DEFAULT_THRESHOLD,
    BoundingBox,
    Comparison,
    Engine,
    EngineConfig,
    Face,
    FaceMatch,
    Pose,
    Quality,
)
from faceledger.errors import FaceledgerError, ImageError, ModelError
from faceledger.images import load_image

try:
    __version__ = version("faceledger")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "DEFAULT_SEARCH_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "BoundingBox",
    "Comparison",
    "Engine",
    "EngineConfig",
    "Face",
    "FaceMatch",
    "FaceledgerError",
    "ImageError",
    "ModelError",
    "Pose",
    "Quality",
    "__version__",
    "load_image",
]
