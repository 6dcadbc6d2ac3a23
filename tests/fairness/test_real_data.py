"""The audit end to end on real faces: a small manifest of Congress portraits (< 60 s)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from faceledger.datasets import data_root

ROOT = data_root()
CONGRESS = ROOT / "congress_current" if ROOT else None
pytestmark = pytest.mark.skipif(
    CONGRESS is None or not (CONGRESS / "labels.csv").exists(),
    reason="shared data (congress_current) not present: set FACELEDGER_DATA",
)


def test_manifest_audit_on_congress_portraits(tmp_path: Path, monkeypatch):
    from faceledger.fairness import audit, write_report

    monkeypatch.setenv("FACELEDGER_CACHE_DIR", str(tmp_path / "cache"))
    with (CONGRESS / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    # 46 per gender: 1,035 impostor pairs each, just above the small-group limits
    women = [r for r in rows if r["gender"] == "F"][:46]
    men = [r for r in rows if r["gender"] == "M"][:46]
    manifest = tmp_path / "congress.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "subject", "gender", "party"])
        for r in women + men:
            w.writerow([str(CONGRESS / r["image"]), r["icpsr"], r["gender"], r["party"][:1]])
    result = audit([str(manifest)], bootstrap=20, progress=False, log=lambda m: None)
    paths = write_report(result, tmp_path / "out", save_pngs=False)
    data = json.loads(paths["json"].read_text())
    ev = next(e for e in data["evaluations"] if e["grouping"] == ["gender"])
    rows = {r["group"]: r for r in ev["thresholds"]["similarity=99"]["rows"]}
    assert rows["Female"]["impostor_pairs"] == 1035 and rows["Male"]["impostor_pairs"] == 1035
    assert not rows["Female"]["small_fmr"] and rows["Female"]["subjects"] == 46
    assert rows["Female"]["fmr_ci"] is not None
    party = next(e for e in data["evaluations"] if e["grouping"] == ["gender", "party"])
    small = [r for r in party["thresholds"]["similarity=99"]["rows"] if r["subjects"] < 30]
    assert small and all(r["small_fmr"] for r in small)  # flagged, never a bare rate
    html = paths["html"].read_text()
    assert "data:image/png;base64," in html and "<script src" not in html
    assert paths["rates_csv"].read_text().startswith("dataset,grouping,threshold")
