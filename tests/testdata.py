"""Shared test data and helpers: the public-domain portraits, image encoding, group photos.

Imported as ``from testdata import ...`` (tests/ is on sys.path): every test folder may have its
own conftest.py, so ``from conftest import`` would be ambiguous.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures"
CONGRESS = FIXTURES / "congress"
PORTRAITS = sorted(CONGRESS.glob("*.jpg"))


def portrait_genders() -> dict[Path, str]:
    """Each fixture portrait's gender, from tests/fixtures/congress/labels.csv."""
    import csv

    with (CONGRESS / "labels.csv").open(newline="") as fh:
        return {CONGRESS / row["image"]: row["gender"] for row in csv.DictReader(fh)}


def dataset(shared: Path, name: str) -> Path:
    path = shared / name
    if not path.is_dir():
        pytest.skip(f"dataset {name} not present under {shared}")
    return path


def encode(pixels: np.ndarray | Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def group_photo(paths: list[Path], *, scales: list[float], size=(1200, 500)) -> np.ndarray:
    """Paste portraits side by side on a grey canvas: a real multi-face image with known count."""
    canvas = Image.new("RGB", size, (128, 128, 128))
    x = 10
    for path, scale in zip(paths, scales, strict=True):
        img = Image.open(path).convert("RGB")
        img = img.resize((int(img.width * scale), int(img.height * scale)))
        canvas.paste(img, (x, 10))
        x += img.width + 10
    return np.asarray(canvas)
