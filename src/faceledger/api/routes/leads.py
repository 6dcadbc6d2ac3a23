"""Leads and reviews: results held for two reviewers of the organization."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from faceledger.api.deps import Principal
from faceledger.api.models import LeadList, LeadResponse
from faceledger.api.models_crops import Crop
from faceledger.api.routes.common import (
    COMMON_ERRORS,
    CONFLICT,
    ID_PATTERN,
    NOT_FOUND,
    TOO_LARGE,
    Body,
    crop_body,
    faces,
    governance,
    with_decision,
)
from faceledger.service.faces import FaceService
from faceledger.service.governance import GovernanceService

router = APIRouter(prefix="/v1/leads", tags=["leads and reviews"])
Service = Annotated[GovernanceService, Depends(governance)]
Faces = Annotated[FaceService, Depends(faces)]
LeadId = Annotated[str, Path(pattern=r"^lead_[0-9a-f]{1,64}$", description="Lead id.")]


class Verdict(Body):
    note: str | None = Field(None, max_length=2000, description="Why (kept in the audit log).")


@router.get(
    "",
    summary="Operators: their own leads. Reviewers: leads waiting for their review.",
    response_model=LeadList,
    responses=COMMON_ERRORS,
)
def list_leads(
    ctx: Principal,
    svc: Service,
    view: Annotated[
        Literal["mine", "review"] | None,
        Query(description="'mine' (requester) or 'review' (reviewer); default by role."),
    ] = None,
    status: Annotated[Literal["pending", "released", "rejected"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    if view is None:
        view = "review" if "reviewer" in ctx.roles and "operator" not in ctx.roles else "mine"
    if view == "review":
        g = svc.pending_leads(ctx, limit=limit)
    else:
        g = svc.my_leads(ctx, status=status, limit=limit)
    return with_decision(g, {"view": view, "leads": [lead.to_dict() for lead in g.result]})


@router.get(
    "/{lead_id}",
    summary="A lead; its results once two reviewers confirmed (reviewers see them to review).",
    response_model=LeadResponse,
    responses={**COMMON_ERRORS, **NOT_FOUND},
)
def get_lead(lead_id: LeadId, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.get_lead(ctx, lead_id)
    return with_decision(g, {"lead": g.result.to_dict()})


@router.get(
    "/{lead_id}/crops/probe/{probe}",
    summary="The crop of a lead's searched face (reviewers; the requester once released).",
    response_model=Crop,
    responses={**COMMON_ERRORS, **NOT_FOUND},
)
def probe_crop(
    lead_id: LeadId, probe: Annotated[int, Path(ge=0, le=99)], ctx: Principal, svc: Faces
) -> dict[str, Any]:
    g = svc.lead_crop(ctx, lead_id, probe=probe)
    return crop_body(g, lead_id=lead_id, probe=probe)


@router.get(
    "/{lead_id}/crops/faces/{face_id}",
    summary="The crop of a lead's candidate face (reviewers; the requester once released).",
    response_model=Crop,
    responses={**COMMON_ERRORS, **NOT_FOUND},
)
def candidate_crop(
    lead_id: LeadId,
    face_id: Annotated[str, Path(pattern=ID_PATTERN)],
    ctx: Principal,
    svc: Faces,
) -> dict[str, Any]:
    g = svc.lead_crop(ctx, lead_id, face_id=face_id)
    return crop_body(g, lead_id=lead_id, face_id=face_id)


@router.post(
    "/{lead_id}/confirm",
    summary="Confirm a lead (a second reviewer's confirmation releases it).",
    response_model=LeadResponse,
    responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **TOO_LARGE},
)
def confirm(
    lead_id: LeadId, ctx: Principal, svc: Service, body: Verdict | None = None
) -> dict[str, Any]:
    g = svc.review(ctx, lead_id, "confirm", body.note if body else None)
    return with_decision(g, {"lead": g.result.to_dict()})


@router.post(
    "/{lead_id}/reject",
    summary="Reject a lead: it is closed and its results are never released.",
    response_model=LeadResponse,
    responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT, **TOO_LARGE},
)
def reject(
    lead_id: LeadId, ctx: Principal, svc: Service, body: Verdict | None = None
) -> dict[str, Any]:
    g = svc.review(ctx, lead_id, "reject", body.note if body else None)
    return with_decision(g, {"lead": g.result.to_dict()})
