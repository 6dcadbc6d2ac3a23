"""Error rates per demographic group at one global threshold, with subject-level bootstrap CIs.

Definitions (NIST FRVT Part 3 / ISO 19795-1 style):

* a comparison *matches* when its distance is at or below the threshold (similarity at or above);
* FMR of group g = false matches / impostor pairs with **both** images in g; the cross-group
  matrix does the same for pairs with one image in g1 and the other in g2;
* FNMR of group g = non-matching genuine pairs in g (only where identities exist), averaged per
  subject so that each person counts once;
* one threshold for everyone, set where the *overall* FMR meets a target, or at a documented
  similarity; never per group.

Uncertainty: pairs that share a subject are not independent, so confidence intervals come from
a bootstrap that resamples **subjects** (within each subject's group, keeping group sizes fixed)
and weights every pair by the product of its subjects' multiplicities. Impostor denominators
follow in closed form from images per subject, so all impostor pairs are used.

Small groups: a group with fewer than ``MIN_SUBJECTS`` subjects, or fewer than ``MIN_PAIRS``
pairs for the rate at hand, is flagged ``small``; it is shown with its sample size and CI but
left out of ratios and of the plain-language summary. When no error is observed the rate is 0
with the rule-of-three 95 % upper bound ``3 / pairs`` given alongside, never a bare 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceledger.fairness.pairs import ScoreSet

MIN_SUBJECTS = 30
"""Groups with fewer subjects are flagged small (rates unstable, excluded from ratios)."""
MIN_PAIRS = 1000
"""A rate from fewer pairs is flagged small: one error would move it by 0.1 percentage point."""
CI_LEVEL = 0.95


@dataclass
class Grouping:
    """Cells of a ScoreSet mapped to the groups of some columns, e.g. ('race', 'gender')."""

    columns: tuple[str, ...]
    labels: list[str]
    of_cell: np.ndarray  # (C,) group index of each cell, -1 when a column is unlabelled


def grouping(scores: ScoreSet, columns: Sequence[str]) -> Grouping:
    pos = [scores.columns.index(c) for c in columns]
    keys = []
    for cell in scores.cells:
        values = [cell[p] for p in pos]
        keys.append(" ".join(values) if all(values) else "")
    labels = sorted({k for k in keys if k})
    index = {k: n for n, k in enumerate(labels)}
    return Grouping(tuple(columns), labels, np.array([index.get(k, -1) for k in keys]))


def bootstrap_weights(scores: ScoreSet, n: int, seed: int) -> np.ndarray:
    """(n, S) subject multiplicities: each stratum's subjects resampled with replacement."""
    rng = np.random.default_rng(seed)
    strata = scores.subject_stratum()
    weights = np.zeros((n, len(scores.subjects)), dtype=np.float64)
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        draws = rng.integers(0, len(members), size=(n, len(members)))
        for row in range(n):
            weights[row, members] += np.bincount(draws[row], minlength=len(members))
    return weights


def impostor_denominators(scores: ScoreSet, g: Grouping, weights: np.ndarray) -> np.ndarray:
    """(R, G, G) weighted number of impostor pairs between groups (symmetric)."""
    n_groups = len(g.labels)
    member = np.zeros((len(scores.cells), n_groups))
    for c, k in enumerate(g.of_cell):
        if k >= 0:
            member[c, k] = 1.0
    per_subject = scores.counts @ member  # (S, G)
    total = weights @ per_subject  # (R, G)
    outer = (per_subject[:, :, None] * per_subject[:, None, :]).reshape(len(per_subject), -1)
    same = (weights**2 @ outer).reshape(-1, n_groups, n_groups)
    den = total[:, :, None] * total[:, None, :] - same
    diag = np.arange(n_groups)
    den[:, diag, diag] /= 2.0
    return den


