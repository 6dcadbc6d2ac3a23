"""Fault injection for crash tests: die at a named write point, as a power cut or ``kill -9`` would.

Set ``FACELEDGER_FAULT`` to a point name (or several, comma-separated) and the process kills
itself with SIGKILL when it reaches that point; ``name@N`` kills at the N-th time (1-based).
Unset, :func:`point` costs one dictionary lookup. The points, in the order a governed change
passes them (see ``service.unit``):

- ``unit.decided``: the policy allowed the request, nothing is done yet;
- ``store.before_commit``: the change and its staged audit event are written, not committed;
- ``store.after_commit``: committed together, the event still in the store's outbox;
- ``audit.before_append``: inside the audit log's transaction, before the record;
- ``audit.after_append``: the record is in the log, the outbox not yet cleared;
- ``outbox.cleared``: the outbox entry is gone.

Outside the unit of work: ``video.lead_opened`` (a video job held for review has opened its
lead, the job is not marked yet); ``video.checkpointed`` (a running video job has committed a
checkpoint).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "FACELEDGER_FAULT"
POINTS = (
    "unit.decided",
    "store.before_commit",
    "store.after_commit",
    "audit.before_append",
    "audit.after_append",
    "outbox.cleared",
)
_seen: Counter[str] = Counter()


def point(name: str) -> None:
    """Kill this process here if ``$FACELEDGER_FAULT`` names this point."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    _seen[name] += 1
    for item in spec.split(","):
        target, _, nth = item.strip().partition("@")
        if target == name and (not nth or int(nth) == _seen[name]):
            os.kill(os.getpid(), signal.SIGKILL)
