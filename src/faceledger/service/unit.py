"""The governed unit of work: decide → do the work → record, the change and its record together.

Every service call is one :meth:`UnitOfWork.run`:

1. **decide**: the gate decides (policy, roles, tenant, rate limits) before anything is read or
   computed. A denial is recorded and raised as :class:`PolicyDenied`.
2. **prepare** (optional): work that changes nothing, outside any transaction (decoding and
   embedding an image: long, and must not hold the store's write lock).
3. **work**: for a change (``writes=True``) inside one store transaction, at whose end the audit
   event is *staged* in the store's outbox table: the change and its event commit together or
   not at all. Reads run without a transaction.
4. **record**: a staged event is appended to the hash-chained log right after the commit and its
   outbox entry cleared. A crash in between leaves it in the outbox, and :meth:`flush` (run when
   a data folder is opened, before every change, and by ``audit-log verify``) appends it; the
   log's ``audit_applied`` table makes that idempotent across processes. So after a crash at any
   point, every stored change has its record and no record claims a change that was not stored.

The result comes back with its decision as :class:`Governed`. When the decision requires human
review, the results never leave: they are held as a lead (in the same governance transaction as
the request's record) and :class:`ResultsWithheld` is raised with the lead.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from faceledger import faults
from faceledger.errors import FaceledgerError
from faceledger.governance.auditlog import serialize_event
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.governance.events import RequestDecided
from faceledger.service.gate import Gate
from faceledger.store.base import FaceStore

R = TypeVar("R")
P = TypeVar("P")
log = logging.getLogger("faceledger.service")

_marks: ContextVar[dict[str, Any] | None] = ContextVar("faceledger_outcome_marks", default=None)


@contextlib.contextmanager
def marked(**marks: Any) -> Iterator[None]:
    """Add ``marks`` to the outcome of every request recorded within (a front end's fact about
    the request, such as a Rekognition read answered under a replayed signature)."""
    token = _marks.set({**(_marks.get() or {}), **marks})
    try:
        yield
    finally:
        _marks.reset(token)


def _mark(outcome: dict[str, Any]) -> dict[str, Any]:
    return {**outcome, **(_marks.get() or {})}


class PolicyDenied(FaceledgerError):
    """The gate refused the request; ``decision`` says which rule and why."""

    code = "policy_denied"

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"denied by policy ({decision.rule}): {decision.reason}")
        self.decision = decision


class ResultsWithheld(FaceledgerError):
    """The policy requires human review: the results were held as a pending lead.

    Raised instead of returning results, so a front end that forgets review cannot leak them:
    the requester gets ``lead`` (its id and status), reviewers confirm or reject it, and the
    requester reads the results once two reviewers have confirmed.
    """

    code = "review_pending"

    def __init__(self, lead: Any, decision: Decision) -> None:
        super().__init__(
            f"results held for human review as lead {lead.id} ({decision.rule}): "
            "two reviewers of your organization must confirm before you see them"
        )
        self.lead = lead
        self.decision = decision


@dataclass(frozen=True, slots=True)
class Governed(Generic[R]):
    """A service call's result with the decision that allowed it (rule, reason, limits)."""

    result: R
    decision: Decision


Work = Callable[[Decision], tuple[R, dict[str, Any]]]