def impostor_numerators(
    scores: ScoreSet, g: Grouping, thresholds: np.ndarray, weights: np.ndarray, chunk: int = 16
) -> np.ndarray:
    """(R, K, G, G) weighted false matches (distance <= threshold k) between groups."""
    n_groups = len(g.labels)
    gg = n_groups * n_groups
    ga, gb = g.of_cell[scores.cell[scores.tail_i]], g.of_cell[scores.cell[scores.tail_j]]
    valid = (ga >= 0) & (gb >= 0)
    lo, hi = np.minimum(ga, gb)[valid], np.maximum(ga, gb)[valid]
    code = lo * n_groups + hi
    d = scores.tail_d[valid]
    si = scores.subject[scores.tail_i[valid]]
    sj = scores.subject[scores.tail_j[valid]]
    n_rep, k = len(weights), len(thresholds)
    out = np.zeros((n_rep, k, gg))
    for start in range(0, n_rep, chunk):
        w = weights[start : start + chunk]
        b = len(w)
        pw = w[:, si] * w[:, sj]  # (b, P)
        for t, thr in enumerate(thresholds):
            m = int(np.searchsorted(d, thr, side="right"))
            if m == 0:
                continue
            flat = (np.arange(b)[:, None] * gg + code[None, :m]).ravel()
            out[start : start + b, t] = np.bincount(
                flat, weights=pw[:, :m].ravel(), minlength=b * gg
            ).reshape(b, gg)
    out = out.reshape(n_rep, k, n_groups, n_groups)
    # symmetric: copy the upper triangle to the lower one
    tri = np.triu_indices(n_groups, 1)
    out[:, :, tri[1], tri[0]] = out[:, :, tri[0], tri[1]]
    return out


