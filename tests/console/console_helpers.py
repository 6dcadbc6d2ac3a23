"""Helpers of the browser tests: the site under test and what a search declares."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

CHROMIUM = os.environ.get("FACELEDGER_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ROLES = {
    "operator": ["operator"],
    "reviewer": ["reviewer"],
    "reviewer2": ["operator", "reviewer"],
    "auditor": ["auditor"],
    "admin": ["admin"],
}


@dataclass
class Site:
    base: str
    root: Path
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    shots: Path | None = None
    audit_id: str | None = None

    def api(self, org: str, role: str, **declared: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[org][role]}", **declared}


def declarations() -> dict[str, str]:
    return {
        "X-Purpose": "missing-person",
        "X-Case-Ref": "MP-2026-0042",
        "X-Authorization-Ref": "W-7731",
        "X-Authorization-Date": (date.today() - timedelta(days=3)).isoformat(),
    }


def file_fairness_audit(root: Path) -> str:
    """A real (small) fairness audit, written where ``faceledger fairness audit --out
    <data dir>/fairness-audit`` writes it and filed for the engine's model as ``fairness audit``
    files it: synthetic embeddings through the audit's own scoring, per-group rates with
    bootstrap CIs and summary. Returns the filed audit's id."""
    import numpy as np

    from faceledger.engine.similarity import DEFAULT_MODEL_ID
    from faceledger.fairness.audit import AuditResult, global_thresholds
    from faceledger.fairness.datasets import AuditSet
    from faceledger.fairness.metrics import evaluate, overall_rates
    from faceledger.fairness.onfile import file_summary, summarize
    from faceledger.fairness.pairs import score_set
    from faceledger.fairness.report import write

    rng = np.random.default_rng(3)
    subj = np.repeat(np.arange(80), 2)
    centres = rng.normal(size=(80, 128)) * 0.035
    emb = (centres[subj] + rng.normal(size=(len(subj), 128)) * 0.025).astype(np.float32)
    gender = [["Female", "Male"][k % 2] for k in subj]
    audit_set = AuditSet(
        "congress", root, [f"{k}.jpg" for k in range(len(subj))],
        [f"s{k}" for k in subj], {"gender": gender},
    )  # fmt: skip
    scores = score_set(audit_set, emb, keep_similarity=0)
    thresholds = global_thresholds([scores])
    named = {k: v["distance"] for k, v in thresholds.items()}
    ev = evaluate(scores, ("gender",), named, bootstrap=30)
    ev["overall"] = {k: overall_rates(scores, d) for k, d in named.items()}
    result = AuditResult(
        thresholds=thresholds, datasets={}, evaluations=[ev], curves={},
        scores={"congress": scores}, audit_sets={"congress": audit_set},
        settings={"datasets": ["congress"], "bootstrap": 30, "seed": 0,
                  "model": DEFAULT_MODEL_ID},
    )  # fmt: skip
    write(result, root / "fairness-audit", save_pngs=False)
    summary = summarize(result)
    file_summary(root, summary)
    return summary["audit_id"]
