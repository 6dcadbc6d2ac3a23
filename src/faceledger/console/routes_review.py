"""Signing in and out, the home page, and review: the queue, a lead, a verdict, its crops."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from faceledger.api.deps import _record_failed_key
from faceledger.console.sessions import COOKIE, SIGNIN_COOKIE
from faceledger.console.web import (
    SECURITY_HEADERS,
    SignInRequired,
    Who,
    check_csrf,
    faces,
    governance,
    page,
    redirect,
    render,
    sessions,
    who,
)
from faceledger.engine.similarity import false_match_bound
from faceledger.errors import FaceledgerError
from faceledger.governance.errors import AuthError

router = APIRouter(prefix="/console", include_in_schema=False)
MAX_NOTE = 2000


def _cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name, value, httponly=True, samesite="strict", path="/console",
        secure=request.url.scheme == "https",
    )  # fmt: skip


def _safe_next(target: str | None) -> str:
    """Only a console path of this site (never another origin) after signing in."""
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return "/console/"


@router.get("/signin")
def signin_form(request: Request, next: str | None = None, failed: int = 0) -> Response:  # noqa: A002
    token = secrets.token_urlsafe(32)
    response = render(
        request, "signin.html", signin_token=token, next=_safe_next(next), failed=bool(failed)
    )
    _cookie(request, response, SIGNIN_COOKIE, token)
    return response


@router.post("/signin")
def signin(
    request: Request,
    api_key: Annotated[str, Form(max_length=200)],
    signin_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console/",  # noqa: A002
) -> Response:
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, signin_token):
        return render(
            request, "error.html", status=403, code="csrf_refused", rule=None,
            message="The sign-in form expired or did not come from this console: reload it.",
        )  # fmt: skip
    key = api_key.strip()
    try:
        ctx = request.app.state.principals.authenticate(key, request_id=request.state.request_id)
    except AuthError as exc:
        _record_failed_key(request, key, exc)  # recorded like a failed API request
        return redirect(f"/console/signin?failed=1&next={quote(_safe_next(next), safe='')}")
    governance(request).whoami(ctx)  # the sign-in is a record in the audit log
    sid, _ = sessions(request).create(key, ctx.principal_id)
    response = redirect(_safe_next(next))
    _cookie(request, response, COOKIE, sid)
    response.delete_cookie(SIGNIN_COOKIE, path="/console")
    return response


@router.post("/signout")
@page
def signout(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    sessions(request).drop(me.sid)
    response = redirect("/console/signin")
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/")
@page
def home(request: Request) -> Response:
    me = who(request)
    return render(request, "home.html", me=me)


@router.get("/review")
@page
def queue(request: Request) -> Response:
    me = who(request)
    g = governance(request).pending_leads(me.ctx)
    return render(request, "queue.html", me=me, leads=g.result, decision=g.decision)


def _lead_view(
    request: Request, me: Who, lead_id: str, *, done: str | None = None,
    error: str | None = None, status: int = 200,
) -> Response:  # fmt: skip
    g = governance(request).get_lead(me.ctx, lead_id)
    lead = g.result
    reviewers = {r.reviewer_id for r in lead.reviews}
    own = lead.requester_id == me.ctx.principal_id
    can_review = (
        "reviewer" in me.roles
        and lead.status == "pending"
        and not own
        and me.ctx.principal_id not in reviewers
    )
    return render(
        request, "lead.html", me=me, lead=lead, own=own, can_review=can_review,
        reviewed=me.ctx.principal_id in reviewers, done=done, error=error, status=status,
        decision=g.decision, odds=_odds(lead.search),
    )  # fmt: skip


def _odds(search: dict | None) -> dict | None:
    """What a candidate is worth: the calibrated false-match rate bounding the search's
    threshold, and the false candidates to expect from a gallery of its size."""
    if not search or search.get("threshold") is None:
        return None
    bound = false_match_bound(float(search["threshold"]))
    if bound is None:
        return {"similarity": None}
    similarity, rate = bound
    gallery = search.get("gallery_size")
    return {
        "similarity": similarity, "one_in": round(1 / rate),
        "expected": None if gallery is None else gallery * rate,
    }  # fmt: skip


@router.get("/leads/{lead_id}")
@page
def lead_page(request: Request, lead_id: str, done: str | None = None) -> Response:
    me = who(request)
    return _lead_view(request, me, lead_id, done=done if done in ("confirm", "reject") else None)


@router.post("/leads/{lead_id}/review")
@page
def review(
    request: Request,
    lead_id: str,
    verdict: Annotated[str, Form(pattern="^(confirm|reject)$")],
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    if not note.strip():
        message = "Write a note: what in the faces made you confirm or reject this lead."
        return _lead_view(request, me, lead_id, error=message, status=400)
    governance(request).review(me.ctx, lead_id, verdict, note)
    return redirect(f"/console/leads/{lead_id}?done={verdict}")


NO_CROP = (Path(__file__).parent / "static" / "no-crop.svg").read_bytes()


def _jpeg(request: Request, fetch) -> Response:  # noqa: ANN001
    """A crop, or (not kept, not allowed, not signed in) a neutral "no crop" picture: the
    page stays whole and the refusal is in the audit log."""
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    try:
        data = fetch(who(request).ctx).result
    except (FaceledgerError, SignInRequired):
        return Response(NO_CROP, media_type="image/svg+xml", headers=headers)
    return Response(data, media_type="image/jpeg", headers=headers)


@router.get("/leads/{lead_id}/crops/probe/{probe}")
def probe_crop(request: Request, lead_id: str, probe: int) -> Response:
    return _jpeg(request, lambda ctx: faces(request).lead_crop(ctx, lead_id, probe=probe))


@router.get("/leads/{lead_id}/crops/faces/{face_id}")
def candidate_crop(request: Request, lead_id: str, face_id: str) -> Response:
    return _jpeg(request, lambda ctx: faces(request).lead_crop(ctx, lead_id, face_id=face_id))


@router.get("/collections/{collection_id}/faces/{face_id}/crop")
def face_crop(request: Request, collection_id: str, face_id: str) -> Response:
    return _jpeg(request, lambda ctx: faces(request).face_crop(ctx, collection_id, face_id))
