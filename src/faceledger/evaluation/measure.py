"""Accuracy of the deployed model on an uploaded set, per the tester's declared groups.

- **1:1 (verification)**: every pair of images is compared, as the fairness audit does
  (:func:`faceledger.fairness.pairs.score_set` with every pair kept): pairs of the same subject
  are genuine, the others impostor. FMR and FNMR per group, with subject-level bootstrap
  confidence intervals, come from the audit's own :func:`faceledger.fairness.metrics.evaluate`,
  at the deployed thresholds (similarities mapped to distances with the model's calibration).
- **1:N (identification)**: the gallery images are enrolled (in memory), each probe searched
  against them with the deployed result cap. A probe whose subject is in the gallery is mated:
  it is missed (FNIR) when its mate is not among the candidates at or above the threshold. A
  probe whose subject is not is non-mated: any candidate is a false positive (FPIR). Rates per
  probe group, with percentile intervals from a bootstrap resampling subjects within each
  group (:func:`faceledger.fairness.metrics.interval`).

One face per image: the largest. An image without a face (or that cannot be decoded) is a
failure to enrol, counted and left out of the rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from faceledger.engine.similarity import distance_from_similarity
from faceledger.errors import ImageError
from faceledger.evaluation.upload import EvaluationSetError, UploadedSet
from faceledger.fairness import metrics
from faceledger.fairness.datasets import AuditSet
from faceledger.fairness.pairs import score_set

ROW_FIELDS = (
    "group", "subjects", "impostor_pairs", "false_matches", "fmr", "fmr_ci", "fmr_upper_if_zero",
    "genuine_pairs", "false_non_matches", "fnmr", "fnmr_ci", "small_fmr", "small_fnmr",
)  # fmt: skip


def embed(engine: Any, images: Sequence[bytes]) -> tuple[np.ndarray, dict[str, list[int]]]:
    """(N, D) embeddings of each image's largest face (NaN rows: none) and the failures by
    reason (indices)."""
    rows: list[np.ndarray | None] = []
    failures: dict[str, list[int]] = {}
    for i, data in enumerate(images):
        try:
            faces = engine.detect(data, keep_chips=True)
        except ImageError as exc:
            failures.setdefault(exc.code, []).append(i)
            rows.append(None)
            continue
        if not faces:
            failures.setdefault("no_face", []).append(i)
            rows.append(None)
            continue
        engine.embed_faces(faces[:1])
        rows.append(np.asarray(faces[0].embedding, dtype=np.float64))
    dim = next((len(r) for r in rows if r is not None), 128)
    out = np.full((len(images), dim), np.nan)
    for i, r in enumerate(rows):
        if r is not None:
            out[i] = r
    return out, failures


def groupings(groups: dict[str, list[str]]) -> list[tuple[str, ...]]:
    """Each declared column alone, and all of them together when there are several."""
    columns = tuple(groups)
    return ([columns] if len(columns) > 1 else []) + [(c,) for c in columns]


def verification(
    audit_set: AuditSet,
    emb: np.ndarray,
    similarities: Sequence[float],
    model_id: str,
    *,
    bootstrap: int,
    seed: int = 0,
) -> dict[str, Any]:
    ok = ~np.isnan(emb).any(axis=1)
    if ok.sum() < 2 or len({s for s, k in zip(audit_set.subjects, ok, strict=True) if k}) < 2:
        raise EvaluationSetError("1:1 needs usable faces of at least two subjects")
    scores = score_set(audit_set, emb, keep_similarity=0)
    named = {f"similarity={s:g}": distance_from_similarity(s, model_id) for s in similarities}
    overall = {k: metrics.overall_rates(scores, d) for k, d in named.items()}
    out: dict[str, Any] = {
        "pairs": "all",
        "genuine_pairs": len(scores.gen_d),
        "impostor_pairs": scores.n_impostor,
        "overall": overall,
        "by_group": [],
    }
    for columns in groupings(audit_set.groups):
        ev = metrics.evaluate(scores, columns, named, bootstrap=bootstrap, seed=seed)
        out["by_group"].append(
            {
                "grouping": list(columns),
                "thresholds": {
                    name: [{k: row[k] for k in ROW_FIELDS} for row in block["rows"]]
                    for name, block in ev["thresholds"].items()
                },
            }
        )
    return out


def _rate_ci(
    subjects: np.ndarray, errors: np.ndarray, rng: np.random.Generator, bootstrap: int
) -> tuple[float, float] | None:
    """Percentile CI of sum(errors)/count over probes, resampling probe subjects."""
    if bootstrap <= 0 or len(errors) == 0:
        return None
    keys, inverse = np.unique(subjects, return_inverse=True)
    n = np.bincount(inverse, minlength=len(keys)).astype(float)
    e = np.bincount(inverse, weights=errors.astype(float), minlength=len(keys))
    draws = rng.integers(0, len(keys), size=(bootstrap, len(keys)))
    return metrics.interval(e[draws].sum(axis=1) / n[draws].sum(axis=1))


def identification(
    uploaded: UploadedSet,
    emb: np.ndarray,
    similarities: Sequence[float],
    model_id: str,
    *,
    max_results: int,
    bootstrap: int,
    seed: int = 0,
) -> dict[str, Any]:
    s = uploaded.audit_set
    roles = uploaded.roles or []
    ok = ~np.isnan(emb).any(axis=1)
    gallery = np.flatnonzero(ok & (np.array(roles) == "gallery"))
    probes = np.flatnonzero(ok & (np.array(roles) == "probe"))
    if not len(gallery) or not len(probes):
        raise EvaluationSetError("1:N needs at least one usable gallery face and one probe face")
    subjects = np.array(s.subjects)
    g_subj, p_subj = subjects[gallery], subjects[probes]
    mated = np.isin(p_subj, g_subj)
    G, P = emb[gallery], emb[probes]
    d = np.sqrt(np.clip((P**2).sum(1)[:, None] + (G**2).sum(1)[None, :] - 2 * P @ G.T, 0, None))
    order = np.argsort(d, axis=1)[:, :max_results]
    ranked_d = np.take_along_axis(d, order, axis=1)
    ranked_s = g_subj[order]
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {
        "gallery_faces": len(gallery),
        "probes": len(probes),
        "mated_probes": int(mated.sum()),
        "non_mated_probes": int((~mated).sum()),
        "max_results": max_results,
        "by_group": [],
    }
    errors_at: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for sim in similarities:
        within = ranked_d <= distance_from_similarity(sim, model_id)
        hit = (within & (ranked_s == p_subj[:, None])).any(axis=1)
        errors_at[f"similarity={sim:g}"] = (~hit, within.any(axis=1))

    def rates(mask: np.ndarray) -> dict[str, Any]:
        block = {}
        for name, (missed, any_candidate) in errors_at.items():
            m, nm = mask & mated, mask & ~mated
            block[name] = {
                "mated_probes": int(m.sum()),
                "misses": int(missed[m].sum()),
                "fnir": float(missed[m].mean()) if m.any() else None,
                "fnir_ci": _rate_ci(p_subj[m], missed[m], rng, bootstrap) if m.any() else None,
                "non_mated_probes": int(nm.sum()),
                "false_positives": int(any_candidate[nm].sum()),
                "fpir": float(any_candidate[nm].mean()) if nm.any() else None,
                "fpir_ci": _rate_ci(p_subj[nm], any_candidate[nm], rng, bootstrap)
                if nm.any()
                else None,
            }
        return block

    out["overall"] = rates(np.ones(len(probes), dtype=bool))
    for columns in groupings(s.groups):
        labels = np.array(s.group_labels(columns))[probes]
        out["by_group"].append(
            {
                "grouping": list(columns),
                "groups": {
                    label: {
                        "subjects": int(len(set(p_subj[labels == label]))),
                        "thresholds": rates(labels == label),
                    }
                    for label in sorted(set(labels) - {""})
                },
            }
        )
    return out
