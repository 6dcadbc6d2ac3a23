"""Consent records of the caller's organization: record, list, read, withdraw."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from faceledger.api.deps import Principal
from faceledger.api.models_lifecycle import (
    ConsentListResponse,
    ConsentResponse,
    WithdrawalResponse,
)
from faceledger.api.routes.common import (
    COMMON_ERRORS,
    CONFLICT,
    ID_PATTERN,
    NOT_FOUND,
    Body,
    Limit,
    NextToken,
    faces,
    with_decision,
)
from faceledger.service.faces import FaceService
from faceledger.validation import MAX_REFERENCE

router = APIRouter(prefix="/v1/consents", tags=["consents"])
Service = Annotated[FaceService, Depends(faces)]
ConsentId = Annotated[str, Path(pattern=r"^cns_[0-9a-f]{16}$", description="Consent id.")]


class NewConsent(Body):
    subject_ref: str = Field(
        min_length=1, max_length=MAX_REFERENCE,
        description="Reference of the data subject (never written to the audit log).",
    )  # fmt: skip
    collections: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(
        min_length=1, max_length=100, description="Collections this consent covers."
    )
    purposes: list[str] = Field(
        default_factory=list, max_length=100, description="Purposes covered; empty: any."
    )
    evidence_ref: str | None = Field(None, max_length=MAX_REFERENCE)
    given_at: str | None = Field(None, max_length=40, description="Date or date-time; now.")
    expires_at: str | None = Field(None, max_length=40, description="Date or date-time; never.")


@router.post(
    "", status_code=201, response_model=ConsentResponse, responses=COMMON_ERRORS,
    summary="Record a data subject's consent (collections and, optionally, purposes).",
)  # fmt: skip
def record_consent(body: NewConsent, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.record_consent(
        ctx, body.subject_ref, collections=body.collections, purposes=body.purposes,
        evidence_ref=body.evidence_ref, given_at=body.given_at, expires_at=body.expires_at,
    )  # fmt: skip
    return with_decision(g, {"consent": g.result.to_dict(svc._now())})


@router.get("", response_model=ConsentListResponse, responses=COMMON_ERRORS)
def list_consents(
    ctx: Principal,
    svc: Service,
    limit: Limit = 100,
    next_token: NextToken = None,
    subject_ref: Annotated[str | None, Query(max_length=MAX_REFERENCE)] = None,
) -> dict[str, Any]:
    g = svc.list_consents(ctx, subject_ref=subject_ref, limit=limit, next_token=next_token)
    now = svc._now()
    return with_decision(
        g,
        {"consents": [c.to_dict(now) for c in g.result.items], "next_token": g.result.next_token},
    )


@router.get(
    "/{consent_id}", response_model=ConsentResponse, responses={**COMMON_ERRORS, **NOT_FOUND}
)
def get_consent(consent_id: ConsentId, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.get_consent(ctx, consent_id)
    return with_decision(g, {"consent": g.result.to_dict(svc._now())})


@router.post(
    "/{consent_id}/withdraw", response_model=WithdrawalResponse,
    responses={**COMMON_ERRORS, **NOT_FOUND, **CONFLICT},
    summary="Withdraw a consent: the faces enrolled under it are deleted at once.",
)  # fmt: skip
def withdraw_consent(consent_id: ConsentId, ctx: Principal, svc: Service) -> dict[str, Any]:
    g = svc.withdraw_consent(ctx, consent_id)
    return with_decision(g, {"withdrawal": g.result.to_dict()})
