"""Audits on file: the measured error rates a deployment's decisions use.

``faceledger fairness audit`` files a compact summary of each audit in the data folder
(``<data dir>/fairness/<model id>/<audited at>.json``); ``faceledger fairness file AUDIT.json``
files an audit run elsewhere. The newest one for a model is what 1:N searches read: at a grid of
similarity thresholds, the overall false-match rate (all impostor pairs of the reference
datasets, pooled), the worst audited group's (the highest FMR among groups of the audit's main
grouping that are not flagged small), the ratio of the highest to the lowest of those FMRs
(None when the lowest is zero) and each declared age band's (the children dataset). A
search at threshold t uses the grid point at or just below t: FMR only falls as the threshold
rises, so the rate used is never lower than the rate at t (an upper bound, never a guess).
Nothing is filed or read that was not measured; a model without an audit on file has none.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from faceledger.governance.audit_files import FORMAT, GRID, file_summary, latest

__all__ = ["FORMAT", "GRID", "file_summary", "latest", "summarize"]


def summarize(result: Any, audited_at: datetime | None = None) -> dict[str, Any]:
    """The summary of an :class:`~faceledger.fairness.audit.AuditResult` that is filed."""
    from faceledger.engine.similarity import distance_from_similarity
    from faceledger.fairness import metrics
    from faceledger.fairness.audit import GROUPINGS, REFERENCE, default_groupings

    model_id = str(result.settings.get("model"))
    thresholds = {f"{s:g}": distance_from_similarity(s, model_id) for s in GRID}
    reference = [n for n in result.scores if n in REFERENCE or n not in GROUPINGS]
    reference = reference or list(result.scores)
    grid: list[dict[str, Any]] = [{"similarity": s} for s in GRID]
    for row, distance in zip(grid, thresholds.values(), strict=True):
        fm = n = 0
        for ds in reference:
            rates = metrics.overall_rates(result.scores[ds], distance)
            fm += int(rates["false_matches"] or 0)
            n += int(rates["impostor_pairs"] or 0)
        row["overall"] = {
            "fmr": fm / n if n else None,
            "false_matches": fm,
            "impostor_pairs": n,
            "datasets": reference,
        }
        row["worst_group"] = None
        row["age_bands"] = {}
    for ds in result.scores:
        audit_set = result.audit_sets[ds]
        groupings = default_groupings(audit_set)
        wanted = []
        if ds in reference and groupings:
            wanted.append(("worst", groupings[0]))
        if "age_band" in audit_set.groups:
            wanted.append(("age", ("age_band",)))
        for purpose, columns in wanted:
            ev = metrics.evaluate(result.scores[ds], columns, thresholds, bootstrap=0)
            for row, name in zip(grid, thresholds, strict=True):
                for r in ev["thresholds"][name]["rows"]:  # type: ignore[index]
                    cell = {
                        "dataset": ds,
                        "grouping": " × ".join(columns),
                        "group": r["group"],
                        "fmr": r["fmr"],
                        "false_matches": r["false_matches"],
                        "impostor_pairs": r["impostor_pairs"],
                        "small": r["small_fmr"],
                    }
                    if purpose == "age":
                        row["age_bands"][r["group"]] = cell
                    elif not r["small_fmr"] and r["fmr"] is not None:
                        worst = row["worst_group"]
                        if worst is None or r["fmr"] > worst["fmr"]:
                            row["worst_group"] = cell
                        best = row.get("best_group")
                        if best is None or r["fmr"] < best["fmr"]:
                            row["best_group"] = cell
    for row in grid:
        worst, best = row["worst_group"], row.pop("best_group", None)
        row["fmr_ratio"] = (
            worst["fmr"] / best["fmr"] if worst and best and best["fmr"] > 0 else None
        )
    when = (audited_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    body = {
        "format": FORMAT,
        "model_id": model_id,
        "audited_at": when.isoformat().replace("+00:00", "Z"),
        "datasets": list(result.scores),
        "grid": grid,
        # the similarity scale the grid was measured on: a model calibrated again afterwards
        # (`faceledger model calibrate`) no longer reads this audit
        "scale": [round(thresholds["90"], 4), round(thresholds["99"], 4)],
    }
    body["audit_id"] = (
        "audit_" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    )
    return body
