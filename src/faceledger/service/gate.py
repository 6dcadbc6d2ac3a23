"""The contract between the service and governance: decide before, record after.

The service asks ``gate.decide(ctx, operation, request)`` before touching the store, and calls
``gate.record(...)`` exactly once per request, allowed or denied, after the outcome is known.
Governance (policy, review, audit log) implements this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from faceledger.service.context import RequestContext


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided, and why (the rule that applied and a sentence a person reads)."""

    allowed: bool
    rule: str
    reason: str
    min_similarity: float | None = None
    max_results: int | None = None
    review_required: bool = False
    obligations: dict[str, Any] = field(default_factory=dict)


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

    # A gate that can hold results for human review also has
    # ``withhold(ctx, operation, decision, results) -> lead`` (see GovernedGate); the service
    # refuses decisions that require review when the gate has none.
