"""Who is asking, and why: carried by every service call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The principal behind a request and what it declares.

    ``actor_class`` is the organization's class (law-enforcement, child-protection, research,
    commercial, ...); ``roles`` the account's roles (admin, operator, reviewer, auditor).
    ``purpose``, ``case_ref`` and the authorization fields are declared per request.
    """

    principal_id: str
    tenant_id: str
    actor_class: str
    roles: frozenset[str]
    purpose: str | None = None
    case_ref: str | None = None
    authorization_ref: str | None = None
    authorization_date: date | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles)) or "admin" in self.roles
