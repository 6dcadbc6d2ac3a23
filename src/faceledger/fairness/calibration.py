"""The product's label-free score normalisation (``engine.scoring``), measured by the audit.

The normalisation is fitted exactly as ``faceledger model normalize`` fits it (k-means on
embeddings, no demographic label; per-cluster terms that give every cluster the same FMR at the
similarity-99 operating point), and graded on faces its fit never saw, by **two-fold
cross-fitting**: the subjects of every dataset are split in two by a seeded hash of the subject
id (an LFW identity, or for UTKFace-style sets without identities, the image); a scoring is fitted
on fold A of the reference datasets (LFW, UTKFace, any manifest; never children or Congress) and
applied to fold B, and the other way round. Pairs within each held-out fold are counted, raw
and normalised, and the two folds' counts are added. Pairs across folds are not counted.

Reported: per group FMR at similarity 99 raw (the model's scale) and normalised (the scoring's
own scale, whose 99 allows the fit population the same overall FMR as the raw 99), the largest /
smallest ratio, and LFW TAR at FAR 1e-3 (threshold set on the pooled held-out LFW impostors).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

from faceledger.engine.scoring import N_CLUSTERS, ROUNDS, TARGET_FMR, Scoring, fit
from faceledger.engine.similarity import distance_from_similarity
from faceledger.fairness import metrics
from faceledger.fairness.datasets import AuditSet
from faceledger.fairness.pairs import ScoreSet, score_set

if TYPE_CHECKING:
    from faceledger.fairness.audit import AuditResult

SIMILARITY = 99.0
TAR_AT_FAR = 1e-3
GOAL_RATIO = 10.0
GOAL_TAR_POINTS = 1.0
NOT_FITTED_ON = ("children", "congress")
MAIN_GROUPING = {"lfw": ("race", "gender"), "utkface": ("race", "gender")}


def fold_of(subject: str, seed: int) -> int:
    return hashlib.sha256(f"{seed}:{subject}".encode()).digest()[0] & 1


def folds(audit_set: AuditSet, seed: int) -> list[np.ndarray]:
    """Image indices of fold 0 and fold 1 (whole subjects in one fold)."""
    f = np.array([fold_of(s, seed) for s in audit_set.subjects])
    return [np.flatnonzero(f == 0), np.flatnonzero(f == 1)]


def cross_fit(
    sets: dict[str, tuple[AuditSet, np.ndarray]],
    *,
    model_id: str,
    seed: int = 0,
    clusters: int = N_CLUSTERS,
    target: float = TARGET_FMR,
    rounds: int = ROUNDS,
) -> tuple[list[Scoring], dict[str, list[np.ndarray]]]:
    """Two scorings, each fitted on one fold of the reference sets; and each set's folds."""
    split = {name: folds(s, seed) for name, (s, _) in sets.items()}
    scorings = []
    for k in (0, 1):
        emb, subjects = [], []
        for name, (s, e) in sets.items():
            if name in NOT_FITTED_ON:
                continue
            idx = split[name][k]
            emb.append(e[idx])
            subjects += [f"{name}:{s.subjects[i]}" for i in idx]
        if not emb:
            raise ValueError("cross-fitting needs a dataset other than children and congress")
        scorings.append(
            fit(
                np.concatenate(emb),
                subjects,
                base_model_id=model_id,
                clusters=clusters,
                target=target,
                rounds=rounds,
                seed=seed,
                source=f"audit fold {k}",
            )  # fmt: skip
        )
    return scorings, split


def held_out_scores(
    audit_set: AuditSet, emb: np.ndarray, split: list[np.ndarray], scorings: list[Scoring]
) -> list[tuple[ScoreSet, ScoreSet, Scoring]]:
    """Per fold k: (raw scores, scores normalised by the scoring fitted on the other fold)."""
    out = []
    for k in (0, 1):
        idx = split[k]
        if len(idx) < 2:
            continue
        sub, e = audit_set.subset(idx), emb[idx]
        scoring = scorings[1 - k]
        raw = score_set(sub, e)
        norm = score_set(sub, e, offsets=2.0 * scoring.face_terms(e))
        out.append((raw, norm, scoring))
    return out


