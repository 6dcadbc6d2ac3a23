"""OpenGate: the embedded, single-user default gate. It allows everything and records nothing.

It exists so the CLI works on one person's own machine before governance is configured: the
person running ``faceledger`` owns the data folder and is the only principal. It is *not* a
policy: no purpose or authorization is checked and no audit log is written. Deployments that
serve other people, or hold other people's faces, replace it with the governance gate
(``faceledger.service.Gate`` implementation with policy rules and an append-only audit log);
``FaceService`` calls both the same way, so nothing else changes.
"""

from __future__ import annotations

import getpass
from typing import Any

from faceledger.service.context import RequestContext
from faceledger.service.gate import Decision

RULE = "embedded-single-user"
DEFAULT_TENANT = "default"


class OpenGate:
    """Allows every operation with rule ``embedded-single-user``; ``record`` is a no-op."""

    def decide(self, ctx: RequestContext, operation: str, request: dict[str, Any]) -> Decision:
        return Decision(
            allowed=True,
            rule=RULE,
            reason="embedded single-user mode: the local user owns the data; no policy applies",
        )

    def record(
        self,
        ctx: RequestContext,
        operation: str,
        decision: Decision,
        *,
        request: dict[str, Any],
        outcome: dict[str, Any],
    ) -> None:
        return None


def local_context(tenant_id: str = DEFAULT_TENANT) -> RequestContext:
    """The context of the person at the keyboard in embedded mode (the CLI's default)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "local"
    return RequestContext(
        principal_id=user,
        tenant_id=tenant_id,
        actor_class="embedded",
        roles=frozenset({"admin"}),
        purpose="embedded-single-user",
    )
