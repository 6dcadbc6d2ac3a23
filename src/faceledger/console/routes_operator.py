"""Operators: collections, their faces with crops, enrolment, search by upload (with the
decision and its rule), and their own leads with the results once released."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from faceledger.console.web import (
    check_csrf,
    declared,
    faces,
    governance,
    page,
    redirect,
    render,
    who,
)
from faceledger.governance import vocabulary
from faceledger.service.unit import PolicyDenied, ResultsWithheld

router = APIRouter(prefix="/console", include_in_schema=False)
Text = Annotated[str, Form(max_length=200)]
MAX_UPLOAD = 10 * 1024 * 1024


def _purposes(request: Request) -> list[str]:
    known = request.app.state.policy.policy.document.purposes
    return sorted(known) if known is not None else list(vocabulary.PURPOSES)


@router.get("/collections")
@page
def collections(request: Request) -> Response:
    me = who(request)
    g = faces(request).list_collections(me.ctx, limit=1000)
    return render(request, "collections.html", me=me, collections=g.result.items)


@router.post("/collections")
@page
def create_collection(
    request: Request,
    collection_id: Text,
    keep_crops: Annotated[str, Form(max_length=10)] = "",
    csrf: Text = "",
) -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    faces(request).create_collection(me.ctx, collection_id.strip(), keep_crops=bool(keep_crops))
    return redirect(f"/console/collections/{collection_id.strip()}")


@router.get("/collections/{collection_id}")
@page
def collection(request: Request, collection_id: str, next_token: str | None = None) -> Response:
    me = who(request)
    svc = faces(request)
    info = svc.describe_collection(me.ctx, collection_id).result
    listed = svc.list_faces(me.ctx, collection_id, limit=60, next_token=next_token).result
    return render(
        request, "collection.html", me=me, info=info, faces=listed.items,
        next_token=listed.next_token, purposes=_purposes(request),
    )  # fmt: skip


@router.post("/collections/{collection_id}/faces")
@page
def enrol(
    request: Request,
    collection_id: str,
    image: Annotated[UploadFile, File()],
    external_image_id: Text = "",
    consent: Text = "",
    age_band: Text = "",
    purpose: Text = "",
    case_ref: Text = "",
    authorization_ref: Text = "",
    authorization_date: Text = "",
    csrf: Text = "",
) -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    ctx = declared(me.ctx, purpose, case_ref, authorization_ref, authorization_date)
    faces(request).index_faces(
        ctx, collection_id, image.file.read(MAX_UPLOAD + 1),
        external_image_id=external_image_id or None, consent=consent or None,
        age_band=age_band or None,
    )  # fmt: skip
    return redirect(f"/console/collections/{collection_id}")


@router.get("/search")
@page
def search_form(request: Request) -> Response:
    me = who(request)
    cols = faces(request).list_collections(me.ctx, limit=1000).result.items
    return render(
        request, "search.html", me=me, collections=cols, purposes=_purposes(request),
        outcome=None, form={},
    )  # fmt: skip


@router.post("/search")
@page
def search(
    request: Request,
    collection_id: Text,
    image: Annotated[UploadFile, File()],
    purpose: Text = "",
    case_ref: Text = "",
    authorization_ref: Text = "",
    authorization_date: Text = "",
    csrf: Text = "",
) -> Response:
    me = who(request)
    check_csrf(request, me, csrf)
    svc = faces(request)
    ctx = declared(me.ctx, purpose, case_ref, authorization_ref, authorization_date)
    form = {
        "collection_id": collection_id, "purpose": purpose, "case_ref": case_ref,
        "authorization_ref": authorization_ref, "authorization_date": authorization_date,
    }  # fmt: skip
    cols = svc.list_collections(me.ctx, limit=1000).result.items
    try:
        g = svc.search_faces_by_image(ctx, collection_id, image.file.read(MAX_UPLOAD + 1))
        outcome = {"kind": "results", "decision": g.decision, "result": g.result}
    except ResultsWithheld as held:
        outcome = {"kind": "held", "decision": held.decision, "lead": held.lead}
    except PolicyDenied as denied:  # the page shows the refusal, its rule and reason
        outcome = {"kind": "denied", "decision": denied.decision}
    return render(
        request, "search.html", me=me, collections=cols, purposes=_purposes(request),
        outcome=outcome, form=form,
    )  # fmt: skip


@router.get("/leads")
@page
def my_leads(request: Request) -> Response:
    me = who(request)
    g = governance(request).my_leads(me.ctx)
    return render(request, "my_leads.html", me=me, leads=list(reversed(g.result)))
