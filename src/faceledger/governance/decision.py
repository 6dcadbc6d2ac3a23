"""What the policy decided about one request, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        """What responses and audit records show of a decision."""
        return {
            "allowed": self.allowed,
            "rule": self.rule,
            "reason": self.reason,
            "min_similarity": self.min_similarity,
            "max_results": self.max_results,
            "review_required": self.review_required,
        }
