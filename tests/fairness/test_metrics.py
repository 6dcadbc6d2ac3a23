"""Per-group rates against brute force, thresholds, bootstrap over subjects, small groups."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from faceledger.fairness import metrics
from faceledger.fairness.datasets import AuditSet
from faceledger.fairness.pairs import sample_impostors, score_set

from .conftest import make_set


def _brute(audit_set, emb, columns, t):
    d = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    lab = audit_set.group_labels(columns)
    out = {}
    for g in sorted({x for x in lab if x}):
        idx = [k for k in range(len(lab)) if lab[k] == g]
        imp = [
            (i, j)
            for i, j in itertools.combinations(idx, 2)
            if audit_set.subjects[i] != audit_set.subjects[j]
        ]
        gen = [
            (i, j)
            for i, j in itertools.combinations(idx, 2)
            if audit_set.subjects[i] == audit_set.subjects[j]
        ]
        out[g] = (
            len(imp),
            sum(d[i, j] <= t for i, j in imp),
            len(gen),
            sum(d[i, j] > t for i, j in gen),
        )
    return out, d, lab


def test_rates_match_brute_force(synthetic):
    audit_set, emb = synthetic
    scores = score_set(audit_set, emb, keep_similarity=0)
    for columns in (("race", "gender"), ("gender",)):
        ev = metrics.evaluate(
            scores, columns, {"a": 0.80, "b": 0.85}, bootstrap=0, genuine_weighting="pair"
        )
        for name, t in (("a", 0.80), ("b", 0.85)):
            expected, d, lab = _brute(audit_set, emb, columns, t)
            for row in ev["thresholds"][name]["rows"]:
                n_imp, fm, n_gen, nm = expected[row["group"]]
                assert (row["impostor_pairs"], row["false_matches"]) == (n_imp, fm)
                assert (row["genuine_pairs"], row["false_non_matches"]) == (n_gen, nm)
                assert row["fmr"] == pytest.approx(fm / n_imp)
    # cross-group cell: one image in each group
    ev = metrics.evaluate(scores, ("race",), {"a": 0.80}, bootstrap=0)
    lab = audit_set.group_labels(("race",))
    black = [k for k in range(len(lab)) if lab[k] == "Black"]
    white = [k for k in range(len(lab)) if lab[k] == "White"]
    d = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    fm = sum(d[i, j] <= 0.80 for i in black for j in white)
    cross = ev["thresholds"]["a"]["cross_fmr"]
    assert cross["pairs"][0][1] == len(black) * len(white)
    assert cross["false_matches"][0][1] == fm == cross["false_matches"][1][0]


def test_known_answer_on_a_line():
    """Four subjects of two images on a line: distances and the rates are known by hand."""
    points = [0.0, 0.1, 1.0, 1.3, 2.0, 2.05, 10.0, 10.4]
    emb = np.zeros((8, 128), dtype=np.float32)
    emb[:, 0] = points
    audit_set = AuditSet(
        "line",
        Path("."),
        [str(k) for k in range(8)],
        ["a", "a", "b", "b", "c", "c", "d", "d"],
        {"gender": ["Male"] * 4 + ["Female"] * 4},
    )
    scores = score_set(audit_set, emb, keep_similarity=0)
    ev = metrics.evaluate(scores, ("gender",), {"t": 0.75}, bootstrap=0)
    rows = {r["group"]: r for r in ev["thresholds"]["t"]["rows"]}
    # Male impostor pairs: 0-2 (1.0), 0-3 (1.3), 1-2 (0.9), 1-3 (1.2): none within 0.75
    assert rows["Male"]["impostor_pairs"] == 4 and rows["Male"]["false_matches"] == 0
    assert rows["Male"]["fmr_upper_if_zero"] == pytest.approx(3 / 4)
    # Male genuine pairs: 0.1 and 0.3, both match; Female: 0.05 and 0.4 match
    assert rows["Male"]["false_non_matches"] == 0 and rows["Female"]["genuine_pairs"] == 2
    # cross: image 3 (1.3) to 4 (2.0) is 0.7, 3 to 5 is 0.75 → 2 false matches of 16
    cross = ev["thresholds"]["t"]["cross_fmr"]
    assert cross["pairs"][0][1] == 16 and cross["false_matches"][0][1] == 2
    ev = metrics.evaluate(scores, ("gender",), {"t": 0.35}, bootstrap=0)
    rows = {r["group"]: r for r in ev["thresholds"]["t"]["rows"]}
    assert rows["Female"]["false_non_matches"] == 1 and rows["Female"]["fnmr"] == 0.5


def test_fnmr_weights_each_subject_once():
    """Subject a has 3 images (3 genuine pairs, 1 miss), b has 2 (1 pair, a miss)."""
    emb = np.zeros((5, 128), dtype=np.float32)
    emb[:, 0] = [0.0, 0.1, 0.5, 5.0, 5.6]
    audit_set = AuditSet(
        "w",
        Path("."),
        [str(k) for k in range(5)],
        ["a", "a", "a", "b", "b"],
        {"gender": ["Male"] * 5},
    )
    scores = score_set(audit_set, emb, keep_similarity=0)
    # pairs of a: 0.1, 0.5, 0.4 → one miss at t=0.45; b: 0.6 → a miss
    by_pair = metrics.evaluate(
        scores, ("gender",), {"t": 0.45}, bootstrap=0, genuine_weighting="pair"
    )
    by_subject = metrics.evaluate(scores, ("gender",), {"t": 0.45}, bootstrap=0)
    assert by_pair["thresholds"]["t"]["rows"][0]["fnmr"] == pytest.approx(2 / 4)
    row = by_subject["thresholds"]["t"]["rows"][0]
    assert row["fnmr"] == pytest.approx((1 / 3 + 1) / 2)
    assert row["genuine_pairs"] == 4 and row["false_non_matches"] == 2
    assert row["genuine_subjects"] == 2


def test_threshold_at_fmr_is_largest_meeting_target(synthetic):
    audit_set, emb = synthetic
    scores = score_set(audit_set, emb, keep_similarity=0)
    t = metrics.threshold_at_fmr([scores], 1e-3)
    fmr = metrics.overall_rates(scores, t)["fmr"]
    assert fmr <= 1e-3
    nxt = scores.tail_d[scores.tail_d > t].min()
    assert metrics.overall_rates(scores, nxt)["fmr"] > 1e-3
    # two datasets weigh equally: the mean of their FMRs meets the target
    other = score_set(*make_set(seed=7, spread=0.035), keep_similarity=0)
    t2 = metrics.threshold_at_fmr([scores, other], 1e-3)
    mean = (metrics.overall_rates(scores, t2)["fmr"] + metrics.overall_rates(other, t2)["fmr"]) / 2
    assert mean <= 1e-3


def test_bootstrap_resamples_subjects_within_strata(synthetic):
    audit_set, emb = synthetic
    scores = score_set(audit_set, emb, keep_similarity=0)
    w = metrics.bootstrap_weights(scores, 50, seed=3)
    assert w.shape == (50, len(scores.subjects))
    strata = scores.subject_stratum()
    for s in np.unique(strata):
        # each stratum keeps its number of subjects; weights are whole multiplicities
        assert np.all(w[:, strata == s].sum(axis=1) == (strata == s).sum())
    assert np.all(w == np.round(w))
    # the denominator under weights counts pairs of resampled images of different subjects
    # (two copies of one subject drawn twice make genuine pairs, not impostor pairs)
    g = metrics.grouping(scores, ("gender",))
    den = metrics.impostor_denominators(scores, g, w[:1])
    per = scores.counts @ np.stack([g.of_cell == k for k in range(2)], axis=1).astype(float)
    k = w[0] * per[:, 0]  # images of each subject in the resample
    expected = (k.sum() ** 2 - (k**2).sum()) / 2
    assert den[0, 0, 0] == pytest.approx(expected)
    # deterministic with the seed; CI brackets the point estimate
    assert np.array_equal(w, metrics.bootstrap_weights(scores, 50, seed=3))
    ev = metrics.evaluate(scores, ("gender",), {"t": 0.8}, bootstrap=100, seed=1)
    for row in ev["thresholds"]["t"]["rows"]:
        lo, hi = row["fmr_ci"]
        assert lo <= row["fmr"] <= hi


def test_small_groups_are_flagged_and_left_out_of_ratios():
    audit_set, emb = make_set(n_subjects=240)
    # keep only 10 subjects' images of the Black groups: they become small
    black = sorted(
        {
            s
            for s, r in zip(audit_set.subjects, audit_set.groups["race"], strict=True)
            if r == "Black"
        }
    )
    drop = set(black[10:])
    keep = [k for k, s in enumerate(audit_set.subjects) if s not in drop]
    small_set = audit_set.subset(keep)
    scores = score_set(small_set, emb[keep], keep_similarity=0)
    ev = metrics.evaluate(scores, ("race",), {"t": 0.8}, bootstrap=20)
    rows = {r["group"]: r for r in ev["thresholds"]["t"]["rows"]}
    assert rows["Black"]["subjects"] == 10 < metrics.MIN_SUBJECTS
    assert rows["Black"]["small_fmr"] and not rows["White"]["small_fmr"]
    assert ev["thresholds"]["t"]["ratios"]["fmr"] is None  # one group left: no ratio
    assert rows["Black"]["impostor_pairs"] > 0  # sample size still shown


def test_ratio_max_over_min(synthetic):
    audit_set, emb = synthetic
    scores = score_set(audit_set, emb, keep_similarity=0)
    ev = metrics.evaluate(scores, ("race", "gender"), {"t": 0.82}, bootstrap=50)
    block = ev["thresholds"]["t"]
    rates = {r["group"]: r["fmr"] for r in block["rows"]}
    mm = block["ratios"]["fmr"]["max_over_min"]
    assert mm["ratio"] == pytest.approx(max(rates.values()) / min(rates.values()))
    assert block["ratios"]["fmr"]["vs_lowest"][mm["denominator"]]["ratio"] == pytest.approx(1.0)


def test_sample_impostors_keeps_every_group_pair():
    subjects = [f"s{k}" for k in range(100)]
    groups = ["A"] * 80 + ["B"] * 15 + ["C"] * 5
    pairs = sample_impostors(subjects, groups, 600, seed=0)
    cells = {tuple(sorted((groups[i], groups[j]))) for i, j in pairs}
    assert cells == {("A", "A"), ("A", "B"), ("A", "C"), ("B", "B"), ("B", "C"), ("C", "C")}
    assert all(subjects[i] != subjects[j] for i, j in pairs)
    assert np.array_equal(pairs, sample_impostors(subjects, groups, 600, seed=0))


def test_groups_without_errors_are_not_the_ratio_denominator():
    rates = np.array([[0.0, 1e-3, 4e-3], [0.0, 2e-3, 4e-3], [1e-4, 1e-3, 2e-3]])
    rows = [{"fmr": r, "small_fmr": False} for r in rates[0]]
    out = metrics._ratios(rates, rows, "fmr", "small_fmr", ["A", "B", "C"])
    assert out["no_errors"] == ["A"]
    assert out["lowest_group"] == "B"
    assert out["max_over_min"]["ratio"] == pytest.approx(4.0)
    assert out["max_over_min"]["ci"] == (2.0, 2.0)
    # fewer than two groups with errors: no finite ratio, nothing hidden
    one = metrics._ratios(rates[:, :2], rows[:2], "fmr", "small_fmr", ["A", "B"])
    assert one["max_over_min"]["ratio"] is None and one["no_errors"] == []
