"""The latest fairness audit (``audit.json`` of ``faceledger fairness audit``) as the
accountability report shows it: per-group error rates with their confidence intervals at the
thresholds the policy enforces, and the known limitations (children, the groups with the
highest false match rate, groups too small to measure).

Nothing is recomputed here: the rows are the audit's own (``fairness.metrics.evaluate``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faceledger.fairness.report import fmt_ci, fmt_rate, fmt_ratio, fmt_ratio_ci

FALLBACK_THRESHOLD = "similarity=99"
ROW_FIELDS = (
    "group", "subjects", "impostor_pairs", "false_matches", "fmr", "fmr_ci", "fmr_upper_if_zero",
    "genuine_pairs", "false_non_matches", "fnmr", "fnmr_ci", "small_fmr", "small_fnmr",
)  # fmt: skip
DATASET_NAMES = {
    "lfw": "LFW",
    "utkface": "UTKFace adults",
    "children": "UTKFace children (0-17)",
    "congress": "US Congress portraits",
}


def thresholds_shown(fairness: Mapping[str, Any], policy: Mapping[str, Any]) -> list[str]:
    """The audit's thresholds at the similarities the policy enforces (``min_similarity``),
    else similarity 99, else the audit's first."""
    known = fairness.get("thresholds") or {}
    names = [f"similarity={s:g}" for s in policy.get("min_similarities") or []]
    names = [n for n in names if n in known]
    if not names:
        names = [FALLBACK_THRESHOLD] if FALLBACK_THRESHOLD in known else list(known)[:1]
    return names


def _primary(evaluations: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Each dataset's first grouping (the finest: race × gender, age band × gender, ...)."""
    seen: set[str] = set()
    out = []
    for ev in evaluations:
        if ev["dataset"] not in seen:
            seen.add(ev["dataset"])
            out.append(ev)
    return out


def _count_text(row: Mapping[str, Any]) -> str:
    if not row["false_matches"]:
        n = row["impostor_pairs"]
        return f"no false match in {n:,} pairs (FMR < {fmt_rate(3 / n)})" if n else "no pairs"
    return (
        f"FMR {fmt_rate(row['fmr'])} ({row['false_matches']:,} of {row['impostor_pairs']:,} "
        f"pairs; 95 % CI {fmt_ci(row['fmr_ci'])})"
    )


def limitations(
    fairness: Mapping[str, Any], evaluations: list[Mapping[str, Any]], name: str, sim: str
) -> list[str]:
    out = []
    by_ds = {ev["dataset"]: ev for ev in evaluations}
    kids = by_ds.get("children")
    adults = by_ds.get("utkface") or by_ds.get("lfw")
    if kids is None:
        out.append(
            "Children: the fairness audit did not measure faces of children, so the system's "
            "error rates on children are unknown. Do not rely on it for children."
        )
    else:
        rows = [r for r in kids["thresholds"][name]["rows"] if not r["small_fmr"]]
        if rows:
            top = max(rows, key=lambda r: r["fmr"] or 0)
            text = f"Children, {sim}: highest FMR for {top['group']}: {_count_text(top)}"
            overall = (adults or {}).get("overall", {}).get(name) if adults else None
            if overall and overall.get("fmr"):
                text += (
                    f", {fmt_ratio(top['fmr'] / overall['fmr'])} the overall FMR of "
                    f"{DATASET_NAMES.get(adults['dataset'], adults['dataset'])} "
                    f"({fmt_rate(overall['fmr'])})"
                )
            out.append(text + ". Results about children need particular caution.")
    for ev in evaluations:
        block = ev["thresholds"].get(name)
        if not block:
            continue
        ds = DATASET_NAMES.get(ev["dataset"], ev["dataset"])
        rows = [r for r in block["rows"] if not r["small_fmr"]]
        small = [r["group"] for r in block["rows"] if r["small_fmr"]]
        if rows:
            top = max(rows, key=lambda r: r["fmr"] or 0)
            text = f"{ds}, {sim}: the highest FMR is for {top['group']}: {_count_text(top)}"
            ratios = (block.get("ratios") or {}).get("fmr")
            if ratios and ratios["max_over_min"]["ratio"] is not None:
                mm = ratios["max_over_min"]
                text += (
                    f"; {fmt_ratio(mm['ratio'])} the lowest ({mm['denominator']}, 95 % CI "
                    f"{fmt_ratio_ci(mm['ci'])})"
                )
            out.append(text + ".")
        if small:
            out.append(
                f"{ds}: too few subjects or pairs to measure reliably for {', '.join(small)} "
                "(shown, flagged small)."
            )
    if not any(r["genuine_pairs"] for ev in evaluations for b in ev["thresholds"].values()
               for r in b["rows"]):  # fmt: skip
        out.append(
            "False non-match rates (missed true matches) were not measured: the audited sets "
            "hold one image per person."
        )
    return out


def summarize(fairness: Mapping[str, Any] | None, policy: Mapping[str, Any]) -> dict[str, Any]:
    """Per-group rates at the policy's thresholds and the known limitations."""
    if not fairness:
        return {
            "available": False,
            "limitations": [
                "No fairness audit was supplied: the error rates of this deployment across "
                "demographic groups are unmeasured. Run `faceledger fairness audit` and "
                "generate this report again with --fairness."
            ],
        }
    evaluations = _primary(list(fairness.get("evaluations") or []))
    names = thresholds_shown(fairness, policy)
    thresholds = fairness.get("thresholds") or {}
    tables = []
    for name in names:
        for ev in evaluations:
            block = ev["thresholds"].get(name)
            if not block:
                continue
            tables.append(
                {
                    "dataset": ev["dataset"],
                    "dataset_name": DATASET_NAMES.get(ev["dataset"], ev["dataset"]),
                    "grouping": list(ev["grouping"]),
                    "threshold": name,
                    "similarity": thresholds[name]["similarity"],
                    "rows": [{k: r.get(k) for k in ROW_FIELDS} for r in block["rows"]],
                }
            )
    main = names[0] if names else None
    main_sim = f"similarity {float(thresholds[main]['similarity']):.4g}" if main else ""
    settings = fairness.get("settings") or {}
    return {
        "available": True,
        "sha256": fairness.get("sha256"),
        "source": fairness.get("source"),
        "model": settings.get("model"),
        "datasets": settings.get("datasets"),
        "bootstrap": settings.get("bootstrap"),
        "seed": settings.get("seed"),
        "thresholds": names,
        "tables": tables,
        "limitations": limitations(fairness, evaluations, main, main_sim) if main else [],
        "summary": list(fairness.get("summary") or []),
    }