def group_rates(
    folds_scored: list[tuple[ScoreSet, ScoreSet, Scoring]],
    columns: tuple[str, ...],
    model_id: str,
    similarity: float = SIMILARITY,
) -> dict[str, object]:
    """Pooled per-group FMR at ``similarity``, raw and normalised, with the max/min ratio."""
    raw_t = distance_from_similarity(similarity, model_id)
    tables: dict[str, dict[str, list[float]]] = {"raw": {}, "normalized": {}}
    overall = {"raw": [0, 0], "normalized": [0, 0]}
    for raw, norm, scoring in folds_scored:
        norm_t = scoring.d99 if similarity == 99.0 else _scaled(scoring, similarity)
        for label, sc, t in (("raw", raw, raw_t), ("normalized", norm, norm_t)):
            ev = metrics.evaluate(sc, columns, {"t": t}, bootstrap=0)
            for row in ev["thresholds"]["t"]["rows"]:  # type: ignore[index]
                cell = tables[label].setdefault(row["group"], [0.0, 0.0, 0.0])
                cell[0] += row["false_matches"]
                cell[1] += row["impostor_pairs"]
                cell[2] += row["subjects"]
            o = metrics.overall_rates(sc, t)
            overall[label][0] += int(o["false_matches"])  # type: ignore[arg-type]
            overall[label][1] += int(o["impostor_pairs"])  # type: ignore[arg-type]
    groups = sorted(set(tables["raw"]) | set(tables["normalized"]))
    rows = []
    for g in groups:
        r, n = tables["raw"].get(g, [0, 0, 0]), tables["normalized"].get(g, [0, 0, 0])
        rows.append(
            {
                "group": g,
                "subjects": int(r[2]),
                "impostor_pairs": int(r[1]),
                "raw_false_matches": int(r[0]),
                "raw_fmr": r[0] / r[1] if r[1] else None,
                "normalized_false_matches": int(n[0]),
                "normalized_fmr": n[0] / n[1] if n[1] else None,
                "small": bool(r[2] < metrics.MIN_SUBJECTS or r[1] < metrics.MIN_PAIRS),
            }
        )
    return {
        "grouping": "×".join(columns),
        "rows": rows,
        "raw_ratio": _ratio(rows, "raw"),
        "normalized_ratio": _ratio(rows, "normalized"),
        "raw_overall_fmr": overall["raw"][0] / overall["raw"][1] if overall["raw"][1] else None,
        "normalized_overall_fmr": (
            overall["normalized"][0] / overall["normalized"][1]
            if overall["normalized"][1]
            else None
        ),
    }


def _scaled(scoring: Scoring, similarity: float) -> float:
    from faceledger.engine.scoring import register

    return distance_from_similarity(similarity, register(scoring))


def _ratio(rows: list[dict[str, object]], kind: str) -> dict[str, object] | None:
    """Largest / smallest FMR among groups large enough to measure (None: fewer than two)."""
    ok = [r for r in rows if not r["small"] and r[f"{kind}_fmr"] is not None]
    if len(ok) < 2:
        return None
    hi = max(ok, key=lambda r: r[f"{kind}_fmr"])  # type: ignore[arg-type,return-value]
    lo = min(ok, key=lambda r: r[f"{kind}_fmr"])  # type: ignore[arg-type,return-value]
    lo_fmr = float(lo[f"{kind}_fmr"])  # type: ignore[arg-type]
    return {
        "ratio": float(hi[f"{kind}_fmr"]) / lo_fmr if lo_fmr > 0 else None,  # type: ignore[arg-type]
        "largest": hi["group"],
        "smallest": lo["group"],
        "smallest_false_matches": lo[f"{kind}_false_matches"],
    }


def tar_at_far(
    folds_scored: list[tuple[ScoreSet, ScoreSet, Scoring]], far: float = TAR_AT_FAR
) -> dict[str, float | None]:
    """Pooled TAR (all genuine pairs) at the distance where pooled held-out FMR is ``far``."""
    out: dict[str, float | None] = {}
    for k, label in ((0, "raw"), (1, "normalized")):
        sets = [f[k] for f in folds_scored]
        if not sum(len(s.gen_d) for s in sets):
            return {"raw": None, "normalized": None}
        t = metrics.threshold_at_fmr(sets, far)
        miss = sum(int((s.gen_d > t).sum()) for s in sets)
        out[label] = 1.0 - miss / sum(len(s.gen_d) for s in sets)
    return out


def tar_at_similarity(
    folds_scored: list[tuple[ScoreSet, ScoreSet, Scoring]], model_id: str
) -> dict[str, float | None]:
    """Pooled TAR at similarity 99 on each scale (what a search at the floor finds)."""
    total = sum(len(f[0].gen_d) for f in folds_scored)
    if not total:
        return {"raw": None, "normalized": None}
    raw_t = distance_from_similarity(SIMILARITY, model_id)
    raw = sum(int((f[0].gen_d <= raw_t).sum()) for f in folds_scored)
    norm = sum(int((f[1].gen_d <= f[2].d99).sum()) for f in folds_scored)
    return {"raw": raw / total, "normalized": norm / total}


