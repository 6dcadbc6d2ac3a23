"""The response model of a face crop (``faces.crop``, ``review.crop``, ``leads.crop``)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from faceledger.api.models import DecisionField, Model, omitted


class Crop(Model):
    """A face crop (a small JPEG) for review; reading it is recorded in the audit log."""

    lead_id: str | None = omitted("The lead it belongs to, if read from one.")
    face_id: str | None = omitted("The enrolled face it shows.")
    probe: int | None = omitted("The lead's searched face it shows (0: the first).")
    content_type: Literal["image/jpeg"]
    sha256: str
    image_base64: str = Field(description="The JPEG, base64-encoded.")
    decision: DecisionField

    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"lead_id", "face_id", "probe"})
