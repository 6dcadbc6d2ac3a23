"""Collections of the caller's organization."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import Field

from faceledger.api.deps import Principal
from faceledger.api.models import CollectionList, CollectionResponse, DeletedCollection
from faceledger.api.routes.common import (
    COMMON_ERRORS,
    CONFLICT,
    ID_PATTERN,
    NOT_FOUND,
    TOO_LARGE,
    Body,
    Limit,
    NextToken,
    faces,
    with_decision,
)
from faceledger.service.faces import FaceService

router = APIRouter(prefix="/v1/collections", tags=["collections"])
Service = Annotated[FaceService, Depends(faces)]
CollectionId = Annotated[str, Path(pattern=ID_PATTERN, description="Collection id.")]


class NewCollection(Body):
    collection_id: str = Field(pattern=ID_PATTERN)
    retention_days: int | None = Field(
        None,
        ge=1,
        le=36_500,
        description="Days a face is kept after enrolment (default: the policy's cap).",
    )
    until_case_closed: bool = Field(
        False, description="Faces need a case reference and go when their case is closed."
    )
    days_since_match: int | None = Field(
        None, ge=1, le=36_500,
        description="Days a face is kept after a search last returned it (or its enrolment).",
    )
    keep_crops: bool | None = Field(
        None,
        description="Keep a small crop of each enrolled face for reviewers (default: when the"
        " policy holds this organization's searches for human review).",
    )


@router.post(
    "",
    status_code=201,
    response_model=CollectionResponse,
    responses={**COMMON_ERRORS, **CONFLICT, **TOO_LARGE},
)
def create_collection(body: NewCollection, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.create_collection(
        ctx, body.collection_id, retention_days=body.retention_days,
        until_case_closed=body.until_case_closed, days_since_match=body.days_since_match,
        keep_crops=body.keep_crops,
    )  # fmt: skip
    return with_decision(g, {"collection": g.result.to_dict()})


@router.get("", response_model=CollectionList, responses=COMMON_ERRORS)
def list_collections(
    ctx: Principal, svc: Service, limit: Limit = 100, next_token: NextToken = None
) -> dict[str, Any]:
    g = svc.list_collections(ctx, limit=limit, next_token=next_token)
    page = g.result
    return with_decision(
        g, {"collections": [c.to_dict() for c in page.items], "next_token": page.next_token}
    )


@router.get(
    "/{collection_id}",
    response_model=CollectionResponse,
    responses={**COMMON_ERRORS, **NOT_FOUND},
)
def describe_collection(collection_id: CollectionId, ctx: Principal, svc: Service) -> dict:
    g = svc.describe_collection(ctx, collection_id)
    return with_decision(g, {"collection": g.result.to_dict()})


@router.delete(
    "/{collection_id}",
    response_model=DeletedCollection,
    responses={**COMMON_ERRORS, **NOT_FOUND},
)
def delete_collection(collection_id: CollectionId, ctx: Principal, svc: Service) -> dict:
    g = svc.delete_collection(ctx, collection_id)
    return with_decision(g, {"deleted": g.result.to_dict()})
