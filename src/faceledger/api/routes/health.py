"""Health and identity."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from faceledger import __version__
from faceledger.api.deps import Principal
from faceledger.api.models import Health, WhoAmI
from faceledger.api.routes.common import COMMON_ERRORS, governance
from faceledger.service.governance import GovernanceService

router = APIRouter(tags=["service"])


@router.get("/v1/health", summary="Liveness (no key needed).", response_model=Health)
def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get(
    "/v1/whoami",
    summary="The account of this API key (any role; audit-logged).",
    response_model=WhoAmI,
    responses=COMMON_ERRORS,
)
def whoami(
    ctx: Principal, svc: Annotated[GovernanceService, Depends(governance)]
) -> dict[str, Any]:
    ctx = svc.whoami(ctx)
    return {
        "principal_id": ctx.principal_id,
        "tenant_id": ctx.tenant_id,
        "actor_class": ctx.actor_class,
        "roles": sorted(ctx.roles),
        "purpose": ctx.purpose,
        "case_ref": ctx.case_ref,
    }
