"""The demographic audit: datasets → embeddings (cached) → all pairs → rates per group.

One global threshold for every dataset and group, as NIST FRVT Part 3 does: at the product's
documented similarity thresholds, and where the overall FMR of the reference datasets (adults:
LFW, UTKFace, any manifest; each weighted equally) meets a target. Children and Congress are
measured at those same thresholds, never at their own.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from faceledger.datasets.embed_cache import EVAL_CONFIG, embed_images
from faceledger.engine.scoring import register as register_scoring
from faceledger.engine.scoring import scored_distances
from faceledger.engine.similarity import (
    DEFAULT_MODEL_ID,
    calibration,
    distance_from_similarity,
    similarity_from_distance,
)
from faceledger.fairness import metrics
from faceledger.fairness.datasets import AuditSet, load
from faceledger.fairness.pairs import ScoreSet, score_set

if TYPE_CHECKING:
    from faceledger.engine.core import EngineConfig
    from faceledger.engine.scoring import Scoring
    from faceledger.engine.user_models import UserModel

DEFAULT_DATASETS = ("lfw", "utkface", "children", "congress")
TARGET_FMRS = (1e-3, 1e-4)
PRODUCT_SIMILARITIES = (80.0, 90.0, 95.0, 99.0)
REFERENCE = {"lfw", "utkface"}
"""Datasets the target-FMR thresholds are set on (adults); manifests count as reference too."""
GROUPINGS = {
    "lfw": [("race", "gender"), ("gender",), ("race",)],
    "utkface": [("race", "gender"), ("gender",), ("race",)],
    "children": [("age_band", "gender"), ("age_band",), ("gender",), ("race",)],
    "congress": [("gender",)],
}


@dataclass
class AuditResult:
    """Everything the report needs; ``to_json()`` is the machine-readable form."""

    thresholds: dict[str, dict[str, float]]
    datasets: dict[str, dict[str, object]]
    evaluations: list[dict[str, object]]
    curves: dict[str, dict[str, dict[str, np.ndarray]]]
    scores: dict[str, ScoreSet] = field(default_factory=dict, repr=False)
    embeddings: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    audit_sets: dict[str, AuditSet] = field(default_factory=dict, repr=False)
    one_to_many: dict[str, object] | None = None
    view2: dict[str, object] | None = None
    calibration: dict[str, object] | None = None
    settings: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "settings": self.settings,
            "thresholds": self.thresholds,
            "datasets": self.datasets,
            "evaluations": self.evaluations,
            "one_to_many": self.one_to_many,
            "lfw_view2": self.view2,
            "calibration": self.calibration,
        }


def embed(
    audit_set: AuditSet,
    *,
    progress: bool = True,
    workers: int | None = None,
    config: EngineConfig | None = None,
) -> np.ndarray:
    """(N, 128) embeddings, one per image (the face nearest the centre; NaN when none), cached
    (per model: ``config.user_model``)."""
    table = embed_images(
        audit_set.root, audit_set.paths, name=audit_set.name, progress=progress, workers=workers,
        config=config,
    )  # fmt: skip
    rows = table.select("center")
    vectors = table.embeddings()
    out = np.full((len(audit_set), vectors.shape[1] if len(vectors) else 128), np.nan)
    ok = rows >= 0
    out[ok] = vectors[rows[ok]]
    audit_set.meta["face_sources"] = table.source_counts(rows)
    audit_set.meta["errors"] = len(table.errors)
    return out


def default_groupings(audit_set: AuditSet) -> list[tuple[str, ...]]:
    if audit_set.name in GROUPINGS and "manifest" not in audit_set.meta:
        return [g for g in GROUPINGS[audit_set.name] if all(c in audit_set.groups for c in g)]
    columns = tuple(audit_set.groups)
    singles = [(c,) for c in columns]
    return ([columns] if len(columns) > 1 else []) + singles


def global_thresholds(
    reference: Sequence[ScoreSet],
    target_fmrs: Sequence[float] = TARGET_FMRS,
    similarities: Sequence[float] = PRODUCT_SIMILARITIES,
    model_id: str = DEFAULT_MODEL_ID,
) -> dict[str, dict[str, float]]:
    """Named thresholds: ``fmr=1e-03`` etc. (set on ``reference``) and ``similarity=99``, on
    ``model_id``'s similarity scale."""
    out: dict[str, dict[str, float]] = {}
    for target in target_fmrs:
        d = metrics.threshold_at_fmr(reference, target)
        out[f"fmr={target:.0e}"] = {
            "distance": d,
            "similarity": float(similarity_from_distance(d, model_id)),
            "target_fmr": target,
            "set_on": [s.name for s in reference],
        }
    for sim in similarities:
        out[f"similarity={sim:g}"] = {
            "distance": distance_from_similarity(sim, model_id),
            "similarity": sim,
        }
    return out


