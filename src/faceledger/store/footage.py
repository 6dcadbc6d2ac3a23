"""Footage requests as the store keeps them: cameras that owners registered, the requests an
agency opened for a case (a time window and an area), and each owner's answer per camera
(a shared clip, a decline, a revocation). Every write joins the caller's transaction."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

SHARE_STATES = ("shared", "declined", "revoked", "searched")


@dataclass(frozen=True, slots=True)
class Camera:
    camera_id: str
    tenant_id: str
    name: str
    lat: float
    lon: float
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("tenant_id")
        return out


@dataclass(frozen=True, slots=True)
class FootageRequest:
    request_id: str
    tenant_id: str
    """The agency's organization."""
    principal_id: str
    case_ref: str
    purpose: str
    reason: str
    event_type: str | None
    start_at: str
    end_at: str
    lat: float
    lon: float
    radius_m: float
    created_at: str
    expires_at: str

    def covers(self, lat: float, lon: float) -> bool:
        return distance_m(self.lat, self.lon, lat, lon) <= self.radius_m

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "agency_id": self.tenant_id,
            "case_ref": self.case_ref,
            "purpose": self.purpose,
            "reason": self.reason,
            "event_type": self.event_type,
            "window": {"start": self.start_at, "end": self.end_at},
            "area": {"lat": self.lat, "lon": self.lon, "radius_m": self.radius_m},
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class Share:
    share_id: str
    request_id: str
    owner_tenant_id: str
    camera_id: str | None
    status: str
    clip_sha256: str | None
    spool: str | None
    created_at: str
    updated_at: str
    clip_start: str | None = None
    """When the clip's first frame was recorded (declared by the owner or from the container)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "share_id": self.share_id,
            "request_id": self.request_id,
            "camera_id": self.camera_id,
            "status": self.status,
            "clip_sha256": self.clip_sha256,
            "clip_start": self.clip_start,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


class FootageStore(ABC):
    """The footage part of a store (implemented by ``SQLiteStore``)."""

    @abstractmethod
    def add_camera(self, camera: Camera) -> Camera: ...

    @abstractmethod
    def cameras(self, tenant_id: str) -> list[Camera]: ...

    @abstractmethod
    def add_footage_request(self, request: FootageRequest) -> FootageRequest: ...

    @abstractmethod
    def get_footage_request(self, request_id: str) -> FootageRequest:
        """NotFoundError when there is none (any organization: owners read agencies')."""

    @abstractmethod
    def footage_requests(self, tenant_id: str) -> list[FootageRequest]:
        """The requests an agency opened, newest first (expired ones too)."""

    @abstractmethod
    def open_footage_requests(self, now: str) -> list[FootageRequest]:
        """Requests not expired at ``now``, by (created_at, request_id)."""

    @abstractmethod
    def inbox_page_token(self, tenant_id: str, last: FootageRequest) -> str:
        """A tenant-bound token for the inbox page after ``last``."""

    @abstractmethod
    def inbox_page_after(self, tenant_id: str, token: str | None) -> tuple[str, str]:
        """(created_at, request_id) the token's page ended at; ("", "") for none."""

    @abstractmethod
    def add_share(self, share: Share) -> Share: ...

    @abstractmethod
    def get_share(self, share_id: str) -> Share: ...

    @abstractmethod
    def shares(self, request_id: str, *, owner_tenant_id: str | None = None) -> list[Share]: ...

    @abstractmethod
    def set_share_status(self, share_id: str, status: str, *, at: str) -> Share: ...
