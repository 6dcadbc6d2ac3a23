"""Footage requests: camera owners register cameras and answer an agency's requests; the agency
searches only what was shared with it, for that case, until the request expires."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from pydantic import Field

from faceledger.api.deps import Principal
from faceledger.api.models_footage import (
    CameraResponse,
    FootageInbox,
    FootageRequestResponse,
    FootageSearchResponse,
    ShareResponse,
)
from faceledger.api.routes.common import (
    COMMON_ERRORS,
    CONFLICT,
    ID_PATTERN,
    NOT_FOUND,
    TOO_LARGE,
    Body,
    faces,
    with_decision,
)
from faceledger.api.routes.video import VIDEO_ERRORS
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD
from faceledger.service.faces import FaceService
from faceledger.service.footage import MAX_INBOX_PAGE, MAX_OPEN_HOURS, MAX_RADIUS_M

router = APIRouter(prefix="/v1", tags=["footage requests"])
Service = Annotated[FaceService, Depends(faces)]
RequestId = Annotated[str, Path(pattern=r"^fr_[0-9a-f]{16}$", description="Footage request id.")]
ShareId = Annotated[str, Path(pattern=r"^shr_[0-9a-f]{16}$", description="Share id.")]


class NewCamera(Body):
    name: str = Field(min_length=1, max_length=200)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class NewFootageRequest(Body):
    start: datetime = Field(description="Start of the time window (ISO 8601, with a zone).")
    end: datetime = Field(description="End of the window: at most 12 hours after its start.")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=MAX_RADIUS_M, description="Radius of the area, metres.")
    reason: str = Field(min_length=1, max_length=2000, description="Why, in plain language.")
    event_type: str | None = Field(None, max_length=64, description="What happened there.")
    expires_hours: float = Field(72, gt=0, le=MAX_OPEN_HOURS)


class FootageSearch(Body):
    collection_id: str = Field(pattern=ID_PATTERN, max_length=255)
    threshold: float = Field(DEFAULT_SEARCH_THRESHOLD, ge=0, lt=100)
    max_results: int = Field(10, ge=1, le=4096)
    sample_fps: float = Field(2.0, ge=0.1, le=30)
    min_face_size: int = Field(40, ge=20, le=1000)


@router.post("/cameras", status_code=201, response_model=CameraResponse,
             summary="Camera owners: register a camera and where it is.",
             responses={**COMMON_ERRORS, **TOO_LARGE})  # fmt: skip
def register_camera(body: NewCamera, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.register_camera(ctx, body.name, body.lat, body.lon)
    return with_decision(g, {"camera": g.result.to_dict()})


@router.post("/footage-requests", status_code=201, response_model=FootageRequestResponse,
             summary="Agencies: ask the camera owners of an area for footage of a time window.",
             responses={**COMMON_ERRORS, **TOO_LARGE})  # fmt: skip
def open_request(body: NewFootageRequest, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.open_footage_request(
        ctx, start=body.start, end=body.end, lat=body.lat, lon=body.lon,
        radius_m=body.radius_m, reason=body.reason, event_type=body.event_type,
        expires_hours=body.expires_hours,
    )  # fmt: skip
    return with_decision(g, {"footage_request": g.result.to_dict()})


@router.get("/footage-requests/inbox", response_model=FootageInbox,
            summary="Camera owners: the open requests whose area covers one of their cameras.",
            responses=COMMON_ERRORS)  # fmt: skip
def inbox(
    ctx: Principal,
    svc: Service,
    limit: Annotated[int, Query(ge=1, le=MAX_INBOX_PAGE, description="Requests per page.")] = 50,
    next_token: Annotated[
        str | None, Query(max_length=512, description="`next_token` of the previous page.")
    ] = None,
) -> dict[str, Any]:
    g = svc.footage_inbox(ctx, limit=limit, next_token=next_token)
    return with_decision(g, g.result)


@router.post("/footage-requests/{request_id}/shares", status_code=201,
             response_model=ShareResponse, summary="Camera owners: share a clip of one camera.",
             responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **VIDEO_ERRORS})  # fmt: skip
def share(
    request_id: RequestId,
    video: Annotated[UploadFile, File(description="The clip: MP4, MOV, MKV or WebM.")],
    camera_id: Annotated[str, Form(pattern=r"^cam_[0-9a-f]{16}$")],
    ctx: Principal,
    svc: Service,
    clip_start: Annotated[
        datetime | None,
        Form(
            description="When the clip's first frame was recorded (ISO 8601, with a zone); "
            "default: the file's creation_time. Only the part inside the request's window "
            "is ever searched."
        ),
    ] = None,
) -> dict[str, Any]:
    g = svc.share_footage(ctx, request_id, camera_id, video.file, clip_start=clip_start)
    return with_decision(g, {"share": g.result.to_dict()})


@router.post("/footage-requests/{request_id}/decline", response_model=ShareResponse,
             summary="Camera owners: decline (the agency is not told).",
             responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT})  # fmt: skip
def decline(request_id: RequestId, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.decline_footage(ctx, request_id)
    return with_decision(g, {"share": g.result.to_dict()})


@router.delete("/footage-shares/{share_id}", response_model=ShareResponse,
               summary="Camera owners: revoke a share that has not been searched yet.",
               responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT})  # fmt: skip
def revoke(share_id: ShareId, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.revoke_share(ctx, share_id)
    return with_decision(g, {"share": g.result.to_dict()})


@router.post("/footage-requests/{request_id}/searches", status_code=202,
             response_model=FootageSearchResponse,
             summary="Agencies: search the clips shared for this request (one job each).",
             responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **TOO_LARGE})  # fmt: skip
def search(
    request_id: RequestId, body: FootageSearch, ctx: Principal, svc: Service
) -> dict[str, Any]:
    g = svc.search_footage(
        ctx, request_id, body.collection_id, threshold=body.threshold,
        max_results=body.max_results, sample_fps=body.sample_fps,
        min_face_size=body.min_face_size,
    )  # fmt: skip
    return with_decision(g, {"jobs": [j.summary() for j in g.result]})
