"""Write the accountability report: ``report.json`` and a self-contained ``report.html``
(figures embedded as base64 PNG data URIs; no script, stylesheet or image is fetched, so it
reads offline and can be published as one file)."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

from faceledger.fairness.report import fmt_ci, fmt_rate

COLOURS = {"allowed": "#2e7d32", "denied": "#c62828"}


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _split_bars(rows: list[dict[str, Any]], title: str, key: str = "name") -> str | None:
    """Horizontal stacked bars: allowed and denied per row."""
    import matplotlib.pyplot as plt

    if not rows:
        return None
    rows = rows[:20]
    labels = [str(r[key]) for r in rows][::-1]
    a = [r["allowed"] for r in rows][::-1]
    d = [r["denied"] for r in rows][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.32 * len(rows)))
    ax.barh(labels, a, color=COLOURS["allowed"], label="allowed")
    ax.barh(labels, d, left=a, color=COLOURS["denied"], label="denied")
    ax.set_title(title)
    ax.set_xlabel("requests")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, axis="x", alpha=0.2)
    return _png(fig)


def _data_bars(report: dict[str, Any]) -> str | None:
    import matplotlib.pyplot as plt

    data = report["data"]
    labels = ["enrolled"] + [r["route"] for r in data["deleted_by_route"]]
    values = [data["enrolled_faces"]] + [r["faces"] for r in data["deleted_by_route"]]
    if not any(values):
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    colours = ["#1565c0"] + ["#6d4c41"] * (len(values) - 1)
    ax.barh(labels[::-1], values[::-1], color=colours[::-1])
    ax.set_title("Faces enrolled and deleted in the period, by route")
    ax.set_xlabel("faces")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, axis="x", alpha=0.2)
    return _png(fig)


def _review_bars(report: dict[str, Any]) -> str | None:
    import matplotlib.pyplot as plt

    r = report["review"]
    labels = ["released (decided in period)", "rejected (decided in period)", "pending at end"]
    values = [r["released"], r["rejected"], r["pending_at_end"]]
    if not any(values) and not r["leads_opened"]:
        return None
    fig, ax = plt.subplots(figsize=(5, 2.2))
    ax.barh(labels[::-1], values[::-1], color=["#9e9e9e", "#c62828", "#2e7d32"])
    ax.set_title(f"Leads held for human review: {r['leads_opened']} opened")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, axis="x", alpha=0.2)
    return _png(fig)


def _fairness_plot(table: dict[str, Any]) -> str | None:
    """FMR per group with its 95 % CI (log scale); groups without an error show the
    rule-of-three bound as an open marker."""
    import matplotlib.pyplot as plt

    rows = table["rows"]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.35 * len(rows)))
    for y, row in enumerate(rows):
        colour = "#9e9e9e" if row["small_fmr"] else "#1565c0"
        if row["false_matches"] and row["fmr"]:
            lo, hi = row["fmr_ci"] or (row["fmr"], row["fmr"])
            if lo <= 0:  # the interval reaches 0: drawn to the left edge, open-ended
                lo = row["fmr"] / 10
                ax.plot(lo, y, "<", color=colour)
            ax.plot([lo, hi], [y, y], color=colour, lw=2)
            ax.plot(row["fmr"], y, "o", color=colour)
        elif row.get("fmr_upper_if_zero"):
            ax.plot(row["fmr_upper_if_zero"], y, "<", mfc="none", color=colour)
    ax.set_yticks(range(len(rows)), [r["group"] for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(
        "false match rate, 95 % CI (◀: the interval reaches 0; open marker: upper bound "
        "when no false match was seen)"
    )
    ax.set_title(
        f"{table['dataset_name']}: FMR by {' × '.join(table['grouping'])} at similarity "
        f"{float(table['similarity']):.4g}"
    )
    ax.grid(True, which="both", axis="x", alpha=0.2)
    return _png(fig)


def figures(report: dict[str, Any]) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    uses = report["uses"]
    return {
        "by_purpose": _split_bars(uses["by_purpose"], "Face-service requests by declared purpose"),
        "by_organization": _split_bars(
            uses["by_organization"], "Face-service requests by organization"
        ),
        "by_rule": _split_bars(
            report["decisions_by_rule"], "Every request by the policy rule that decided it", "rule"
        ),
        "review": _review_bars(report),
        "data": _data_bars(report),
        "fairness": [
            {"title": f"{t['dataset_name']} at {t['threshold']}", "src": _fairness_plot(t)}
            for t in report["fairness"].get("tables", [])
        ],
    }


def fmt_hours(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x < 1:
        return f"{x * 60:.0f} min"
    return f"{x:.1f} h" if x < 48 else f"{x / 24:.1f} days"


def write(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """``report.json`` and ``report.html`` in ``out_dir``; returns their paths."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "html": out_dir / "report.html"}
    paths["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    env = Environment(
        loader=PackageLoader("faceledger.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.filters.update(rate=fmt_rate, ci=fmt_ci, hours=fmt_hours)
    html = env.get_template("accountability.html.j2").render(r=report, fig=figures(report))
    paths["html"].write_text(html, encoding="utf-8")
    return paths
