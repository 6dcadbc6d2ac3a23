"""Fairness audits on file in a data folder: ``<data dir>/fairness/<model id>/*.json``.

Written by ``faceledger fairness audit`` / ``fairness file`` (``fairness.onfile.summarize`` makes
the summary); read by the service for every 1:N request (``governance.error_rates``). Kept free
of the audit's heavy imports so that opening a deployment stays fast.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

FORMAT = 1
GRID = (50.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 99.95, 99.99)
"""Similarity thresholds at which an audit on file gives its rates."""
AUDITS_DIR = "fairness"


def file_summary(data_dir: Path, summary: dict[str, Any]) -> Path:
    """File ``summary`` for its model in the data folder; returns where."""
    _check(summary)
    Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)  # as the data folder is made
    folder = Path(data_dir) / AUDITS_DIR / _safe(summary["model_id"])
    folder.mkdir(parents=True, exist_ok=True)
    stamp = summary["audited_at"].replace(":", "").replace("-", "")
    path = folder / f"{stamp}-{summary['audit_id']}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(path)
    return path


def latest(
    data_dir: Path, model_id: str, scale: tuple[float, float] | None = None
) -> dict[str, Any] | None:
    """The newest audit on file for ``model_id`` (by its ``audited_at``), or None. With
    ``scale`` (the distances of similarity 90 and 99 the model has now), an audit measured on
    another scale (it records its own) is not used: its rates are at other distances."""
    folder = Path(data_dir) / AUDITS_DIR / _safe(model_id)
    best: dict[str, Any] | None = None
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            body = json.loads(path.read_text())
            _check(body)
        except (OSError, ValueError):
            continue  # unreadable or not a summary: never used
        measured = body.get("scale")
        if scale is not None and measured is not None and not _same(scale, measured):
            continue
        if body["model_id"] == model_id and (
            best is None or body["audited_at"] > best["audited_at"]
        ):
            best = body
    return best


def _check(summary: dict[str, Any]) -> None:
    if not isinstance(summary, dict) or summary.get("format") != FORMAT:
        raise ValueError("not an audit summary of format 1")
    for key in ("model_id", "audited_at", "audit_id", "grid"):
        if key not in summary:
            raise ValueError(f"audit summary without {key!r}")


def _safe(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", model_id)


def _same(scale: tuple[float, float], measured: list[float]) -> bool:
    if len(measured) != 2:
        return False
    return all(abs(a - b) < 2e-4 for a, b in zip(scale, measured, strict=True))  # both rounded
