"""Retention, cases and erasure: purge what is due, close a case, erase a data subject."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import Field

from faceledger.api.deps import Principal
from faceledger.api.models_lifecycle import (
    CaseClosedResponse,
    ErasureResponse,
    PurgeResponse,
)
from faceledger.api.routes.common import (
    COMMON_ERRORS,
    ID_PATTERN,
    Body,
    faces,
    with_decision,
)
from faceledger.service.faces import FaceService
from faceledger.validation import MAX_REFERENCE

router = APIRouter(prefix="/v1", tags=["lifecycle"])
Service = Annotated[FaceService, Depends(faces)]


@router.post(
    "/retention/run", response_model=PurgeResponse, responses=COMMON_ERRORS,
    summary="Purge every face of your organization whose retention has ended.",
)  # fmt: skip
def run_retention(ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.purge_due(ctx)
    return with_decision(g, {"purge": g.result.to_dict()})


@router.post(
    "/cases/{case_ref}/close", response_model=CaseClosedResponse, responses=COMMON_ERRORS,
    summary="Close a case: what was enrolled under it is deleted.",
)  # fmt: skip
def close_case(
    case_ref: Annotated[str, Path(min_length=1, max_length=MAX_REFERENCE)],
    ctx: Principal,
    svc: Service,
) -> dict[str, Any]:
    g = svc.close_case(ctx, case_ref)
    return with_decision(g, {"closed": g.result.to_dict()})


class Erasure(Body):
    subject_ref: str | None = Field(
        None, min_length=1, max_length=MAX_REFERENCE,
        description="The subject's consent reference: their consents and faces go.",
    )  # fmt: skip
    user_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(
        default_factory=list, max_length=100,
        description="User ids of the subject, in any collection: users and faces go.",
    )  # fmt: skip


@router.post(
    "/subjects/erase", response_model=ErasureResponse, responses=COMMON_ERRORS,
    summary="Erase a data subject across the organization; returns a receipt.",
)  # fmt: skip
def erase_subject(body: Erasure, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.erase_subject(ctx, subject_ref=body.subject_ref, user_ids=body.user_ids)
    return with_decision(g, {"receipt": g.result.to_dict()})
