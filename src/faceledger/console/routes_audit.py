"""Auditors: their organization's audit log with filters, a record, the chain's status."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
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


@dataclass
class AuditForm:
    """The filter form of the log page and of its export (query parameters)."""

    operation: Q = None
    principal_id: Q = None
    purpose: Q = None
    case_ref: Q = None
    decision: Q = None
    rule: Q = None
    since: Q = None
    until: Q = None

    def filters(self) -> AuditFilters:
        return AuditFilters(
            operation=self.operation or None, principal_id=self.principal_id or None,
            since=_time(self.since, "since"), until=_time(self.until, "until"),
            purpose=self.purpose or None, case_ref=self.case_ref or None,
            rule=self.rule or None,
            allowed={"allowed": True, "denied": False}.get(self.decision or ""),
        )  # fmt: skip


Form = Annotated[AuditForm, Depends()]


@router.get("/export")
@page
def export(request: Request, form: Form) -> Response:
    me = who(request)
    records = governance(request).export_audit_log(me.ctx, filters=form.filters()).result
    body = "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records)
    return Response(
        body, media_type="application/x-ndjson",
        headers={**SECURITY_HEADERS, "Content-Disposition":
                 f'attachment; filename="audit-{me.ctx.tenant_id}.jsonl"'},
    )  # fmt: skip


@router.get("")
@page
def audit_log(
    request: Request, form: Form, after: Annotated[int | None, Query(ge=0)] = None
) -> Response:
    me = who(request)
    fields = asdict(form)
    g = governance(request).search_audit_log(me.ctx, filters=form.filters(), after=after, limit=50)
    query = {k: v for k, v in fields.items() if v}
    return render(
        request, "audit.html", me=me, records=g.result.records, form=fields,
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
