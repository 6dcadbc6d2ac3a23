"""Helpers for the governance tests (pytest puts this folder on sys.path)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from faceledger.governance.context import RequestContext


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def make_ctx(
    principal: str = "acct_op",
    tenant: str = "org_a",
    actor_class: str = "commercial",
    roles: tuple[str, ...] = ("operator",),
    purpose: str | None = None,
    case_ref: str | None = None,
    authorization_ref: str | None = None,
    authorization_date: date | None = None,
) -> RequestContext:
    return RequestContext(
        principal_id=principal,
        tenant_id=tenant,
        actor_class=actor_class,
        roles=frozenset(roles),
        purpose=purpose,
        case_ref=case_ref,
        authorization_ref=authorization_ref,
        authorization_date=authorization_date,
    )


ctx = make_ctx