def audit(
    datasets: Sequence[str] = DEFAULT_DATASETS,
    *,
    data: str | Path | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    target_fmrs: Sequence[float] = TARGET_FMRS,
    similarities: Sequence[float] = PRODUCT_SIMILARITIES,
    one_to_many: bool = True,
    calibrate: bool = False,
    progress: bool = True,
    workers: int | None = None,
    log=print,
    user_model: UserModel | None = None,
    scoring: Scoring | None = None,
) -> AuditResult:
    """Run the audit on named shared datasets (lfw, utkface, children, congress) or manifests.

    Datasets that are not found are skipped with a note (at least one must load).
    ``user_model``: audit a model added with ``faceledger model add`` (it needs its similarity
    calibration) instead of the shipped network. ``scoring``: audit a normalised scoring of that
    model (``faceledger model normalize``): every pair scored as it scores them, on its
    similarity scale, filed under its id.
    """
    from faceledger.errors import FaceledgerError

    model_id = DEFAULT_MODEL_ID
    config = None
    if user_model is not None:
        user_model.register_calibration()
        model_id = f"{user_model.model_id}+tta6"
        calibration(model_id)  # a clear ModelError when it was added without one
        config = dataclasses.replace(EVAL_CONFIG, user_model=user_model)
    if scoring is not None:
        if calibrate:
            raise FaceledgerError(
                "--calibrate fits and measures a normalisation of the raw model; leave out "
                "--scoring with it",
                code="invalid_argument",
            )
        if scoring.base_model_id != model_id:
            raise FaceledgerError(
                f"scoring {scoring.scoring_id} normalises {scoring.base_model_id}, not {model_id}",
                code="invalid_argument",
            )
        model_id = register_scoring(scoring)

    started = time.time()
    sets: dict[str, AuditSet] = {}
    skipped: dict[str, str] = {}
    for name in datasets:
        try:
            s = load(name, data)
        except FaceledgerError as exc:
            if exc.code != "dataset_not_found":
                raise  # a typo or a malformed manifest is an error, not a skip
            skipped[name] = str(exc)
            log(f"skip {name}: {exc}")
            continue
        sets[s.name] = s
    if not sets:
        raise FaceledgerError("no audit dataset found", code="dataset_not_found")
    embeddings = {}
    scores: dict[str, ScoreSet] = {}
    for name, s in sets.items():
        log(f"{name}: {len(s)} images — embedding (cached after the first run)")
        embeddings[name] = embed(s, progress=progress, workers=workers, config=config)
        log(f"{name}: scoring all pairs")
        offsets = None if scoring is None else 2.0 * scoring.face_terms(embeddings[name])
        scores[name] = score_set(s, embeddings[name], progress=progress, offsets=offsets)
    reference = [scores[n] for n in sets if n in REFERENCE or n not in GROUPINGS]
    reference = reference or list(scores.values())
    thresholds = global_thresholds(reference, target_fmrs, similarities, model_id)
    named = {k: v["distance"] for k, v in thresholds.items()}
    evaluations = []
    curve_sets = {}
    jobs = [(name, columns) for name, s in sets.items() for columns in default_groupings(s)]
    log(f"rates per group: {len(jobs)} groupings, bootstrap {bootstrap}")
    bar = tqdm(jobs, desc="rates", disable=not progress, leave=False)
    for name, columns in bar:
        bar.set_postfix_str(f"{name} by {'×'.join(columns)}")
        ev = metrics.evaluate(scores[name], columns, named, bootstrap=bootstrap, seed=seed)
        ev["overall"] = {k: metrics.overall_rates(scores[name], d) for k, d in named.items()}
        evaluations.append(ev)
        first = not any(k.startswith(name + "|") for k in curve_sets)
        if first or columns == ("gender",):
            # figures: each dataset's main grouping, and gender alone
            curve_sets[f"{name}|{' × '.join(columns)}"] = metrics.curves(scores[name], columns)
    info = {
        name: {
            "images": len(s),
            "subjects": len(set(s.subjects)),
            "has_identities": s.has_identities,
            "impostor_pairs": scores[name].n_impostor,
            "genuine_pairs": len(scores[name].gen_d),
            "face_sources": s.meta.get("face_sources"),
            "groups": {c: _counts(v) for c, v in s.groups.items()},
            "root": str(s.root),
        }
        for name, s in sets.items()
    }
    result = AuditResult(
        thresholds=thresholds,
        datasets=info,
        evaluations=evaluations,
        curves=curve_sets,
        scores=scores,
        embeddings=embeddings,
        audit_sets=sets,
        settings={
            "datasets": list(sets),
            "skipped": skipped,
            "bootstrap": bootstrap,
            "seed": seed,
            "min_subjects": metrics.MIN_SUBJECTS,
            "min_pairs": metrics.MIN_PAIRS,
            "model": model_id,
            "scoring": None if scoring is None else scoring.fitted,
            "face_selection": "center",
        },
    )
    result.view2 = lfw_view2(result)
    gallery = [n for n in ("utkface", "lfw") if n in sets]
    if one_to_many and "congress" in sets and gallery:
        from faceledger.fairness.one_to_many import run as run_1n

        log("1:N: Congress portraits against " + " + ".join(gallery))
        result.one_to_many = run_1n(result, gallery=gallery, seed=seed)
    if calibrate:
        from faceledger.fairness.calibration import run as run_cal

        log("normalisation: label-free cluster score normalisation, raw and normalised")
        result.calibration = run_cal(result, seed=seed, log=log)
    result.settings["seconds"] = round(time.time() - started, 1)
    return result


