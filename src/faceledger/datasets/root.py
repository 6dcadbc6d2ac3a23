"""Where evaluation data lives: an explicit path, $FACELEDGER_DATA, or ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

from faceledger.errors import FaceledgerError

ENV_VAR = "FACELEDGER_DATA"


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The data folder, or None when none is found. Search order: argument, env var, then
    ``shared/data`` beside the current directory or any of its parents (the checkout layout)."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get(ENV_VAR):
        return Path(env)
    here = Path.cwd().resolve()
    for folder in [here, *here.parents]:
        candidate = folder.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    package_checkout = Path(__file__).resolve().parents[3]  # <repo>/src/faceledger/datasets
    candidate = package_checkout.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def require_dataset(name: str, explicit: str | os.PathLike[str] | None = None) -> Path:
    """Path of dataset ``name`` (e.g. "lfw") under the data root, or a clear error."""
    root = data_root(explicit)
    if explicit and Path(explicit).name == name and Path(explicit).is_dir():
        return Path(explicit)
    if root is None or not (root / name).is_dir():
        raise FaceledgerError(
            f"dataset {name!r} not found: pass its folder, or set ${ENV_VAR} to the folder that "
            f"holds {name}/",
            code="dataset_not_found",
        )
    return root / name
