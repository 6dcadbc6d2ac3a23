"""Genuine and impostor pairs of an audit set, scored once.

Impostor pairs are *all* pairs of images of different subjects (13,233 LFW images give 87.5 M),
computed in blocks: what is kept is (a) an exact distance histogram per pair of group cells, for
the curves, (b) every pair at or below ``keep_distance`` (the tail where false matches live), and
(c) the number of images per subject per cell, from which the number of impostor pairs in any
group — also under bootstrap weights — follows in closed form. Counting all pairs instead of a
sample means no sampling design weights, and every within-group and cross-group pair is there.

Genuine pairs are all pairs of images of the same subject (LFW: 242 k, not only View 2's 3,000).
``sample_impostors`` gives a seeded uniform sample where a caller wants explicit pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from faceledger.engine.similarity import distance_from_similarity
from faceledger.fairness.datasets import AuditSet

BIN_WIDTH = 0.002
MAX_DISTANCE = 1.6
KEEP_SIMILARITY = 1.0
"""Impostor pairs at or above this similarity are kept one by one (all thresholds are higher)."""


def distance_bins() -> np.ndarray:
    return np.arange(0.0, MAX_DISTANCE + BIN_WIDTH / 2, BIN_WIDTH)


@dataclass
class ScoreSet:
    """Scores of one dataset: impostor tail pairs, histograms, genuine pairs, subject counts."""

    name: str
    columns: list[str]
    subjects: list[str]
    subject: np.ndarray  # (N,) subject index of each image
    cells: list[tuple[str, ...]]  # distinct tuples of group values (finest groups)
    cell: np.ndarray  # (N,) cell index of each image
    counts: np.ndarray  # (S, C) images per subject per cell
    keep_distance: float
    tail_i: np.ndarray  # impostor pairs with distance <= keep_distance
    tail_j: np.ndarray
    tail_d: np.ndarray
    hist: np.ndarray  # (C, C, bins) impostor distance histogram, only [a, b] with a <= b filled
    gen_i: np.ndarray
    gen_j: np.ndarray
    gen_d: np.ndarray
    has_identities: bool
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def n_impostor(self) -> int:
        s = self.counts.sum(axis=1)
        return int((s.sum() ** 2 - (s**2).sum()) // 2)

    def subject_stratum(self) -> np.ndarray:
        """Each subject's most frequent cell: bootstrap strata keep group sizes fixed."""
        return np.argmax(self.counts, axis=1)


