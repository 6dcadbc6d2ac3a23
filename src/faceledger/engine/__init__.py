"""The recognition engine: detection, alignment, quality, embeddings, similarity."""

from faceledger.engine.core import Engine, EngineConfig
from faceledger.engine.similarity import (
    DEFAULT_SEARCH_THRESHOLD,
    DEFAULT_THRESHOLD,
    distance_from_similarity,
    similarity_from_distance,
)
from faceledger.engine.types import BoundingBox, Comparison, Face, FaceMatch, Pose, Quality

__all__ = [
    "DEFAULT_SEARCH_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "BoundingBox",
    "Comparison",
    "Engine",
    "EngineConfig",
    "Face",
    "FaceMatch",
    "Pose",
    "Quality",
    "distance_from_similarity",
    "similarity_from_distance",
]
