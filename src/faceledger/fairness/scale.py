"""Fit a model's similarity scale on a labelled set: ``faceledger model calibrate``.

The shipped network's scale was set this way (``benchmarks/lfw_verification.py --calibrate``):
the descriptor distances at which impostor pairs (two different people) match with probability
1e-3 and 1e-4 become similarity 90 and 99 (``engine.similarity.Calibration.from_targets``).
Here the same is done for a model a user added, on LFW (default: every image, the face nearest
the centre, as the audit embeds them) or on a manifest (``path,subject`` or ``path,identity``).
Every impostor pair is scored when there are at most 2,000,000 of them, otherwise a seeded
uniform sample of 2,000,000 (as the benchmark); at least 10,000 are needed, so that the 1e-4
point rests on at least one pair. What it was fitted on is stored with the model.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from faceledger.datasets.embed_cache import EVAL_CONFIG
from faceledger.engine.user_models import UserModel
from faceledger.errors import FaceledgerError
from faceledger.fairness.audit import embed
from faceledger.fairness.datasets import AuditSet, load, load_manifest

TARGETS = (1e-3, 1e-4)
"""False-match rates of similarity 90 and 99."""
MIN_IMPOSTOR_PAIRS = 10_000
SAMPLE = 2_000_000


def impostor_pairs(subjects: list[str]) -> int:
    sizes = np.array(list(Counter(subjects).values()), dtype=np.int64)
    return int((sizes.sum() ** 2 - (sizes**2).sum()) // 2)


def labelled_set(
    manifest: Path | None, data: str | Path | None, max_images: int | None, seed: int
) -> AuditSet:
    """LFW from the data root (or ``data``), or the manifest; a seeded subset of at most
    ``max_images`` images when asked."""
    audit_set = load_manifest(Path(manifest)) if manifest is not None else load("lfw", data)
    if max_images is not None and len(audit_set) > max_images:
        rng = np.random.default_rng(seed)
        keep = sorted(rng.choice(len(audit_set), size=max_images, replace=False).tolist())
        audit_set = audit_set.subset(keep)
    pairs = impostor_pairs(audit_set.subjects)
    if pairs < MIN_IMPOSTOR_PAIRS:
        raise FaceledgerError(
            f"{audit_set.name}: {len(audit_set)} images give {pairs:,} impostor pairs; fitting "
            f"FMR 1e-4 needs at least {MIN_IMPOSTOR_PAIRS:,} (about 142 images of different "
            "people): give a larger labelled set",
            code="invalid_dataset",
        )
    return audit_set


def _impostor_distances(vec: np.ndarray, subject: np.ndarray, seed: int) -> np.ndarray:
    n = len(vec)
    if impostor_pairs(subject.tolist()) <= SAMPLE:
        out = []
        sq = (vec**2).sum(axis=1)
        for start in range(0, n, 512):
            rows = np.arange(start, min(n, start + 512))
            d = np.sqrt(np.clip(sq[rows, None] + sq[None, :] - 2.0 * vec[rows] @ vec.T, 0, None))
            keep = (np.arange(n)[None, :] > rows[:, None]) & (
                subject[rows, None] != subject[None, :]
            )
            out.append(d[keep])
        return np.concatenate(out)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, SAMPLE * 2), rng.integers(0, n, SAMPLE * 2)
    keep = subject[a] != subject[b]
    a, b = a[keep][:SAMPLE], b[keep][:SAMPLE]
    return np.linalg.norm(vec[a] - vec[b], axis=1)


def _genuine_distances(vec: np.ndarray, subject: np.ndarray) -> np.ndarray:
    out = [np.zeros(0)]
    for s in np.unique(subject):
        m = vec[subject == s]
        if len(m) > 1:
            d = np.linalg.norm(m[:, None, :] - m[None, :, :], axis=-1)
            out.append(d[np.triu_indices(len(m), 1)])
    return np.concatenate(out)


def fit(
    model: UserModel,
    audit_set: AuditSet,
    *,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    log=print,
) -> tuple[tuple[float, float], dict[str, Any]]:
    """((d90, d99), what it was fitted on) for ``model`` on ``audit_set``."""
    config = dataclasses.replace(EVAL_CONFIG, user_model=model)
    log(f"{audit_set.name}: embedding {len(audit_set)} images with {model.model_id}+tta6")
    emb = embed(audit_set, progress=progress, workers=workers, config=config)
    ok = ~np.isnan(emb).any(axis=1)
    vec = emb[ok].astype(np.float64)
    names = np.array(audit_set.subjects)[ok]
    subject = np.unique(names, return_inverse=True)[1]
    imp = _impostor_distances(vec, subject, seed)
    if len(imp) < MIN_IMPOSTOR_PAIRS:
        raise FaceledgerError(
            f"{audit_set.name}: faces found in {int(ok.sum())} of {len(audit_set)} images, "
            f"{len(imp):,} impostor pairs: too few for FMR 1e-4",
            code="invalid_dataset",
        )
    d90, d99 = (round(float(q), 4) for q in np.quantile(imp, TARGETS))
    if not 0 < d99 < d90:
        raise FaceledgerError(
            f"{audit_set.name}: the impostor distances at FMR 1e-3 and 1e-4 coincide "
            f"({d90}); the model does not separate people on this set",
            code="invalid_dataset",
        )
    gen = _genuine_distances(vec, subject)
    on: dict[str, Any] = {
        "dataset": audit_set.meta.get("manifest") or audit_set.name,
        "images": len(audit_set),
        "faces": int(ok.sum()),
        "impostor_pairs": int(len(imp)),
        "impostor_pairs_sampled": len(imp) < impostor_pairs(names.tolist()),
        "genuine_pairs": int(len(gen)),
        "fnmr_at_90": float((gen > d90).mean()) if len(gen) else None,
        "fnmr_at_99": float((gen > d99).mean()) if len(gen) else None,
        "seed": seed,
        "fitted_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
    return (d90, d99), on