def score_set(
    audit: AuditSet,
    embeddings: np.ndarray,
    *,
    keep_similarity: float = KEEP_SIMILARITY,
    block: int = 512,
    offsets: np.ndarray | None = None,
    progress: bool = False,
) -> ScoreSet:
    """Score every pair of ``embeddings`` (one row per image of ``audit``; NaN rows skipped).

    ``offsets`` (one per image) shift each pair's distance by the mean of its two images'
    offsets: ``d' = d - (o_i + o_j) / 2`` (score normalisation, see ``calibration``).
    """
    ok = ~np.isnan(embeddings).any(axis=1)
    idx = np.flatnonzero(ok)
    emb = embeddings[idx].astype(np.float32)
    subjects = sorted({audit.subjects[i] for i in idx})
    s_index = {s: k for k, s in enumerate(subjects)}
    subject = np.array([s_index[audit.subjects[i]] for i in idx], dtype=np.int64)
    columns = list(audit.groups)
    tuples = [tuple(audit.groups[c][i] for c in columns) for i in idx]
    cells = sorted(set(tuples))
    c_index = {c: k for k, c in enumerate(cells)}
    cell = np.array([c_index[t] for t in tuples], dtype=np.int64)
    n_cells = len(cells)
    counts = np.zeros((len(subjects), n_cells), dtype=np.int64)
    np.add.at(counts, (subject, cell), 1)

    # Similarity 0 keeps every pair (tests, small sets); otherwise only the low-distance tail.
    keep = distance_from_similarity(keep_similarity) if keep_similarity > 0 else np.inf
    edges = distance_bins()
    nb = len(edges) - 1
    hist = np.zeros(n_cells * n_cells * nb, dtype=np.int64)
    emb64 = emb.astype(np.float64)
    sq = (emb64**2).sum(axis=1)
    off = None if offsets is None else np.asarray(offsets, dtype=np.float64)[idx]
    ti, tj, td, gi, gj, gd = [], [], [], [], [], []
    n = len(emb)
    starts = range(0, n, block)
    for start in tqdm(
        starts, desc=f"{audit.name} pairs", unit="block", disable=not progress, leave=False
    ):
        stop = min(n, start + block)
        rows = np.arange(start, stop)
        d = np.sqrt(np.clip(sq[rows, None] + sq[None, :] - 2.0 * (emb64[rows] @ emb64.T), 0, None))
        if off is not None:
            d = np.clip(d - (off[rows, None] + off[None, :]) / 2.0, 0.0, None)
        upper = np.arange(n)[None, :] > rows[:, None]
        same = subject[rows, None] == subject[None, :]
        imp = upper & ~same
        r, c = np.nonzero(imp)
        dist = d[r, c]
        a, b = cell[rows[r]], cell[c]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        bins = np.clip((dist / BIN_WIDTH).astype(np.int64), 0, nb - 1)
        hist += np.bincount((lo * n_cells + hi) * nb + bins, minlength=hist.size)
        t = dist <= keep
        ti.append(rows[r[t]])
        tj.append(c[t])
        td.append(dist[t])
        r, c = np.nonzero(upper & same)
        gi.append(rows[r])
        gj.append(c)
        gd.append(d[r, c])

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    order = np.argsort(cat(td, np.float64), kind="stable")
    return ScoreSet(
        name=audit.name,
        columns=columns,
        subjects=subjects,
        subject=subject,
        cells=cells,
        cell=cell,
        counts=counts,
        keep_distance=keep,
        tail_i=cat(ti, np.int64)[order],
        tail_j=cat(tj, np.int64)[order],
        tail_d=cat(td, np.float64)[order],
        hist=hist.reshape(n_cells, n_cells, nb),
        gen_i=cat(gi, np.int64),
        gen_j=cat(gj, np.int64),
        gen_d=cat(gd, np.float64),
        has_identities=audit.has_identities,
        meta={"images": int(n), "images_without_embedding": int((~ok).sum()), "kept": idx},
    )


def sample_impostors(
    subjects: list[str], groups: list[str], n: int, *, seed: int = 0, per_cell_pair: bool = True
) -> np.ndarray:
    """A seeded sample of impostor pairs (k, 2) of image indices.

    With ``per_cell_pair`` the ``n`` pairs are split evenly over every (group, group) pair, so
    within-group and cross-group pairs of small groups are all present (stratified sampling: use
    design weights when pooling). Otherwise pairs are drawn uniformly.
    """
    rng = np.random.default_rng(seed)
    subj = np.asarray(subjects)
    grp = np.asarray(groups)
    labels = sorted(set(groups))
    strata = (
        [(a, b) for k, a in enumerate(labels) for b in labels[k:]] if per_cell_pair else [(None,)]
    )
    per = max(1, n // len(strata))
    out = []
    for stratum in strata:
        if stratum == (None,):
            left = right = np.arange(len(subj))
        else:
            left, right = np.flatnonzero(grp == stratum[0]), np.flatnonzero(grp == stratum[1])
        if len(left) == 0 or len(right) == 0:
            continue
        i = rng.choice(left, size=per * 2)
        j = rng.choice(right, size=per * 2)
        good = (subj[i] != subj[j]) & (i != j)
        pairs = np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1)[good]
        out.append(np.unique(pairs, axis=0)[:per])
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)