def genuine_counts(
    scores: ScoreSet, g: Grouping, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per subject and group: genuine pairs (S, G) and non-matches at each threshold (S, G, K)."""
    n_groups = len(g.labels)
    ga, gb = g.of_cell[scores.cell[scores.gen_i]], g.of_cell[scores.cell[scores.gen_j]]
    valid = (ga >= 0) & (ga == gb)
    s = scores.subject[scores.gen_i[valid]]
    grp = ga[valid]
    d = scores.gen_d[valid]
    n_subjects = len(scores.subjects)
    pairs = np.zeros((n_subjects, n_groups))
    np.add.at(pairs, (s, grp), 1.0)
    misses = np.zeros((n_subjects, n_groups, len(thresholds)))
    for t, thr in enumerate(thresholds):
        miss = d > thr
        np.add.at(misses[:, :, t], (s[miss], grp[miss]), 1.0)
    return pairs, misses


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def interval(samples: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float] | None:
    """Percentile interval over replicates (axis 0); inf allowed, NaN replicates ignored."""
    x = np.asarray(samples, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return None
    a = (1.0 - level) / 2.0
    return float(np.quantile(x, a, method="lower")), float(np.quantile(x, 1 - a, method="higher"))


def group_subjects(scores: ScoreSet, g: Grouping) -> np.ndarray:
    """(G,) number of distinct subjects with at least one image in each group."""
    out = np.zeros(len(g.labels), dtype=np.int64)
    for k in range(len(g.labels)):
        cells = np.flatnonzero(g.of_cell == k)
        out[k] = int((scores.counts[:, cells].sum(axis=1) > 0).sum())
    return out


def evaluate(
    scores: ScoreSet,
    columns: Sequence[str],
    thresholds: dict[str, float],
    *,
    bootstrap: int = 200,
    seed: int = 0,
    genuine_weighting: str = "subject",
) -> dict[str, object]:
    """Per-group FMR/FNMR, cross-group FMR and ratios at each named threshold (distance).

    FNMR is subject-weighted by default (``genuine_weighting="subject"``): the mean over subjects
    of each subject's share of non-matching genuine pairs, so an identity with 530 images (LFW's
    George W. Bush, 140 k of 242 k genuine pairs) counts once; ``"pair"`` pools all pairs.

    Returns a JSON-ready dict: ``groups`` (labels, subjects), and per threshold ``rows`` (one per
    group, with counts, rates, CIs, small flags), ``cross_fmr`` (matrix, pairs) and ``ratios``.
    """
    g = grouping(scores, columns)
    names = list(thresholds)
    thr = np.array([thresholds[n] for n in names])
    ones = np.ones((1, len(scores.subjects)))
    reps = bootstrap_weights(scores, bootstrap, seed) if bootstrap > 0 else np.zeros((0, 0))
    w_all = np.concatenate([ones, reps]) if bootstrap > 0 else ones
    den = impostor_denominators(scores, g, w_all)  # (R, G, G)
    num = impostor_numerators(scores, g, thr, w_all)  # (R, K, G, G)
    fmr = _ratio(num, den[:, None])  # (R, K, G, G)
    gen_pairs, gen_miss = genuine_counts(scores, g, thr)
    raw_pairs = gen_pairs.sum(axis=0)  # (G,)
    raw_miss = gen_miss.sum(axis=0)  # (G, K)
    if genuine_weighting == "subject":
        # each subject counts once: the mean over subjects of their own FNMR
        share = np.where(gen_pairs > 0, 1.0 / np.where(gen_pairs > 0, gen_pairs, 1.0), 0.0)
        gen_miss = gen_miss * share[:, :, None]
        gen_pairs = (gen_pairs > 0).astype(np.float64)
    elif genuine_weighting != "pair":
        raise ValueError("genuine_weighting must be 'subject' or 'pair'")
    gen_den = w_all @ gen_pairs  # (R, G)
    gen_num = np.einsum("rs,sgk->rkg", w_all, gen_miss)  # (R, K, G)
    fnmr = _ratio(gen_num, gen_den[:, None, :])
    gen_subjects = (genuine_counts(scores, g, thr[:0])[0] > 0).sum(axis=0)
    n_subjects = group_subjects(scores, g)
    diag = np.arange(len(g.labels))
    result: dict[str, object] = {
        "dataset": scores.name,
        "grouping": list(columns),
        "groups": g.labels,
        "subjects": n_subjects.tolist(),
        "bootstrap": bootstrap,
        "genuine_weighting": genuine_weighting,
        "thresholds": {},
    }
    for k, name in enumerate(names):
        rows = []
        for i, label in enumerate(g.labels):
            n_imp = float(den[0, i, i])
            fm = float(num[0, k, i, i])
            n_gen = float(raw_pairs[i])
            nm = float(raw_miss[i, k])
            row: dict[str, object] = {
                "group": label,
                "subjects": int(n_subjects[i]),
                "impostor_pairs": int(round(n_imp)),
                "false_matches": int(round(fm)),
                "fmr": fm / n_imp if n_imp else None,
                "fmr_ci": interval(fmr[1:, k, i, i]) if bootstrap else None,
                "fmr_upper_if_zero": (3.0 / n_imp) if n_imp and fm == 0 else None,
                "genuine_pairs": int(round(n_gen)),
                "false_non_matches": int(round(nm)),
                "fnmr": float(fnmr[0, k, i]) if n_gen else None,
                "genuine_subjects": int(round(gen_den[0, i]))
                if genuine_weighting == "subject"
                else None,
                "fnmr_ci": interval(fnmr[1:, k, i]) if bootstrap and n_gen else None,
                "small_fmr": bool(n_subjects[i] < MIN_SUBJECTS or n_imp < MIN_PAIRS),
                "small_fnmr": bool(
                    (gen_subjects[i] if genuine_weighting == "subject" else n_subjects[i])
                    < MIN_SUBJECTS
                    or n_gen < MIN_PAIRS
                ),
            }
            rows.append(row)
        cross = {
            "fmr": np.where(np.isnan(fmr[0, k]), None, fmr[0, k]).tolist(),
            "pairs": np.round(den[0]).astype(np.int64).tolist(),
            "false_matches": np.round(num[0, k]).astype(np.int64).tolist(),
        }
        ratios = {
            "fmr": _ratios(fmr[:, k, diag, diag], rows, "fmr", "small_fmr", g.labels),
            "fnmr": _ratios(fnmr[:, k], rows, "fnmr", "small_fnmr", g.labels),
        }
        result["thresholds"][name] = {
            "distance": float(thr[k]),
            "rows": rows,
            "cross_fmr": cross,
            "ratios": ratios,
            "pair_ratios": _pair_ratios(fmr[:, k, diag, diag], rows, g.labels),
        }
    return result


def _pair_ratios(
    rates: np.ndarray, rows: list[dict], labels: list[str]
) -> dict[str, tuple[float, float] | None]:
    """Bootstrap CI of FMR(a) / FMR(b) for every ordered pair of groups that are not small."""
    ok = [i for i, r in enumerate(rows) if not r["small_fmr"] and r["fmr"] is not None]
    out = {}
    if len(rates) < 2:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        for a in ok:
            for b in ok:
                if a != b:
                    out[f"{labels[a]}/{labels[b]}"] = interval(rates[1:, a] / rates[1:, b])
    return out


def _ratios(
    rates: np.ndarray, rows: list[dict], key: str, small: str, labels: list[str]
) -> dict[str, object] | None:
    """max/min ratio and each group against the lowest, over groups that are not small.

    Groups without a single error have no usable rate for a ratio (only the rule-of-three bound):
    when at least two groups have errors, the lowest is taken among those, and the others are
    listed under ``no_errors``."""
    ok = [i for i, r in enumerate(rows) if not r[small] and r[key] is not None]
    if len(ok) < 2:
        return None
    with_errors = [i for i in ok if rates[0, i] > 0]
    no_errors = [labels[i] for i in ok if rates[0, i] == 0]
    if len(with_errors) >= 2:
        ok = with_errors
    else:
        no_errors = []
    point = rates[0, ok]
    hi, lo = ok[int(np.argmax(point))], ok[int(np.argmin(point))]

    def ratio(a: int, b: int) -> dict[str, object]:
        with np.errstate(divide="ignore", invalid="ignore"):
            samples = rates[:, a] / rates[:, b]
        value = samples[0]
        return {
            "numerator": labels[a],
            "denominator": labels[b],
            "ratio": None if not np.isfinite(value) else float(value),
            "ci": interval(samples[1:]) if len(samples) > 1 else None,
        }

    return {
        "max_over_min": ratio(hi, lo),
        "lowest_group": labels[lo],
        "vs_lowest": {labels[i]: ratio(i, lo) for i in ok},
        "no_errors": no_errors,
    }


def threshold_at_fmr(score_sets: Sequence[ScoreSet], target: float) -> float:
    """Largest distance whose FMR, averaged over the datasets (each weighted equally), is at most
    ``target``. One global threshold, as NIST sets it."""
    candidates = np.unique(np.concatenate([s.tail_d for s in score_sets]))
    if candidates.size == 0:
        raise ValueError("no impostor pairs in the kept tail")
    mean = np.zeros(candidates.size)
    for s in score_sets:
        mean += np.searchsorted(s.tail_d, candidates, side="right") / s.n_impostor
    mean /= len(score_sets)
    ok = np.flatnonzero(mean <= target)
    if ok.size == 0:
        return float(candidates[0]) - 1e-9
    if ok[-1] == candidates.size - 1 and mean[-1] < target:
        raise ValueError("target FMR lies beyond the kept tail: raise keep_similarity")
    return float(candidates[ok[-1]])


def overall_rates(scores: ScoreSet, distance: float) -> dict[str, float | int | None]:
    """Overall FMR (all impostor pairs) and FNMR at ``distance``: FNMR averaged over subjects
    (each counts once, as in the per-group rows) and pooled over all genuine pairs."""
    fm = int(np.searchsorted(scores.tail_d, distance, side="right"))
    n_imp = scores.n_impostor
    n_gen = len(scores.gen_d)
    miss = scores.gen_d > distance
    fnm = int(miss.sum())
    fnmr_subjects = None
    if n_gen:
        s = scores.subject[scores.gen_i]
        per = np.bincount(s, minlength=len(scores.subjects)).astype(float)
        missed = np.bincount(s[miss], minlength=len(scores.subjects))
        has = per > 0
        fnmr_subjects = float((missed[has] / per[has]).mean())
    return {
        "impostor_pairs": n_imp,
        "false_matches": fm,
        "fmr": fm / n_imp if n_imp else None,
        "genuine_pairs": n_gen,
        "false_non_matches": fnm,
        "fnmr": fnmr_subjects,
        "fnmr_pooled_pairs": fnm / n_gen if n_gen else None,
    }


def curves(scores: ScoreSet, columns: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per group: FMR and (subject-weighted) FNMR at every histogram edge, for DET and
    FMR-against-threshold plots, with the group's sizes and small flag."""
    from faceledger.fairness.pairs import distance_bins

    g = grouping(scores, columns)
    edges = distance_bins()[1:]
    n_subjects = group_subjects(scores, g)
    ga = g.of_cell[scores.cell[scores.gen_i]]
    gb = g.of_cell[scores.cell[scores.gen_j]]
    out = {}
    for k, label in enumerate(g.labels):
        cells = np.flatnonzero(g.of_cell == k)
        h = scores.hist[np.ix_(cells, cells)].sum(axis=(0, 1))
        total = h.sum()
        fmr = np.cumsum(h) / total if total else np.full(len(edges), np.nan)
        mine = (ga == k) & (gb == k)
        gd, subj = scores.gen_d[mine], scores.subject[scores.gen_i[mine]]
        if len(gd):
            per_subject = np.bincount(subj, minlength=len(scores.subjects))
            weight = 1.0 / per_subject[subj]
            order = np.argsort(gd)
            cum = np.concatenate([[0.0], np.cumsum(weight[order])])
            matched = cum[np.searchsorted(gd[order], edges, side="right")]
            fnmr = 1.0 - matched / (per_subject > 0).sum()
            fnmr = np.where(fnmr < 1e-9, 0.0, fnmr)  # float residue of the weighted sums
        else:
            fnmr = np.full(len(edges), np.nan)
        out[label] = {
            "distance": edges,
            "fmr": fmr,
            "fnmr": fnmr,
            "impostor_pairs": total,
            "subjects": int(n_subjects[k]),
            "small": bool(n_subjects[k] < MIN_SUBJECTS or total < MIN_PAIRS),
        }
    return out
