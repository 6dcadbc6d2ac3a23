"""Audit outputs: ``audit.json``, ``rates.csv``, ``cross_fmr.csv`` and a self-contained
``report.html`` (figures embedded as base64 PNG, no external assets)."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from faceledger.engine.similarity import distance_from_similarity
from faceledger.fairness.audit import AuditResult

SUMMARY_THRESHOLDS = ("similarity=99", "similarity=95", "similarity=80", "fmr=1e-03", "fmr=1e-04")
REFERENCE_GROUP = {"lfw": "White Male", "utkface": "White Male", "congress": "Male"}
"""The comparison a reader expects first (NIST's baseline is white men); others vs the lowest."""
FOCUS_GROUPS = ("Black Female", "Black Male", "Asian Female", "Female")
"""The first of these that is present and not small is compared with the reference group."""


def fmt_rate(x: float | str | None) -> str:
    x = None if x is None else float(x)
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x == 0:
        return "0"
    return f"{x:.2e}" if x < 0.01 else f"{x:.3f}"


def fmt_sim(x: float) -> str:
    return f"{x:.2f}" if x < 99.9 else f"{x:.4f}"


def fmt_ci(ci: Any) -> str:
    if not ci:
        return "–"
    return f"{fmt_rate(ci[0])}–{fmt_rate(ci[1])}"


def fmt_ratio(x: float | str | None) -> str:
    if x is None or math.isinf(float(x)):
        return "∞"
    x = float(x)
    return f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def fmt_ratio_ci(ci: Any) -> str:
    if not ci:
        return "–"
    lo, hi = float(ci[0]), float(ci[1])
    return f"{'∞' if math.isinf(lo) else f'{lo:.2f}'}–{'∞' if math.isinf(hi) else f'{hi:.2f}'}"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        f = float(obj)
        return None if math.isnan(f) else ("inf" if math.isinf(f) else f)
    return obj


def rate_rows(result: AuditResult) -> list[dict[str, Any]]:
    """Flat rows: dataset, grouping, threshold, group and every count, rate and CI."""
    out = []
    for ev in result.evaluations:
        for name, block in ev["thresholds"].items():
            for row in block["rows"]:
                out.append(
                    {
                        "dataset": ev["dataset"],
                        "grouping": "×".join(ev["grouping"]),
                        "threshold": name,
                        "similarity": round(result.thresholds[name]["similarity"], 4),
                        "distance": round(block["distance"], 5),
                        "group": row["group"],
                        "subjects": row["subjects"],
                        "impostor_pairs": row["impostor_pairs"],
                        "false_matches": row["false_matches"],
                        "fmr": row["fmr"],
                        "fmr_ci_low": (row["fmr_ci"] or (None, None))[0],
                        "fmr_ci_high": (row["fmr_ci"] or (None, None))[1],
                        "fmr_upper_if_zero": row["fmr_upper_if_zero"],
                        "genuine_pairs": row["genuine_pairs"],
                        "false_non_matches": row["false_non_matches"],
                        "fnmr": row["fnmr"] if row["genuine_pairs"] else None,
                        "fnmr_ci_low": (row["fnmr_ci"] or (None, None))[0],
                        "fnmr_ci_high": (row["fnmr_ci"] or (None, None))[1],
                        "small_fmr": row["small_fmr"],
                        "small_fnmr": row["small_fnmr"] if row["genuine_pairs"] else None,
                    }
                )
    return out


def cross_rows(result: AuditResult) -> list[dict[str, Any]]:
    out = []
    for ev in result.evaluations:
        labels = ev["groups"]
        for name, block in ev["thresholds"].items():
            cross = block["cross_fmr"]
            for a, la in enumerate(labels):
                for b, lb in enumerate(labels):
                    if b < a:
                        continue
                    out.append(
                        {
                            "dataset": ev["dataset"],
                            "grouping": "×".join(ev["grouping"]),
                            "threshold": name,
                            "group_a": la,
                            "group_b": lb,
                            "impostor_pairs": cross["pairs"][a][b],
                            "false_matches": cross["false_matches"][a][b],
                            "fmr": cross["fmr"][a][b],
                        }
                    )
    return out


def summary_sentences(result: AuditResult) -> list[str]:
    """Plain-language findings, only from groups that are not flagged small."""
    out = []
    for ev in result.evaluations:
        if list(ev["grouping"]) != list(_primary(result, ev["dataset"])):
            continue
        ds = ev["dataset"]
        for name in SUMMARY_THRESHOLDS:
            block = ev["thresholds"].get(name)
            if not block:
                continue
            label = _threshold_label(result, name)
            rows = {r["group"]: r for r in block["rows"]}
            ratios = block["ratios"]["fmr"]
            if ratios is None:
                continue
            ref = REFERENCE_GROUP.get(ds)
            focus = next((f for f in FOCUS_GROUPS if f in ratios["vs_lowest"] and f != ref), None)
            if focus in ratios["vs_lowest"] and ref in rows and not rows[ref]["small_fmr"]:
                rf, rr = rows[focus], rows[ref]
                if rr["false_matches"] > 0 and rf["false_matches"] > 0:
                    ratio = rf["fmr"] / rr["fmr"]
                    ci = _pair_ci(result, ds, ev["grouping"], name, focus, ref)
                    out.append(
                        f"{_ds(ds)}, {label}: the FMR for {_plural(focus)} is "
                        f"{fmt_ratio(ratio)} that for {_plural(ref)} "
                        f"(95 % CI {ci}; {fmt_rate(rf['fmr'])} = {rf['false_matches']:,} of "
                        f"{rf['impostor_pairs']:,} pairs vs {fmt_rate(rr['fmr'])} = "
                        f"{rr['false_matches']:,} of {rr['impostor_pairs']:,})."
                    )
                else:
                    out.append(
                        f"{_ds(ds)}, {label}: {_plural(focus)} {_count(rf)}; "
                        f"{_plural(ref)} {_count(rr)}: too few false matches for a ratio."
                    )
            mm = ratios["max_over_min"]
            if mm["ratio"] is None:
                hi, lo = rows[mm["numerator"]], rows[mm["denominator"]]
                bound = hi["fmr"] / (3 / lo["impostor_pairs"])
                if hi is lo or hi["false_matches"] == 0:
                    continue
                out.append(
                    f"{_ds(ds)}, {label}: highest FMR {hi['group']}, which {_count(hi)}; "
                    f"lowest {lo['group']}, which {_count(lo)}"
                    + (
                        f", so max/min is at least {fmt_ratio(bound)} (against that bound)."
                        if bound > 1
                        else ": too few false matches for a ratio."
                    )
                )
                continue
            zero = ratios.get("no_errors") or []
            zero_note = (
                f" ({', '.join(zero)}: no false match, rate bounded only by 3/pairs)"
                if zero
                else ""
            )
            out.append(
                f"{_ds(ds)}, {label}{zero_note}: highest FMR {mm['numerator']} "
                f"({fmt_rate(rows[mm['numerator']]['fmr'])}), lowest {mm['denominator']} "
                f"({fmt_rate(rows[mm['denominator']]['fmr'])}): max/min "
                f"{fmt_ratio(mm['ratio'])} (95 % CI {fmt_ratio_ci(mm['ci'])})."
            )
    return out


def extra_sentences(result: AuditResult) -> list[str]:
    """Children against adults at the same threshold, the 1:N counts, the mitigation verdict."""
    out = []
    evs = {(e["dataset"], tuple(e["grouping"])): e for e in result.evaluations}
    kids = evs.get(("children", ("age_band", "gender"))) or evs.get(("children", ("age_band",)))
    adults = next((e for (d, _), e in evs.items() if d == "utkface"), None)
    for name in ("similarity=99", "fmr=1e-03"):
        if not kids or name not in kids["thresholds"]:
            continue
        rows = [r for r in kids["thresholds"][name]["rows"] if not r["small_fmr"]]
        if not rows:
            continue
        top = max(rows, key=lambda r: r["fmr"] or 0)
        text = (
            f"UTKFace children, {_threshold_label(result, name)}: highest FMR for "
            f"{_plural(top['group'])}: {_count(top).removeprefix('had ')}"
        )
        if adults:
            ov = adults["overall"][name]
            if ov["fmr"]:
                text += (
                    f", {fmt_ratio(top['fmr'] / ov['fmr'])} the overall FMR of UTKFace adults at "
                    f"the same threshold ({fmt_rate(ov['fmr'])}, {ov['false_matches']:,} of "
                    f"{ov['impostor_pairs']:,} pairs)"
                )
        out.append(text + ".")
    m = result.one_to_many
    if m:
        for t in m["thresholds"]:
            parts = ", ".join(
                f"{_plural(g)} {c['matched']} of {c['probes']} ({100 * c['rate']:.1f} %, 95 % CI "
                f"{100 * c['ci'][0]:.1f}–{100 * c['ci'][1]:.1f} %)"
                for g, c in t["by_probe_group"].items()
            )
            out.append(
                f"1:N (ACLU-style), similarity {t['similarity']:g}: {t['probes_matched']} of "
                f"{m['probes']} members of Congress had at least one false match among "
                f"{m['gallery_size']:,} unrelated faces ({t['false_match_candidates']:,} false "
                f"candidates): {parts}."
            )
        for t in m["thresholds"]:
            groups = {
                g: c
                for g, c in t["by_gallery_group"].items()
                if "unlabelled" not in g and c["gallery"] >= 100
            }
            if groups and any(c["matched"] for c in groups.values()):
                ranked = sorted(groups.items(), key=lambda kv: -kv[1]["faces_share"])
                out.append(
                    f"1:N, similarity {t['similarity']:g}: share of each gallery group returned "
                    "as a false candidate for at least one member (labelled groups of 100 or "
                    "more): "
                    + ", ".join(
                        f"{_plural(g)} {100 * c['faces_share']:.1f} % ({c['faces']} of "
                        f"{c['gallery']} faces, {c['matched']} candidate matches)"
                        for g, c in ranked
                    )
                    + "."
                )
    if result.calibration:
        from faceledger.fairness.calibration import summary_lines

        out += summary_lines(result.calibration)
    return out


def _count(row: dict[str, Any]) -> str:
    n, k = row["impostor_pairs"], row["false_matches"]
    if k == 0:
        return f"had no false match in {n:,} pairs (FMR < {fmt_rate(3 / n)}, rule of three)"
    return (
        f"had {k:,} false match{'es' if k > 1 else ''} in {n:,} pairs, FMR "
        f"{fmt_rate(row['fmr'])} (95 % CI {fmt_ci(row['fmr_ci'])})"
    )


def _pair_ci(result: AuditResult, ds: str, grouping: list[str], name: str, a: str, b: str) -> str:
    for ev in result.evaluations:
        if ev["dataset"] == ds and ev["grouping"] == grouping:
            ratios = ev["thresholds"][name]["ratios"]["fmr"]
            lowest = ratios["lowest_group"]
            if b == lowest:
                return fmt_ratio_ci(ratios["vs_lowest"][a]["ci"])
            ci = ev["thresholds"][name].get("pair_ratios", {}).get(f"{a}/{b}")
            return fmt_ratio_ci(ci) if ci else "not computed"
    return "–"


def _plural(group: str) -> str:
    words = {"Male": "men", "Female": "women"}
    parts = group.split()
    if parts and parts[0][:1].isdigit() and "-" in parts[0]:  # an age band: children
        kids = {"Male": "boys", "Female": "girls"}
        who = kids.get(parts[-1], "children") if len(parts) > 1 else "children"
        return f"{who} aged {parts[0]}"
    if parts and parts[-1] in words:
        rest = " ".join(parts[:-1])
        return (rest + " " if rest else "") + words[parts[-1]]
    return group


def _ds(name: str) -> str:
    return {
        "lfw": "LFW",
        "utkface": "UTKFace adults",
        "children": "UTKFace children",
        "congress": "Congress",
    }.get(name, name)


def _threshold_label(result: AuditResult, name: str) -> str:
    t = result.thresholds[name]
    if name.startswith("similarity="):
        return f"at similarity {t['similarity']:g}"
    return (
        f"at the threshold for overall FMR {t['target_fmr']:.0e} (similarity {t['similarity']:.2f})"
    )


def _primary(result: AuditResult, dataset: str) -> tuple[str, ...]:
    for ev in result.evaluations:
        if ev["dataset"] == dataset:
            return tuple(ev["grouping"])
    return ()


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def figures(result: AuditResult, save_dir: Path | None = None) -> list[dict[str, str]]:
    """DET curves and FMR against similarity, per dataset and group, as data URIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    ops = dict(result.thresholds)
    colours = plt.get_cmap("tab20").colors
    for key, curves in result.curves.items():
        ds, grouping = key.split("|")
        shown = {k: c for k, c in curves.items() if not c["small"]}
        hidden = [k for k, c in curves.items() if c["small"]]
        note = f" (small groups not drawn: {', '.join(hidden)})" if hidden else ""
        if not shown:
            continue  # every group is small: nothing worth a curve
        fig, ax = plt.subplots(figsize=(7, 4.9))
        for n, (label, c) in enumerate(shown.items()):
            fmr = np.where(c["fmr"] > 0, c["fmr"], np.nan)
            ax.plot(
                c["distance"],
                fmr,
                color=colours[(2 * n) % 20 + (n // 10) % 2],
                label=f"{label} ({c['subjects']:,} subj., {int(c['impostor_pairs']):,} pairs)",
            )
        for name, t in ops.items():
            ax.axvline(t["distance"], color="grey", lw=0.6, ls=":" if "fmr" in name else "--")
        # distance on the axis (similarity saturates near 100); similarity marked on top
        ax.set_xlim(0.62, 0.30)
        ax.set_yscale("log")
        ax.set_xlabel("distance threshold (stricter to the right)")
        top = ax.secondary_xaxis("top")
        marks = [50, 80, 90, 95, 99, 99.9, 99.99]
        top.set_xticks([distance_from_similarity(m) for m in marks], [f"{m:g}" for m in marks])
        top.set_xlabel("similarity", fontsize=8)
        top.tick_params(labelsize=7)
        ax.set_ylabel("FMR (impostor pairs within group)")
        ax.set_title(f"{_ds(ds)}: FMR against threshold by {grouping}")
        ax.grid(True, which="both", alpha=0.2)
        ax.legend(fontsize=6.5, ncol=2)
        out.append(
            {"title": f"{_ds(ds)}: FMR against threshold by {grouping}{note}", "src": _png(fig)}
        )
        if any(np.isfinite(c["fnmr"]).any() for c in shown.values()):
            fig, ax = plt.subplots(figsize=(7, 4.6))
            for n, (label, c) in enumerate(shown.items()):
                ok = np.isfinite(c["fnmr"]) & (c["fmr"] > 0) & (c["fnmr"] > 0)
                ax.plot(
                    c["fmr"][ok],
                    c["fnmr"][ok],
                    color=colours[(2 * n) % 20 + (n // 10) % 2],
                    label=label,
                )
            for name, t in ops.items():
                if "fmr" in name:
                    ax.axvline(t["target_fmr"], color="grey", lw=0.6, ls=":")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(1e-6, 1)
            ax.set_xlabel("FMR")
            ax.set_ylabel("FNMR (each subject counts once)")
            ax.set_title(f"{_ds(ds)}: DET by {grouping}")
            ax.grid(True, which="both", alpha=0.2)
            ax.legend(fontsize=7, ncol=2)
            out.append({"title": f"{_ds(ds)}: DET curves by {grouping}{note}", "src": _png(fig)})
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        for stale in save_dir.glob("figure-*.png"):
            stale.unlink()
        for k, f in enumerate(out):
            (save_dir / f"figure-{k + 1}.png").write_bytes(
                base64.b64decode(f["src"].split(",", 1)[1])
            )
    return out


def write(result: AuditResult, out_dir: Path, *, save_pngs: bool = True) -> dict[str, Path]:
    """Write every output; returns their paths."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "audit.json",
        "rates_csv": out_dir / "rates.csv",
        "cross_csv": out_dir / "cross_fmr.csv",
        "html": out_dir / "report.html",
    }
    data = _jsonable(result.to_json())
    data["summary"] = summary_sentences(result) + extra_sentences(result)
    paths["json"].write_text(json.dumps(data, indent=1, ensure_ascii=False))
    for key, rows in (("rates_csv", rate_rows(result)), ("cross_csv", cross_rows(result))):
        with paths[key].open("w", newline="") as fh:
            if rows:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    env = Environment(
        loader=PackageLoader("faceledger.fairness", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.filters.update(
        sim=fmt_sim, rate=fmt_rate, ci=fmt_ci, ratio=fmt_ratio, ratio_ci=fmt_ratio_ci
    )
    html = env.get_template("report.html.j2").render(
        r=result,
        data=data,
        summary=data["summary"],
        figures=figures(result, out_dir / "figures" if save_pngs else None),
        ds_name=_ds,
    )
    paths["html"].write_text(html)
    return paths
