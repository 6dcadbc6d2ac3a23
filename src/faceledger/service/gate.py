"""The contract between the service and governance: decide before, record after.

The service asks ``gate.decide(ctx, operation, request)`` before touching the store, and calls
``gate.record(...)`` exactly once per request, allowed or denied, after the outcome is known.
Governance (policy, review, audit log) implements this protocol (``GovernedGate``). A gate that
can hold results for human review also has ``withhold(ctx, operation, decision, results,
crops=()) -> lead`` (``crops``: JPEGs of the searched faces, for the reviewers) and
``transaction()`` (the lead and its record commit together); the unit of work refuses
decisions that require review when the gate has no ``withhold``.
"""

from __future__ import annotations

from typing import Any, Protocol

from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision


class Gate(Protocol):
    def decide(self, ctx: RequestContext, operation: str, request: dict[str, Any]) -> Decision:
        """Decide whether ``operation`` may proceed; never touches the face store."""
        ...

    def record(
        self,
        ctx: RequestContext,
        operation: str,
        decision: Decision,
        *,
        request: dict[str, Any],
        outcome: dict[str, Any],
    ) -> None:
        """Append one audit record for this request (inputs' hashes, results, decision)."""
        ...

    def append_staged(self, event_id: str, body: str) -> object:
        """Append an event staged in the store's transaction (canonical JSON), exactly once
        per ``event_id`` however often it is called."""
        ...
