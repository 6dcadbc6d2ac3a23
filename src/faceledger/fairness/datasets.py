"""Audit datasets: images with a subject id and demographic group columns.

Every kind yields an :class:`AuditSet`: image paths relative to a root (the embedding cache is
keyed on both), one subject id per image, and any number of group columns (value per image,
``""`` when unlabelled). Labels come only from the datasets' own label files: faceledger never
infers demographics from faces.

Kinds:

* LFW (``lfw``): every image of every identity (so genuine pairs exist); gender for every
  identity (Afifi lists), race for the 866 identities USC SAIL labelled.
* UTKFace-style folders (``utkface``, ``children``): ``images/`` plus ``labels.csv`` with a
  ``file`` column; no identities, so each image is its own subject (impostor pairs only).
* A manifest CSV (``manifest``): columns ``path``, ``subject`` and any group columns.
* Congress portraits (``congress``): one image per member, gender only; the 1:N probes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from faceledger.datasets.lfw import IMAGE_DIR, identities
from faceledger.datasets.root import require_dataset
from faceledger.errors import FaceledgerError

GENDER = {
    "m": "Male",
    "male": "Male",
    "f": "Female",
    "female": "Female",
    "0": "Male",
    "1": "Female",
}
LFW_RACE = {
    "caucasian": "White",
    "african": "Black",
    "eastasian": "Asian",
    "asianindian": "Indian",
    "latino": "Latino",
    "other": "Other",
    "pacificislander": "Other",
    "nativeamerican": "Other",
    "multi": "Multiple",
}
UTK_RACE = {"others": "Other"}
DATASET_FOLDERS = {
    "lfw": "lfw",
    "utkface": "utkface_balanced",
    "children": "utkface_children",
    "congress": "congress_current",
}


@dataclass
class AuditSet:
    """Images of one dataset with subjects and group labels, aligned by index."""

    name: str
    root: Path
    paths: list[str]
    subjects: list[str]
    groups: dict[str, list[str]] = field(default_factory=dict)
    has_identities: bool = True
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.paths)
        if len(self.subjects) != n or any(len(v) != n for v in self.groups.values()):
            raise ValueError(f"{self.name}: paths, subjects and group columns differ in length")

    def __len__(self) -> int:
        return len(self.paths)

    def group_labels(self, columns: Iterable[str]) -> list[str]:
        """One label per image joining ``columns`` (e.g. ``Black Female``); "" if any missing."""
        cols = [self.groups[c] for c in columns]
        return [" ".join(values) if all(values) else "" for values in zip(*cols, strict=True)]

    def subset(self, indices: Iterable[int], name: str | None = None) -> AuditSet:
        idx = list(indices)
        return AuditSet(
            name=name or self.name,
            root=self.root,
            paths=[self.paths[i] for i in idx],
            subjects=[self.subjects[i] for i in idx],
            groups={k: [v[i] for i in idx] for k, v in self.groups.items()},
            has_identities=self.has_identities,
            meta=dict(self.meta),
        )


def _gender(value: str) -> str:
    return GENDER.get(value.strip().lower(), value.strip().title() if value.strip() else "")


def load_lfw(folder: Path) -> AuditSet:
    """All 13,233 LFW images, in the order of :func:`faceledger.datasets.lfw.identities`."""
    labels_file = folder / "labels" / "lfw_identities_demographics.csv"
    if not labels_file.exists():
        raise FaceledgerError(f"LFW labels not found: {labels_file}", code="dataset_not_found")
    with labels_file.open(newline="") as fh:
        labels = {row["identity"]: row for row in csv.DictReader(fh)}
    paths, subjects, gender, race = [], [], [], []
    for identity, images in identities(folder).items():
        row = labels.get(identity, {})
        g = _gender(row.get("gender_afifi", ""))
        r = LFW_RACE.get(row.get("race_usc_sail_single", "").strip().lower(), "")
        for p in images:
            paths.append(p)
            subjects.append(identity)
            gender.append(g)
            race.append(r)
    return AuditSet(
        name="lfw",
        root=folder / IMAGE_DIR,
        paths=paths,
        subjects=subjects,
        groups={"gender": gender, "race": race},
        has_identities=True,
        meta={"folder": str(folder)},
    )


def load_labelled_folder(
    folder: Path, name: str, *, labels: str = "labels.csv", file_column: str = "file"
) -> AuditSet:
    """A UTKFace-style folder: ``images/`` and a labels CSV, one row per image, no identities.

    Every column other than the file name becomes a group column, except numeric ``age`` and
    ``*_code`` columns; ``gender`` and ``race`` are normalised (Male/Female, Other).
    """
    file = folder / labels
    if not file.exists():
        raise FaceledgerError(f"labels file not found: {file}", code="dataset_not_found")
    with file.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or file_column not in rows[0]:
        raise FaceledgerError(f"{file}: no {file_column!r} column", code="invalid_dataset")
    skip = {file_column, "age"} | {c for c in rows[0] if c.endswith("_code")}
    columns = [c for c in rows[0] if c not in skip]
    image_dir = folder / "images" if (folder / "images").is_dir() else folder
    groups = {c: [_normalise(c, r[c]) for r in rows] for c in columns}
    paths = [r[file_column] for r in rows]
    return AuditSet(
        name=name,
        root=image_dir,
        paths=paths,
        subjects=[f"{name}:{p}" for p in paths],
        groups=groups,
        has_identities=False,
        meta={"folder": str(folder)},
    )


def _normalise(column: str, value: str) -> str:
    value = value.strip()
    if column == "gender":
        return _gender(value)
    if column == "race":
        return UTK_RACE.get(value.lower(), value)
    return value


def load_manifest(file: Path, name: str | None = None) -> AuditSet:
    """A manifest CSV with columns ``path``, ``subject`` and any number of group columns.

    Relative paths are relative to the manifest's folder. ``subject`` may be empty, in which
    case the image is its own subject. Group columns are taken as given (``gender`` normalised).
    """
    file = Path(file)
    with file.open(newline="") as fh:
        text = fh.read()
    audit_set = parse_manifest(text, source=str(file), name=name or file.stem)
    audit_set.root = file.parent.resolve()
    audit_set.meta = {"manifest": str(file)}
    return audit_set


def parse_manifest(text: str, *, source: str, name: str, root: Path = Path(".")) -> AuditSet:
    """:func:`load_manifest` on the manifest's text (an uploaded one is never written to disk).

    ``path`` and ``subject`` (or ``identity``) are required columns; every other column is a
    group column."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    if "subject" not in header and "identity" in header:  # path,identity: the same thing
        header = ["subject" if h == "identity" else h for h in header]
        for r in rows:
            r["subject"] = r.pop("identity", "")
    missing = {"path", "subject"} - set(header)
    if missing:
        raise FaceledgerError(
            f"{source}: a manifest needs the columns path and subject; missing "
            f"{', '.join(sorted(missing))}",
            code="invalid_dataset",
        )
    if not rows:
        raise FaceledgerError(f"{source}: manifest has no rows", code="invalid_dataset")
    columns = [h for h in header if h not in {"path", "subject"}]
    paths = [r["path"] for r in rows]
    subjects = [r["subject"] or f"image:{r['path']}" for r in rows]
    has_ids = len(set(subjects)) < len(subjects)
    if name in DATASET_FOLDERS:  # never mistaken for a built-in dataset downstream
        name += "-manifest"
    return AuditSet(
        name=name,
        root=root,
        paths=paths,
        subjects=subjects,
        groups={c: [_normalise(c, r.get(c, "")) for r in rows] for c in columns},
        has_identities=has_ids,
        meta={"manifest": source},
    )


def load_congress(folder: Path) -> AuditSet:
    """The 290 current members of Congress with a gender label (one portrait each)."""
    with (folder / "labels.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("gender")]
    return AuditSet(
        name="congress",
        root=folder,
        paths=[r["image"] for r in rows],
        subjects=[f"congress:{r['icpsr']}" for r in rows],
        groups={"gender": [_gender(r["gender"]) for r in rows]},
        has_identities=False,
        meta={"folder": str(folder), "names": [r["name"] for r in rows]},
    )


def load(name: str, data: str | Path | None = None) -> AuditSet:
    """Load a shared dataset by name (lfw, utkface, children, congress) or a manifest path."""
    if name.endswith(".csv"):
        return load_manifest(Path(name))
    if name not in DATASET_FOLDERS:
        raise FaceledgerError(
            f"unknown dataset {name!r}: use {', '.join(DATASET_FOLDERS)} or a manifest .csv",
            code="invalid_dataset",
        )
    folder = require_dataset(DATASET_FOLDERS[name], data)
    if name == "lfw":
        return load_lfw(folder)
    if name == "congress":
        return load_congress(folder)
    return load_labelled_folder(folder, name)
