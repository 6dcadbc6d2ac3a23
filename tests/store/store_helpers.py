"""Helpers for the store and service tests: real faces of the Congress portraits."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from faceledger import Engine
from faceledger.engine.types import Face


def embed_portraits(engine: Engine, portraits: list[Path]) -> list[tuple[str, str, Face]]:
    """(external id, SHA-256, largest face with embedding) for each portrait."""
    out = []
    for path in portraits:
        faces = engine.represent(path)
        assert faces, f"no face in {path}"
        out.append((path.stem, hashlib.sha256(path.read_bytes()).hexdigest(), faces[0]))
    return out


def jittered(face: Face, seed: int, scale: float = 0.05) -> Face:
    """A copy of a real face with its embedding moved a little (for many distinct faces)."""
    rng = np.random.default_rng(seed)
    vec = face.embedding + rng.normal(size=128).astype(np.float32) * scale
    return replace(face, embedding=vec.astype(np.float32))


def sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()
