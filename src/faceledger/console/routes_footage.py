"""Footage requests in the console: camera owners register cameras, read the requests that
cover them and share a clip, decline or revoke; agencies open requests, see how many clips were
shared (never by whom), search them and follow the search jobs (results held for review open
through the review pages). Each page calls one service method of ``service.footage`` or
``service.footage_lists`` (``docs/console.md``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from faceledger.console.routes_operator import Text, _purposes
from faceledger.console.web import check_csrf, declared, faces, page, redirect, render, who
from faceledger.errors import InvalidRequestError

router = APIRouter(prefix="/console", include_in_schema=False)
MAX_CLIP = 200 * 1024 * 1024
Number = Annotated[str, Form(max_length=40)]


def _when(value: str, name: str) -> datetime:
    """A date and time from a form, in UTC unless it names its zone."""
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(f"{name}: give a date and time, e.g. 2026-05-01T08:00") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _number(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InvalidRequestError(f"{name} must be a number, e.g. 51.5005") from None


# ------------------------------------------------------------------------------ camera owners
@router.get("/cameras")
@page
def cameras(request: Request) -> Response:
    me = who(request)
    g = faces(request).list_cameras(me.ctx)
    return render(request, "cameras.html", me=me, cameras=g.result)


@router.post("/cameras")
@page
def register_camera(
    request: Request, name: Text, lat: Number, lon: Number, csrf: Text = ""
) -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    faces(request).register_camera(me.ctx, name, _number(lat, "lat"), _number(lon, "lon"))
    return redirect("/console/cameras")


@router.get("/footage/inbox")
@page
def inbox(request: Request, next_token: str | None = None) -> Response:
    me = who(request)
    g = faces(request).footage_inbox(me.ctx, limit=20, next_token=next_token)
    return render(request, "footage_inbox.html", me=me, inbox=g.result)


@router.post("/footage/{request_id}/share")
@page
def share(
    request: Request,
    request_id: str,
    camera_id: Text,
    clip: Annotated[UploadFile, File()],
    clip_start: Text = "",
    csrf: Text = "",
) -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    start = _when(clip_start, "clip start") if clip_start.strip() else None
    faces(request).share_footage(
        me.ctx, request_id, camera_id, clip.file.read(MAX_CLIP + 1), clip_start=start
    )
    return redirect("/console/footage/inbox")


@router.post("/footage/{request_id}/decline")
@page
def decline(request: Request, request_id: str, csrf: Text = "") -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    faces(request).decline_footage(me.ctx, request_id)
    return redirect("/console/footage/inbox")


@router.post("/footage/shares/{share_id}/revoke")
@page
def revoke(request: Request, share_id: str, csrf: Text = "") -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    faces(request).revoke_share(me.ctx, share_id)
    return redirect("/console/footage/inbox")


# ------------------------------------------------------------------------------ agencies
@router.get("/footage/requests")
@page
def requests(request: Request) -> Response:
    me = who(request)
    g = faces(request).my_footage_requests(me.ctx)
    return render(
        request, "footage_requests.html", me=me, requests=g.result, purposes=_purposes(request),
        form={},
    )  # fmt: skip


@router.post("/footage/requests")
@page
def open_request(
    request: Request,
    start: Text,
    end: Text,
    lat: Number,
    lon: Number,
    radius_m: Number,
    reason: Annotated[str, Form(max_length=2000)],
    event_type: Text = "",
    purpose: Text = "",
    case_ref: Text = "",
    authorization_ref: Text = "",
    authorization_date: Text = "",
    csrf: Text = "",
) -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    ctx = declared(me.ctx, purpose, case_ref, authorization_ref, authorization_date)
    faces(request).open_footage_request(
        ctx, start=_when(start, "start"), end=_when(end, "end"), lat=_number(lat, "lat"),
        lon=_number(lon, "lon"), radius_m=_number(radius_m, "radius"), reason=reason,
        event_type=event_type.strip() or None,
    )  # fmt: skip
    return redirect("/console/footage/requests")


@router.post("/footage/requests/{request_id}/search")
@page
def search(
    request: Request,
    request_id: str,
    collection_id: Text,
    min_face_size: Annotated[int, Form(ge=20, le=1000)] = 40,
    purpose: Text = "",
    case_ref: Text = "",
    authorization_ref: Text = "",
    authorization_date: Text = "",
    csrf: Text = "",
) -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    ctx = declared(me.ctx, purpose, case_ref, authorization_ref, authorization_date)
    faces(request).search_footage(
        ctx, request_id, collection_id.strip(), min_face_size=min_face_size
    )
    return redirect("/console/footage/requests")


@router.get("/video/{job_id}")
@page
def video_job(request: Request, job_id: str) -> Response:
    me = who(request)
    g = faces(request).get_video_search(me.ctx, job_id, limit=200)
    return render(request, "video_job.html", me=me, page=g.result.to_dict())
