"""Labeled Faces in the Wild: the View 2 protocol (pairs.txt, 10 folds × 600 pairs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_DIR = "lfw-deepfunneled"


@dataclass(frozen=True, slots=True)
class Pair:
    fold: int
    left: str
    right: str
    same: bool
    left_identity: str
    right_identity: str


def image_name(identity: str, number: int) -> str:
    """Relative path of an LFW image, e.g. ``Aaron_Eckhart/Aaron_Eckhart_0001.jpg``."""
    return f"{identity}/{identity}_{number:04d}.jpg"


def read_pairs(lfw_dir: Path, filename: str = "pairs.txt") -> list[Pair]:
    """Parse the official pairs file: a header ``folds\\tn``, then per fold n genuine lines
    ``name i j`` and n impostor lines ``name1 i name2 j``."""
    lines = (lfw_dir / filename).read_text().splitlines()
    header = lines[0].split()
    folds, per = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    pairs: list[Pair] = []
    rows = [line.split() for line in lines[1:] if line.strip()]
    if len(rows) != folds * per * 2:
        raise ValueError(f"{filename}: expected {folds * per * 2} pairs, found {len(rows)}")
    for index, row in enumerate(rows):
        fold = index // (2 * per)
        if len(row) == 3:
            name, i, j = row[0], int(row[1]), int(row[2])
            pairs.append(Pair(fold, image_name(name, i), image_name(name, j), True, name, name))
        elif len(row) == 4:
            a, i, b, j = row[0], int(row[1]), row[2], int(row[3])
            pairs.append(Pair(fold, image_name(a, i), image_name(b, j), False, a, b))
        else:
            raise ValueError(f"{filename}: malformed line {index + 2}: {' '.join(row)!r}")
    return pairs


def identities(lfw_dir: Path) -> dict[str, list[str]]:
    """Every identity with the relative paths of its images, sorted."""
    root = lfw_dir / IMAGE_DIR
    return {
        person.name: sorted(f"{person.name}/{p.name}" for p in person.glob("*.jpg"))
        for person in sorted(root.iterdir())
        if person.is_dir()
    }
