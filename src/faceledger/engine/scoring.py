"""Label-free score normalisation as a versioned part of a model's scoring (``+cn1.<digest>``).

Cluster normalisation (Terhörst et al., IJCB 2020, "Fair Score Normalisation"; in the spirit of
FairCal, Salvador et al., ICLR 2022): k-means on embeddings alone (no demographic labels) splits
face space into clusters, and every cluster is given the same false-match rate at the operating
point. Each face gets the term ``t = o_c / 2`` of its nearest centre c, and the distance of a
pair becomes ``d' = d - t_a - t_b``: dense clusters (many close impostors) are pushed apart.
Because the adjustment is a per-face term, 1:N search stays exact: the gallery's terms are
computed when the index loads, the probe's once per search (``store.index``).

A *scoring* is the base model id plus the fitted parameters (centres, terms, and the similarity
scale of ``d'``); its id is ``<base model id>+cn1.<12 hex of their SHA-256>``, so a refit is a
new id. Collections record it as their model id: embeddings and scores of different scorings
never compare (``ModelError``), exactly as for different models. Parameters are fitted by
``faceledger model normalize`` on images the user gives and kept in ``<data dir>/scorings/``.

The similarity scale of ``d'`` means what the base scale means on LFW, on the fit population:
similarity 90 and 99 are the normalised distances at which the fit set's impostor pairs match
with probability 1e-3 and 1e-4 (and at 99 every cluster has about that rate, the target). A fit
set too small to show five false matches at a rate keeps the base distance there, moved as far
as the threshold at the target rate moved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceledger.engine.similarity import (
    CALIBRATED_FMR,
    CALIBRATIONS,
    Calibration,
    calibration,
    distance_from_similarity,
)
from faceledger.errors import ModelError

METHOD = "cn1"
MARK = f"+{METHOD}."
SCORINGS_DIR = "scorings"
N_CLUSTERS = 64
ROUNDS = 3
TARGET_FMR = 1e-4
"""Each cluster is given this FMR: the base model's LFW rate at similarity 99, the floor the
default policy sets for identification."""
MIN_EXPECTED = 5.0
"""A cluster whose pairs would show fewer false matches than this at the target keeps term 0."""
MIN_PER_CLUSTER = 20
MIN_IMAGES = 50
KEEP_SIMILARITY = 1.0
"""Impostor pairs below this base similarity are kept for the fit (all thresholds are higher)."""


@dataclass(frozen=True)
class Scoring:
    """A fitted normalisation of one base model's distances."""

    base_model_id: str
    centres: np.ndarray  # (k, dim) float64
    terms: np.ndarray  # (k,) float64: each cluster's term, half its distance offset
    d90: float
    d99: float
    """Normalised distances at which similarity is 90 and 99."""
    fitted: dict[str, object] = field(default_factory=dict, compare=False)
    """Provenance (images, subjects, source, settings): not part of the id."""

    def __post_init__(self) -> None:
        if self.centres.ndim != 2 or len(self.centres) != len(self.terms) or not len(self.terms):
            raise ModelError("a scoring needs k centres and k terms")
        if not 0 < self.d99 < self.d90:
            raise ModelError(f"scoring calibration needs 0 < d99 < d90, got {self.d99, self.d90}")

    # ------------------------------------------------------------------ identity
    def parameters(self) -> dict[str, object]:
        return {
            "base_model_id": self.base_model_id,
            "method": METHOD,
            "centres": self.centres.tolist(),
            "terms": self.terms.tolist(),
            "d90": self.d90,
            "d99": self.d99,
        }

    @property
    def digest(self) -> str:
        text = json.dumps(self.parameters(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def scoring_id(self) -> str:
        return f"{self.base_model_id}{MARK}{self.digest[:12]}"

    # ------------------------------------------------------------------ scores
    def face_terms(self, vectors: np.ndarray) -> np.ndarray:
        """Each row's term (float64); 0 for a row that is not finite."""
        x = np.asarray(vectors, dtype=np.float32).astype(np.float64)
        x = x.reshape(-1, self.centres.shape[1])
        out = np.zeros(len(x))
        ok = np.isfinite(x).all(axis=1)
        if ok.any():
            out[ok] = self.terms[assign(x[ok], self.centres)]
        return out

    def distances(self, query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Normalised distances of ``query`` to each row of ``vectors``."""
        q = np.asarray(query, dtype=np.float32).astype(np.float64).reshape(-1)
        v = np.asarray(vectors, dtype=np.float32).astype(np.float64).reshape(-1, len(q))
        raw = np.sqrt(((v - q) ** 2).sum(axis=1))
        return raw - self.face_terms(v) - float(self.face_terms(q)[0])

    # ------------------------------------------------------------------ files
    def to_json(self) -> dict[str, object]:
        return {"scoring_id": self.scoring_id, **self.parameters(), "fitted": self.fitted}

    @classmethod
    def from_json(cls, body: dict[str, object]) -> Scoring:
        if body.get("method") != METHOD:
            raise ModelError(f"unknown scoring method {body.get('method')!r} (known: {METHOD})")
        scoring = cls(
            base_model_id=str(body["base_model_id"]),
            centres=np.asarray(body["centres"], dtype=np.float64),
            terms=np.asarray(body["terms"], dtype=np.float64),
            d90=float(body["d90"]),  # type: ignore[arg-type]
            d99=float(body["d99"]),  # type: ignore[arg-type]
            fitted=dict(body.get("fitted") or {}),  # type: ignore[call-overload]
        )
        if body.get("scoring_id") not in (None, scoring.scoring_id):
            raise ModelError(
                f"scoring {body.get('scoring_id')}: its parameters changed since it was fitted"
            )
        return scoring

    def save(self, data_dir: Path) -> Path:
        folder = Path(data_dir) / SCORINGS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_file_stem(self.scoring_id)}.json"
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path


# ---------------------------------------------------------------------- the registry
_REGISTRY: dict[str, Scoring] = {}


def is_scoring_id(model_id: str | None) -> bool:
    return bool(model_id) and MARK in str(model_id)


def register(scoring: Scoring) -> str:
    """Make a scoring known process-wide (its id's similarity scale and face terms)."""
    sid = scoring.scoring_id
    _REGISTRY[sid] = scoring
    CALIBRATIONS[sid] = Calibration.from_targets(scoring.d90, scoring.d99)
    return sid


def get(model_id: str) -> Scoring | None:
    """The scoring of ``model_id``; None for a plain model id. A scoring id that was never
    loaded is an error (its scores would otherwise be raw distances under its name)."""
    if not is_scoring_id(model_id):
        return None
    try:
        return _REGISTRY[model_id]
    except KeyError:
        raise ModelError(
            f"scoring {model_id!r} is not loaded: its parameters belong in "
            f"<data dir>/{SCORINGS_DIR}/ (`faceledger model normalize`)"
        ) from None


def base_model_id(model_id: str) -> str:
    return model_id.split(MARK, 1)[0]


def face_terms_for(model_id: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """The per-face term function of ``model_id``'s scoring, None for raw distances."""
    scoring = get(model_id)
    return None if scoring is None else scoring.face_terms


def scored_distances(model_id: str, query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Distances of ``query`` to each row of ``vectors`` as ``model_id`` scores them."""
    scoring = get(model_id)
    if scoring is not None:
        return scoring.distances(query, vectors)
    q = np.asarray(query, dtype=np.float32).astype(np.float64).reshape(-1)
    v = np.asarray(vectors, dtype=np.float32).astype(np.float64).reshape(-1, len(q))
    return np.sqrt(((v - q) ** 2).sum(axis=1))


def load(data_dir: Path, name: str) -> Scoring:
    """A scoring on file by its id or its 12-hex digest; registered."""
    for scoring in on_file(data_dir):
        if name in (scoring.scoring_id, scoring.scoring_id.rsplit(".", 1)[-1]):
            register(scoring)
            return scoring
    raise ModelError(
        f"no scoring {name!r} in {Path(data_dir) / SCORINGS_DIR}; fit one with "
        "`faceledger model normalize --manifest CSV` or `--folder DIR`"
    )


def on_file(data_dir: Path) -> list[Scoring]:
    folder = Path(data_dir) / SCORINGS_DIR
    if not folder.is_dir():
        return []
    out = []
    for file in sorted(folder.glob("*.json")):
        try:
            out.append(Scoring.from_json(json.loads(file.read_text())))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{file}: not a scoring file ({exc})") from None
    return out


def register_all(data_dir: Path) -> list[str]:
    """Register every scoring on file (collections of any of them can then be searched)."""
    return [register(s) for s in on_file(data_dir)]


def _file_stem(scoring_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in scoring_id)


# ---------------------------------------------------------------------- fitting
def kmeans(x: np.ndarray, k: int, *, seed: int = 0, iterations: int = 30) -> np.ndarray:
    """Centroids of k-means++ / Lloyd on the rows of x (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        pick = rng.choice(len(x), p=d2 / total) if total > 0 else rng.integers(len(x))
        centres.append(x[pick])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    for _ in range(iterations):
        labels = assign(x, c)
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c[j] = members.mean(0)
    return c


def assign(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d2 = (x**2).sum(1)[:, None] + (centres**2).sum(1)[None] - 2 * x @ centres.T
    return np.argmin(d2, axis=1)


@dataclass
class _Tail:
    """Impostor pairs of the fit set below the kept distance, and pair counts per cluster."""

    i: np.ndarray
    j: np.ndarray
    d: np.ndarray
    total: int
    per_cluster: np.ndarray  # impostor pairs with at least one image in the cluster


def _impostor_tail(
    x: np.ndarray, subject: np.ndarray, labels: np.ndarray, k: int, keep: float
) -> _Tail:
    n = len(x)
    sq = (x**2).sum(1)
    ti, tj, td = [], [], []
    for start in range(0, n, 512):
        rows = np.arange(start, min(n, start + 512))
        d = np.sqrt(np.clip(sq[rows, None] + sq[None, :] - 2.0 * (x[rows] @ x.T), 0, None))
        mask = (np.arange(n)[None, :] > rows[:, None]) & (subject[rows, None] != subject[None, :])
        mask &= d <= keep
        r, c = np.nonzero(mask)
        ti.append(rows[r])
        tj.append(c)
        td.append(d[r, c])
    index = np.unique(subject, return_inverse=True)[1]
    same = np.bincount(index)[index]  # images of each image's subject (itself included)
    impostors_of = n - same  # impostor pairs of each image
    per_cluster = np.bincount(labels, weights=impostors_of, minlength=k)
    # pairs with both images in one cluster were counted twice
    for c in range(k):
        members = subject[labels == c]
        if len(members) > 1:
            counts = np.unique(members, return_counts=True)[1]
            per_cluster[c] -= (len(members) ** 2 - (counts**2).sum()) / 2
    total = int((n * n - same.sum()) // 2)
    return _Tail(np.concatenate(ti), np.concatenate(tj), np.concatenate(td), total, per_cluster)


def _at_rate(sorted_d: np.ndarray, pairs: float, rate: float) -> float | None:
    """Largest distance whose share of ``pairs`` at or below it is at most ``rate``."""
    allowed = int(np.floor(rate * pairs))
    if allowed >= len(sorted_d):
        return None
    return float(sorted_d[allowed]) - 1e-12 if allowed > 0 else float(sorted_d[0]) - 1e-6


def fit(
    embeddings: np.ndarray,
    subjects: Sequence[str] | None = None,
    *,
    base_model_id: str,
    clusters: int = N_CLUSTERS,
    target: float = TARGET_FMR,
    rounds: int = ROUNDS,
    seed: int = 0,
    source: str = "",
) -> Scoring:
    """Fit a scoring on unlabelled faces: rows of ``embeddings`` (of ``base_model_id``), with
    the subject of each (None: every image its own subject, so the set should hold one image
    per person). No demographic label is used. Deterministic for a seed.

    Clusters are capped at one per ``MIN_PER_CLUSTER`` images. Each round measures every
    cluster's threshold at ``target`` on the distances as already normalised, and moves the
    cluster's term by half the difference from the global threshold."""
    calibration(base_model_id)  # a ModelError when the base model has no similarity scale
    x_all = np.asarray(embeddings, dtype=np.float32).astype(np.float64)
    ok = np.isfinite(x_all).all(axis=1)
    x = x_all[ok]
    if subjects is None:
        subject = np.arange(len(x_all))[ok]
    else:
        if len(subjects) != len(x_all):
            raise ValueError("one subject per embedding")
        subject = np.unique(np.asarray(subjects, dtype=str), return_inverse=True)[1][ok]
    if len(x) < MIN_IMAGES:
        raise ModelError(
            f"a normalisation needs faces of at least {MIN_IMAGES} images; got {len(x)}"
        )
    k = max(1, min(clusters, len(x) // MIN_PER_CLUSTER))
    centres = kmeans(x, k, seed=seed)
    labels = assign(x, centres)
    keep = distance_from_similarity(KEEP_SIMILARITY, base_model_id)
    tail = _impostor_tail(x, subject, labels, k, keep)
    li, lj = labels[tail.i], labels[tail.j]
    members = [np.flatnonzero((li == c) | (lj == c)) for c in range(k)]
    terms = np.zeros(k)
    for _ in range(rounds):
        d = tail.d - terms[li] - terms[lj]
        t_global = _at_rate(np.sort(d), tail.total, target)
        if t_global is None:
            raise ModelError("the fit set's impostor pairs do not reach the target rate")
        delta = np.zeros(k)
        for c in range(k):
            pairs = tail.per_cluster[c]
            if pairs * target < MIN_EXPECTED:
                continue
            t_c = _at_rate(np.sort(d[members[c]]), pairs, target)
            if t_c is None:  # its rate lies beyond the kept tail: the bound, not a step
                delta[c] = (keep - t_global) / 2 - terms[c]
            else:
                delta[c] = (t_c - t_global) / 2
        terms += delta
    d_raw = np.sort(tail.d)
    d_norm = np.sort(tail.d - terms[li] - terms[lj])
    # the scale: similarity 90 and 99 where the fit set's overall FMR is 1e-3 and 1e-4 (what
    # the base scale means on LFW); a rate the fit set is too small to show five false matches
    # at keeps the base's distance there, moved as far as the nearest measured point moved (or
    # the threshold at the target rate)
    at_target = [_at_rate(d, tail.total, target) for d in (d_norm, d_raw)]
    shift = at_target[0] - at_target[1] if None not in at_target else 0.0  # type: ignore[operator]
    scale: dict[float, float] = {}
    for sim, rate in sorted(CALIBRATED_FMR):  # 90 first: the looser rate is measured first
        base = distance_from_similarity(sim, base_model_id)
        normalised = _at_rate(d_norm, tail.total, rate)
        if rate * tail.total >= MIN_EXPECTED and normalised is not None:
            scale[sim] = normalised
            shift = normalised - base
        else:
            scale[sim] = base + shift
    fitted = {
        "images": int(len(x)),
        "subjects": int(len(np.unique(subject))),
        "impostor_pairs": tail.total,
        "clusters": k,
        "target_fmr": target,
        "rounds": rounds,
        "seed": seed,
        "source": source,
        "cluster_sizes": np.bincount(labels, minlength=k).tolist(),
    }
    return Scoring(base_model_id, centres, terms, scale[90.0], scale[99.0], fitted)
