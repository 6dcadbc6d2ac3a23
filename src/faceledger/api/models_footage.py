"""Response models of the footage-request routes, on the same base as
:mod:`faceledger.api.models` (exactly these fields, no others)."""

from __future__ import annotations

from pydantic import Field

from faceledger.api.models import DecisionField, Model
from faceledger.api.models_video import VideoJobSummary

__all__ = [
    "CameraResponse",
    "FootageInbox",
    "FootageRequestResponse",
    "FootageSearchResponse",
    "ShareResponse",
]


class Camera(Model):
    camera_id: str
    name: str
    lat: float
    lon: float
    created_at: str


class CameraResponse(Model):
    camera: Camera
    decision: DecisionField


class Window(Model):
    start: str
    end: str


class Area(Model):
    lat: float
    lon: float
    radius_m: float


class FootageRequest(Model):
    """What an agency asks the camera owners of an area for."""

    request_id: str
    agency_id: str = Field(description="The organization that asks.")
    case_ref: str
    purpose: str
    reason: str = Field(description="Why, in plain language.")
    event_type: str | None
    window: Window
    area: Area
    created_at: str
    expires_at: str = Field(description="After this, nothing shared for it can be searched.")


class FootageRequestResponse(Model):
    footage_request: FootageRequest
    decision: DecisionField


class Share(Model):
    """An owner's answer for one camera: a shared clip, a decline, a revocation."""

    share_id: str
    request_id: str
    camera_id: str | None
    status: str = Field(description="`shared`, `declined`, `revoked` or `searched`.")
    clip_sha256: str | None
    clip_start: str | None = Field(
        None, description="When the clip's first frame was recorded (ISO 8601)."
    )
    created_at: str
    updated_at: str


class ShareResponse(Model):
    share: Share
    decision: DecisionField


class InboxItem(FootageRequest):
    cameras: list[str] = Field(description="The owner's cameras in the area.")
    answers: list[Share] = Field(description="The owner's own answers to it.")


class FootageInbox(Model):
    requests: list[InboxItem]
    next_token: str | None = Field(
        None, description="Pass as `next_token` for the next page; null on the last page."
    )
    decision: DecisionField


class FootageSearchResponse(Model):
    jobs: list[VideoJobSummary] = Field(description="One video search job per shared clip.")
    decision: DecisionField
