"""The audit log, for the auditors of each organization (their own records only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from faceledger.api.deps import Principal
from faceledger.api.models import AuditLogPage
from faceledger.api.routes.common import COMMON_ERRORS, governance, with_decision
from faceledger.service.governance import GovernanceService

router = APIRouter(prefix="/v1", tags=["audit log"])
Service = Annotated[GovernanceService, Depends(governance)]


@router.get(
    "/audit-log",
    summary="Your organization's audit records, oldest first (auditors).",
    response_model=AuditLogPage,
    responses=COMMON_ERRORS,
)
def read_audit_log(
    ctx: Principal,
    svc: Service,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Records after this seq.")] = (
        None
    ),
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    operation: Annotated[str | None, Query(max_length=100)] = None,
    principal_id: Annotated[str | None, Query(max_length=100)] = None,
    request_id: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    g = svc.read_audit_log(
        ctx, after=after, limit=limit, operation=operation,
        principal_id=principal_id, request_id=request_id,
    )  # fmt: skip
    page = g.result
    return with_decision(
        g, {"records": [r.to_dict() for r in page.records], "next_after": page.next_after}
    )