def _counts(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        key = v or "(unlabelled)"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def lfw_view2(result: AuditResult) -> dict[str, object] | None:
    """The 6,000 official View 2 pairs by gender at every threshold (comparable with published
    LFW numbers; small, so shown for reference next to the all-pairs rates)."""
    from faceledger.datasets.lfw import read_pairs

    s = result.audit_sets.get("lfw")
    if s is None:
        return None
    folder = Path(str(s.meta["folder"]))
    if not (folder / "pairs.txt").exists():
        return None
    index = {p: k for k, p in enumerate(s.paths)}
    emb = result.embeddings["lfw"]
    model_id = str(result.settings["model"])
    gender = s.groups["gender"]
    pairs = read_pairs(folder)
    rows = []
    for name, t in result.thresholds.items():
        cells: dict[str, list[int]] = {}
        for p in pairs:
            i, j = index.get(p.left), index.get(p.right)
            if i is None or j is None or np.isnan(emb[i]).any() or np.isnan(emb[j]).any():
                continue
            gi, gj = gender[i] or "?", gender[j] or "?"
            key = ("genuine " if p.same else "impostor ") + "-".join(sorted((gi, gj)))
            d = float(scored_distances(model_id, emb[i], emb[j][None])[0])
            match = d <= t["distance"]
            err = (not match) if p.same else match
            c = cells.setdefault(key, [0, 0])
            c[0] += 1
            c[1] += int(err)
        for key, (n, e) in sorted(cells.items()):
            rows.append(
                {
                    "threshold": name,
                    "pairs": key,
                    "n": n,
                    "errors": e,
                    "rate": e / n if n else None,
                    "small": n < metrics.MIN_PAIRS,
                }
            )
    return {"pairs": len(pairs), "rows": rows}
