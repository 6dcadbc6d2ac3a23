"""Auditors: their organization's audit log with filters, a record, the chain's status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from faceledger.console.web import SECURITY_HEADERS, governance, page, render, who
from faceledger.governance.auditlog import Anchor
from faceledger.governance.errors import InvalidArgumentError
from faceledger.service.governance import AuditFilters

router = APIRouter(prefix="/console/audit", include_in_schema=False)
Q = Annotated[str | None, Query(max_length=200)]


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be a date or date-time, not {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _filters(
    operation: str | None, principal_id: str | None, purpose: str | None, case_ref: str | None,
    decision: str | None, rule: str | None, since: str | None, until: str | None,
) -> AuditFilters:  # fmt: skip
    return AuditFilters(
        operation=operation or None, principal_id=principal_id or None,
        since=_time(since, "since"), until=_time(until, "until"), purpose=purpose or None,
        case_ref=case_ref or None, rule=rule or None,
        allowed={"allowed": True, "denied": False}.get(decision or ""),
    )  # fmt: skip


@router.get("/export")
@page
def export(
    request: Request,
    operation: Q = None,
    principal_id: Q = None,
    purpose: Q = None,
    case_ref: Q = None,
    decision: Q = None,
    rule: Q = None,
    since: Q = None,
    until: Q = None,
) -> Response:
    me = who(request)
    filters = _filters(operation, principal_id, purpose, case_ref, decision, rule, since, until)
    records = governance(request).export_audit_log(me.ctx, filters=filters).result
    body = "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records)
    return Response(
        body, media_type="application/x-ndjson",
        headers={**SECURITY_HEADERS, "Content-Disposition":
                 f'attachment; filename="audit-{me.ctx.tenant_id}.jsonl"'},
    )  # fmt: skip


@router.get("")
@page
def audit_log(
    request: Request,
    operation: Q = None,
    principal_id: Q = None,
    purpose: Q = None,
    case_ref: Q = None,
    decision: Q = None,
    rule: Q = None,
    since: Q = None,
    until: Q = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    me = who(request)
    form = {
        "operation": operation, "principal_id": principal_id, "purpose": purpose,
        "case_ref": case_ref, "decision": decision, "rule": rule, "since": since, "until": until,
    }  # fmt: skip
    filters = _filters(operation, principal_id, purpose, case_ref, decision, rule, since, until)
    g = governance(request).search_audit_log(me.ctx, filters=filters, after=after, limit=50)
    query = {k: v for k, v in form.items() if v}
    return render(
        request, "audit.html", me=me, records=g.result.records, form=form,
        next_after=g.result.next_after, query=query,
    )  # fmt: skip


@router.get("/records/{seq}")
@page
def audit_record(request: Request, seq: int) -> Response:
    me = who(request)
    record = governance(request).audit_record(me.ctx, seq).result
    body = json.dumps(record.body, indent=2, sort_keys=True, ensure_ascii=False)
    return render(request, "audit_record.html", me=me, record=record, body=body)


@router.get("/verify")
@page
def verify(
    request: Request, anchors: Annotated[str | None, Query(max_length=20_000)] = None
) -> Response:
    me = who(request)
    parsed = []
    for token in (anchors or "").split():
        try:
            parsed.append(Anchor.parse(token))
        except Exception:  # noqa: BLE001 - a bad anchor is the auditor's typo: say which
            raise InvalidArgumentError(f"an anchor is SEQ:SHA256, not {token!r}") from None
    report = governance(request).verify_audit_log(me.ctx, parsed).result
    return render(
        request, "verify.html", me=me, report=report, anchors=anchors or "", checked=parsed
    )
