"""Label-free score normalisation narrows an FMR gap between a dense and a sparse group."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceledger.fairness import calibration, metrics
from faceledger.fairness.datasets import AuditSet
from faceledger.fairness.pairs import score_set


def _two_groups(seed: int) -> tuple[AuditSet, np.ndarray]:
    rng = np.random.default_rng(seed)
    # two well-separated regions of face space; the "A" region is denser (more false matches)
    n = 400
    base = np.zeros((2, 128))
    base[1, 0] = 3.0
    spread = np.array([0.040, 0.043])
    group = np.arange(n) % 2
    emb = base[group] + rng.normal(size=(n, 128)) * spread[group][:, None]
    audit_set = AuditSet(
        "two",
        Path("."),
        [f"{k}.jpg" for k in range(n)],
        [f"{seed}-{k}" for k in range(n)],
        {"race": [["A", "B"][g] for g in group]},
        has_identities=False,
    )
    return audit_set, emb.astype(np.float32)


def _ratio(scores, t):
    ev = metrics.evaluate(scores, ("race",), {"t": t}, bootstrap=0)
    rows = {r["group"]: r["fmr"] for r in ev["thresholds"]["t"]["rows"]}
    return rows["A"] / rows["B"]


def test_normalisation_narrows_the_gap_on_held_out_faces():
    fit_set, fit_emb = _two_groups(0)
    model = calibration.fit([(fit_set, fit_emb)], clusters=4, target=1e-2, keep_similarity=0)
    test_set, test_emb = _two_groups(1)
    before = score_set(test_set, test_emb, keep_similarity=0)
    after = score_set(
        test_set,
        test_emb,
        keep_similarity=0,
        offsets=calibration.image_offsets(model, test_emb),
    )
    t_before = metrics.threshold_at_fmr([before], 1e-2)
    t_after = metrics.threshold_at_fmr([after], 1e-2)
    r_before, r_after = _ratio(before, t_before), _ratio(after, t_after)
    assert r_before > 5
    assert r_after < r_before / 2
