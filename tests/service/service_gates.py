"""A gate for service tests: allows (or denies) everything and keeps every record, including the
events a change stages in the store's outbox (``append_staged``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from faceledger.governance.decision import Decision


@dataclass
class RecordingGate:
    """Allows (or denies) everything and keeps every record."""

    deny: set[str] = field(default_factory=set)
    min_similarity: float | None = None
    max_results: int | None = None
    records: list[tuple[str, dict, dict]] = field(default_factory=list)
    decided: list[str] = field(default_factory=list)

    def decide(self, ctx, operation, request):
        self.decided.append(operation)
        if operation in self.deny:
            return Decision(False, "test-deny", "denied for the test")
        return Decision(True, "test", "ok", self.min_similarity, self.max_results)

    def record(self, ctx, operation, decision, *, request, outcome):
        self.records.append((operation, request, outcome))

    def append_staged(self, event_id, body):
        record = json.loads(body)  # a change's event, staged in the store's transaction
        request = {**record["request"], "collection_id": record["collection_id"]}
        if len(record["image_sha256"]) == 1:
            request["image_sha256"] = record["image_sha256"][0]
        self.records.append((record["operation"], request, record["outcome"]))
