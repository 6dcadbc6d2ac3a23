"""Response model of ``POST /v1/evaluations`` (independent testing): the rates of the deployed
model on the uploaded set, per declared group, with 95 % confidence intervals. Built on the
shared base (exactly these fields, no others)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from faceledger.api.models import DecisionField, Model, omitted

__all__ = ["EvaluationResponse"]

Interval = list[float] | None


class VerificationRow(Model):
    """One group at one threshold (the fairness audit's row)."""

    group: str
    subjects: int
    impostor_pairs: int = Field(description="Pairs of different subjects, both in the group.")
    false_matches: int
    fmr: float | None
    fmr_ci: Interval = Field(description="95 % CI, bootstrap resampling subjects.")
    fmr_upper_if_zero: float | None = Field(description="3 / pairs when no false match.")
    genuine_pairs: int = Field(description="Pairs of images of the same subject in the group.")
    false_non_matches: int
    fnmr: float | None = Field(description="Mean over subjects of their share of misses.")
    fnmr_ci: Interval
    small_fmr: bool = Field(description="Fewer than 30 subjects or 1,000 pairs: unstable.")
    small_fnmr: bool


class OverallRates(Model):
    impostor_pairs: int
    false_matches: int
    fmr: float | None
    genuine_pairs: int
    false_non_matches: int
    fnmr: float | None
    fnmr_pooled_pairs: float | None


class VerificationGrouping(Model):
    grouping: list[str] = Field(description="The declared group columns of these rows.")
    thresholds: dict[str, list[VerificationRow]] = Field(description="similarity=X → rows.")


class Verification(Model):
    pairs: Literal["all", "listed"] = Field(
        description="all: every pair of the manifest; listed: the pairs of pairs.csv."
    )
    genuine_pairs: int
    impostor_pairs: int
    overall: dict[str, OverallRates]
    by_group: list[VerificationGrouping]


class IdentificationRates(Model):
    mated_probes: int = Field(description="Probes whose subject is in the gallery.")
    misses: int
    fnir: float | None = Field(description="Share of mated probes whose mate is not returned.")
    fnir_ci: Interval
    non_mated_probes: int
    false_positives: int
    fpir: float | None = Field(description="Share of non-mated probes with any candidate.")
    fpir_ci: Interval


class IdentificationGroup(Model):
    subjects: int
    thresholds: dict[str, IdentificationRates]


class IdentificationGrouping(Model):
    grouping: list[str]
    groups: dict[str, IdentificationGroup]


class Identification(Model):
    gallery_faces: int
    probes: int
    mated_probes: int
    non_mated_probes: int
    max_results: int = Field(description="The deployed cap on candidates per search.")
    overall: dict[str, IdentificationRates]
    by_group: list[IdentificationGrouping]


class EvaluationResponse(Model):
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"verification", "identification"})

    mode: Literal["verification", "identification"]
    model_id: str = Field(description="The deployed model that was measured.")
    thresholds: list[float] = Field(description="Similarities measured (default: deployed).")
    images: int
    subjects: int
    group_columns: list[str]
    failures_to_enrol: dict[str, list[str]] = Field(
        description="Manifest paths left out, by reason (no_face, corrupt_image, ...)."
    )
    bootstrap: int
    archive_sha256: str
    manifest_sha256: str
    pairs_sha256: str | None = Field(description="SHA-256 of pairs.csv when the set has one.")
    retained: str = Field(description="What the server kept of the upload: nothing.")
    verification: Verification | None = omitted("1:1 rates (mode verification).")
    identification: Identification | None = omitted("1:N rates (mode identification).")
    decision: DecisionField