class UnitOfWork:
    """Runs governed requests against one gate and (for changes) one store."""

    def __init__(self, gate: Gate, store: FaceStore | None = None) -> None:
        self.gate = gate
        self.store = store

    def decide(self, ctx: RequestContext, operation: str, request: dict[str, Any]) -> Decision:
        """The gate's decision, failing closed when review is required but cannot be held."""
        decision = self.gate.decide(ctx, operation, request)
        if decision.allowed and decision.review_required and not hasattr(self.gate, "withhold"):
            decision = Decision(
                False, decision.rule, "Review is required but this gate cannot hold results."
            )
        return decision

    def deny(
        self, ctx: RequestContext, operation: str, request: dict[str, Any], decision: Decision
    ) -> PolicyDenied:
        """Record a denial; returns the exception to raise."""
        self.gate.record(
            ctx, operation, decision, request=request, outcome=_mark({"status": "denied"})
        )
        return PolicyDenied(decision)

    def run(
        self,
        ctx: RequestContext,
        operation: str,
        request: dict[str, Any],
        work: Callable[..., tuple[R, dict[str, Any]]],
        *,
        prepare: Callable[[Decision], Any] | None = None,
        writes: bool = False,
        decision: Decision | None = None,
        lead_results: Callable[[R], list[dict[str, Any]]] | None = None,
        lead_extras: Callable[[R], dict[str, Any]] | None = None,
    ) -> Governed[R]:
        """decide → (prepare) → work → record once, whatever happens.

        ``work(decision)`` returns ``(result, outcome)``; with ``prepare``, ``work(decision,
        prepared)``. ``lead_extras``: what else a lead keeps for its reviewers (keyword
        arguments of the gate's ``withhold``: ``crops`` of the searched faces, the
        ``search``). ``writes``: the work changes the store; it runs in one store transaction
        with its staged audit event. ``decision``: one made earlier by :meth:`decide` (bulk
        indexing decides every image before any work)."""
        if decision is None:
            decision = self.decide(ctx, operation, request)
        if not decision.allowed:
            raise self.deny(ctx, operation, request, decision)
        faults.point("unit.decided")
        try:
            if prepare is not None:
                prepared = prepare(decision)
                call: Callable[[], tuple[R, dict[str, Any]]] = lambda: work(decision, prepared)  # noqa: E731
            else:
                call = lambda: work(decision)  # noqa: E731
            if writes:
                result, outcome = self._commit(ctx, operation, request, decision, call)
                return Governed(result, decision)
            result, outcome = call()
        except FaceledgerError as exc:
            self._error(ctx, operation, request, decision, exc.code, str(exc))
            raise
        except BaseException as exc:
            self._error(ctx, operation, request, decision, "internal", type(exc).__name__)
            raise
        if decision.review_required:
            extras = lead_extras(result) if lead_extras is not None else {}
            self._withhold(ctx, operation, request, decision, result, outcome, lead_results, extras)
        outcome = _mark({"status": "ok", **outcome})
        self.gate.record(ctx, operation, decision, request=request, outcome=outcome)
        return Governed(result, decision)

    # -------------------------------------------------------------------------------- internals
    def _commit(
        self,
        ctx: RequestContext,
        operation: str,
        request: dict[str, Any],
        decision: Decision,
        call: Callable[[], tuple[R, dict[str, Any]]],
    ) -> tuple[R, dict[str, Any]]:
        if self.store is None:
            raise RuntimeError("a unit of work that writes needs a store")
        self.flush()  # anything a crashed process left behind goes first, in order
        event_id = uuid.uuid4().hex
        with self.store.transaction():
            result, outcome = call()
            event = RequestDecided(
                ctx=ctx, operation=operation, decision=decision, request=request,
                outcome=_mark({"status": "ok", **outcome}), event_id=event_id,
            )  # fmt: skip
            self.store.stage_event(event_id, serialize_event(event))
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - committed and staged: the next flush appends it
            log.exception("audit event %s stays in the outbox until the next flush", event_id)
        return result, outcome

    def flush(self) -> int:
        """Append every staged event to the audit log and clear it; returns how many."""
        if self.store is None:
            return 0
        staged = self.store.staged_events()
        if not staged:
            return 0
        done = []
        for event_id, body in staged:
            self.gate.append_staged(event_id, body)
            done.append(event_id)
        self.store.clear_events(done)
        faults.point("outbox.cleared")
        return len(done)

    def _error(
        self,
        ctx: RequestContext,
        operation: str,
        request: dict[str, Any],
        decision: Decision,
        code: str,
        message: str,
    ) -> None:
        outcome = _mark({"status": "error", "error": code, "message": message})
        self.gate.record(ctx, operation, decision, request=request, outcome=outcome)

    def _withhold(
        self,
        ctx: RequestContext,
        operation: str,
        request: dict[str, Any],
        decision: Decision,
        result: Any,
        outcome: dict[str, Any],
        lead_results: Callable[[Any], list[dict[str, Any]]] | None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        """Hold the results as a lead; the lead and the request's record commit together."""
        rows = lead_results(result) if lead_results is not None else []
        withhold = self.gate.withhold  # type: ignore[attr-defined]
        try:
            transaction = getattr(self.gate, "transaction", contextlib.nullcontext)
            with transaction():
                lead = withhold(ctx, operation, decision, rows, **(extras or {}))
                outcome = _mark({**outcome, "status": "withheld", "lead_id": lead.id})
                self.gate.record(ctx, operation, decision, request=request, outcome=outcome)
        except BaseException as exc:
            self._error(ctx, operation, request, decision, "internal", type(exc).__name__)
            raise
        raise ResultsWithheld(lead, decision)
