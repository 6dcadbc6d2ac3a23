"""1:1 on an explicit pairs list (LFW-style): ``pairs.csv`` next to ``manifest.csv``.

Columns ``path_a``, ``path_b`` (manifest paths), ``same`` (1: the same person, 0: not) and any
group columns. Each listed pair is scored once, exactly as listed, instead of every pair of the
manifest: ``same == 1`` pairs are genuine, ``same == 0`` impostor. A pair's group is its own
column value when ``pairs.csv`` declares group columns, else the manifest label both of its
images share (a pair whose images differ is left out of that group's row, kept overall). A pair
with an image without a usable face is left out (the image is a failure to enrol). Confidence
intervals resample the subjects of ``path_a`` (with their pairs).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceledger.engine.similarity import distance_from_similarity
from faceledger.evaluation.upload import MAX_GROUP_COLUMNS, MAX_LABEL, PAIRS, EvaluationSetError
from faceledger.fairness import metrics
from faceledger.fairness.datasets import AuditSet

MAX_PAIRS = 5000
PAIR_COLUMNS = ("path_a", "path_b", "same")
MIN_SUBJECTS, MIN_PAIRS = 30, 1000


@dataclass
class PairList:
    a: np.ndarray  # manifest index of each pair's first image
    b: np.ndarray
    same: np.ndarray  # bool
    groups: dict[str, list[str]]  # pairs.csv's own group columns (one label per pair)


def parse_pairs(text: str, audit_set: AuditSet) -> PairList:
    """The pairs in ``text`` against the manifest's paths; EvaluationSetError names the fix."""
    rows = list(csv.DictReader(io.StringIO(text)))
    fields = [f.strip() for f in (rows and rows[0].keys() or [])]
    missing = [c for c in PAIR_COLUMNS if c not in fields]
    if missing:
        raise EvaluationSetError(
            f"{PAIRS} needs the columns path_a, path_b and same (1 or 0); missing "
            f"{', '.join(missing)}"
        )
    if not rows:
        raise EvaluationSetError(f"{PAIRS} lists no pairs")
    if len(rows) > MAX_PAIRS:
        raise EvaluationSetError(f"{PAIRS} lists {len(rows)} pairs; at most {MAX_PAIRS}")
    columns = [f for f in fields if f not in PAIR_COLUMNS]
    if len(columns) > MAX_GROUP_COLUMNS:
        raise EvaluationSetError(f"at most {MAX_GROUP_COLUMNS} group columns in {PAIRS}")
    index = {p: i for i, p in enumerate(audit_set.paths)}
    a, b, same = [], [], []
    groups: dict[str, list[str]] = {c: [] for c in columns}
    for line, row in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        for key in ("path_a", "path_b"):
            if row[key] not in index:
                raise EvaluationSetError(
                    f"{PAIRS} line {line}: {row[key]!r} is not a path of manifest.csv"
                )
        if row["same"] not in ("0", "1"):
            raise EvaluationSetError(f"{PAIRS} line {line}: same must be 1 or 0")
        if row["path_a"] == row["path_b"]:
            raise EvaluationSetError(f"{PAIRS} line {line}: a pair of an image with itself")
        a.append(index[row["path_a"]])
        b.append(index[row["path_b"]])
        same.append(row["same"] == "1")
        for c in columns:
            if len(row[c]) > MAX_LABEL:
                raise EvaluationSetError(f"labels of {c!r} are at most {MAX_LABEL} characters")
            groups[c].append(row[c])
    return PairList(np.array(a), np.array(b), np.array(same, dtype=bool), groups)


def verification(
    audit_set: AuditSet,
    pairs: PairList,
    emb: np.ndarray,
    similarities: Sequence[float],
    model_id: str,
    *,
    bootstrap: int,
    seed: int = 0,
) -> dict[str, Any]:
    from faceledger.evaluation.measure import groupings

    ok = ~np.isnan(emb).any(axis=1)
    keep = ok[pairs.a] & ok[pairs.b]
    a, b, same = pairs.a[keep], pairs.b[keep], pairs.same[keep]
    if not len(a):
        raise EvaluationSetError("no listed pair has a usable face in both images")
    d = np.sqrt(((emb[a] - emb[b]) ** 2).sum(axis=1))
    subjects = np.array(audit_set.subjects)
    subj = subjects[a]
    if pairs.groups:
        labels = {c: np.array(v)[keep] for c, v in pairs.groups.items()}
    else:
        labels = {}
        for c, v in audit_set.groups.items():
            g = np.array(v)
            labels[c] = np.where(g[a] == g[b], g[a], "")
    named = {f"similarity={s:g}": distance_from_similarity(s, model_id) for s in similarities}
    rng = np.random.default_rng(seed)

    def row(mask: np.ndarray, dist: float) -> dict[str, Any]:
        imp, gen = mask & ~same, mask & same
        fm, fnm = d[imp] <= dist, d[gen] > dist
        n_imp, n_gen = int(imp.sum()), int(gen.sum())
        n_subj = len(set(subj[mask]))
        return {
            "subjects": n_subj,
            "impostor_pairs": n_imp,
            "false_matches": int(fm.sum()),
            "fmr": float(fm.mean()) if n_imp else None,
            "fmr_ci": _ci(subj[imp], fm, rng, bootstrap),
            "fmr_upper_if_zero": 3 / n_imp if n_imp and not fm.any() else None,
            "genuine_pairs": n_gen,
            "false_non_matches": int(fnm.sum()),
            "fnmr": float(fnm.mean()) if n_gen else None,
            "fnmr_ci": _ci(subj[gen], fnm, rng, bootstrap),
            "small_fmr": n_subj < MIN_SUBJECTS or n_imp < MIN_PAIRS,
            "small_fnmr": n_subj < MIN_SUBJECTS or n_gen < MIN_PAIRS,
        }

    everything = np.ones(len(a), dtype=bool)
    overall = {}
    for name, dist in named.items():
        r = row(everything, dist)
        overall[name] = {
            k: r[k]
            for k in ("impostor_pairs", "false_matches", "fmr", "genuine_pairs",
                      "false_non_matches", "fnmr")
        }  # fmt: skip
        overall[name]["fnmr_pooled_pairs"] = r["fnmr"]
    by_group = []
    for columns in groupings(labels):
        key = np.array(
            [" ".join(t) if all(t) else "" for t in zip(*(labels[c] for c in columns), strict=True)]
        )
        by_group.append(
            {
                "grouping": list(columns),
                "thresholds": {
                    name: [{"group": g, **row(key == g, dist)} for g in sorted(set(key) - {""})]
                    for name, dist in named.items()
                },
            }
        )
    return {
        "pairs": "listed",
        "genuine_pairs": int(same.sum()),
        "impostor_pairs": int((~same).sum()),
        "overall": overall,
        "by_group": by_group,
    }


def _ci(
    subjects: np.ndarray, errors: np.ndarray, rng: np.random.Generator, bootstrap: int
) -> list[float] | None:
    if bootstrap <= 0 or not len(errors):
        return None
    keys, inverse = np.unique(subjects, return_inverse=True)
    n = np.bincount(inverse, minlength=len(keys)).astype(float)
    e = np.bincount(inverse, weights=errors.astype(float), minlength=len(keys))
    draws = rng.integers(0, len(keys), size=(bootstrap, len(keys)))
    ci = metrics.interval(e[draws].sum(axis=1) / n[draws].sum(axis=1))
    return list(ci) if ci else None
