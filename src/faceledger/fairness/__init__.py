"""Demographic fairness audit, NIST FRVT Part 3 style (issue 5).

Measures false match and false non-match rates per demographic group at one global threshold,
with subject-level bootstrap confidence intervals, on LFW, UTKFace-style folders, a manifest
CSV, children's faces, and a 1:N search of Congress portraits (the ACLU experiment)::

    from faceledger.fairness import audit, write_report
    result = audit(["lfw", "utkface", "children", "congress"], bootstrap=200)
    write_report(result, Path("audit-out"))

Demographic labels come only from the datasets' label files: faceledger never infers them.
"""

from faceledger.fairness.audit import (
    DEFAULT_DATASETS,
    PRODUCT_SIMILARITIES,
    TARGET_FMRS,
    AuditResult,
    audit,
)
from faceledger.fairness.datasets import AuditSet, load, load_manifest
from faceledger.fairness.metrics import MIN_PAIRS, MIN_SUBJECTS
from faceledger.fairness.report import write as write_report

__all__ = [
    "DEFAULT_DATASETS",
    "MIN_PAIRS",
    "MIN_SUBJECTS",
    "PRODUCT_SIMILARITIES",
    "TARGET_FMRS",
    "AuditResult",
    "AuditSet",
    "audit",
    "load",
    "load_manifest",
    "write_report",
]