def run(
    result: AuditResult,
    *,
    seed: int = 0,
    log=print,
    clusters: int = N_CLUSTERS,
    rounds: int = ROUNDS,
    target: float = TARGET_FMR,
) -> dict[str, object]:
    """Cross-fit the normalisation on the audit's own datasets and measure it held out."""
    model_id = str(result.settings["model"])
    sets = {n: (s, result.embeddings[n]) for n, s in result.audit_sets.items()}
    if all(n in NOT_FITTED_ON for n in sets):
        return {"verdict": "not run: needs a dataset other than children and Congress", "rows": []}
    log(f"normalisation: fitting on each half of the subjects ({clusters} clusters at most)")
    scorings, split = cross_fit(
        sets, model_id=model_id, seed=seed, clusters=clusters, target=target, rounds=rounds
    )
    tables, tar, tar_99 = [], None, None
    for name, (s, e) in sets.items():
        log(f"normalisation: scoring {name} held out, raw and normalised")
        scored = held_out_scores(s, e, split[name], scorings)
        if not scored:
            continue
        for columns in _groupings(name, s):
            tables.append({"dataset": name} | group_rates(scored, columns, model_id))
        if name == "lfw":
            tar = tar_at_far(scored)
            tar_99 = tar_at_similarity(scored, model_id)
    return {
        "description": (
            "Label-free cluster normalisation (the scoring `faceledger model normalize` fits), "
            "two-fold cross-fitted: subjects split in two by a seeded hash of the subject id; "
            "each half's rates come from the scoring fitted on the other half of "
            f"{', '.join(n for n in sets if n not in NOT_FITTED_ON)} (children and Congress are "
            f"never fitted on). FMR at similarity {SIMILARITY:g}: raw on the model's scale, "
            "normalised on the scoring's own scale."
        ),
        "fits": [
            {"scoring_id": sc.scoring_id, "d90": sc.d90, "d99": sc.d99} | sc.fitted
            for sc in scorings
        ],
        "tables": tables,
        "lfw_tar_at_far_1e-3": tar,
        "lfw_tar_at_similarity_99": tar_99,
        "verdict": verdict(tables, tar),
    }


def _groupings(name: str, s: AuditSet) -> list[tuple[str, ...]]:
    from faceledger.fairness.audit import default_groupings

    if name == "children":
        wanted = [("age_band", "gender")]
    elif name in MAIN_GROUPING:
        wanted = [MAIN_GROUPING[name]]
    else:
        wanted = [("race", "gender")] if {"race", "gender"} <= set(s.groups) else []
        wanted = wanted or default_groupings(s)[:1]
    return [c for c in wanted if all(x in s.groups for x in c)]


def verdict(tables: list[dict[str, object]], tar: dict[str, float | None] | None) -> str:
    parts = []
    for t in tables:
        if t["grouping"] != "race×gender" or t["dataset"] == "lfw":
            continue
        raw, norm = t["raw_ratio"], t["normalized_ratio"]
        if not raw or not norm or raw["ratio"] is None or norm["ratio"] is None:  # type: ignore[index]
            parts.append(f"{t['dataset']} race × gender: a group without false matches")
            continue
        r, n = raw["ratio"], norm["ratio"]  # type: ignore[index]
        parts.append(
            f"{t['dataset']} race × gender max/min FMR at similarity {SIMILARITY:g} "
            f"{r:.0f}× → {n:.1f}×: {'met' if n <= GOAL_RATIO else 'NOT met'} "
            f"(goal ≤ {GOAL_RATIO:g}×)"
        )
    if tar and tar.get("raw") is not None and tar.get("normalized") is not None:
        loss = (tar["raw"] - tar["normalized"]) * 100  # type: ignore[operator]
        parts.append(
            f"LFW TAR at FAR 1e-3 {tar['raw']:.2%} → {tar['normalized']:.2%} "
            f"({-loss:+.2f} points): {'met' if loss <= GOAL_TAR_POINTS else 'NOT met'} "
            f"(goal: lose ≤ {GOAL_TAR_POINTS:g} point)"
        )
    return "; ".join(parts) or "not enough data"


def summary_lines(cal: dict[str, object]) -> list[str]:
    """One line per table (each group's FMR raw → normalised, the ratio) and the verdict."""
    from faceledger.fairness.report import fmt_rate

    lines = []
    for t in cal.get("tables", []):  # type: ignore[union-attr]
        cells = ", ".join(
            f"{r['group']} {fmt_rate(r['raw_fmr'])} → {fmt_rate(r['normalized_fmr'])}"
            + (" (small)" if r["small"] else "")
            for r in t["rows"]
            if r["impostor_pairs"]
        )
        ratios = " → ".join(
            "n/a" if not x or x["ratio"] is None else f"{x['ratio']:.1f}×"
            for x in (t["raw_ratio"], t["normalized_ratio"])
        )
        lines.append(
            f"Normalisation, {t['dataset']} (held out) by {t['grouping']}, FMR at similarity "
            f"{SIMILARITY:g} raw → normalised: {cells}; largest/smallest {ratios}; overall "
            f"{fmt_rate(t['raw_overall_fmr'])} → {fmt_rate(t['normalized_overall_fmr'])}."
        )
    tar = cal.get("lfw_tar_at_far_1e-3")
    if tar and tar.get("raw") is not None:  # type: ignore[union-attr]
        lines.append(
            f"Normalisation, LFW (held out) TAR at FAR 1e-3: {tar['raw']:.2%} raw → "  # type: ignore[index]
            f"{tar['normalized']:.2%} normalised."  # type: ignore[index]
        )
    tar_99 = cal.get("lfw_tar_at_similarity_99")
    if tar_99 and tar_99.get("raw") is not None:  # type: ignore[union-attr]
        lines.append(
            f"Normalisation, LFW (held out) TAR at similarity {SIMILARITY:g}: "
            f"{tar_99['raw']:.2%} raw → {tar_99['normalized']:.2%} normalised."  # type: ignore[index]
        )
    lines.append(f"Normalisation goal: {cal.get('verdict')}.")
    return lines
