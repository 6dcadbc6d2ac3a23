"""The retention purge on a timer, inside ``faceledger serve``.

Every ``every`` seconds, for each organization of the data folder, one ``retention.purge``
request goes through the service like any other: decided by the policy and recorded once (one
audit record per organization per run, even when nothing was due). The requester is the
service itself, ``system:retention``, acting with the operator role inside that organization;
the audit log names it so. Off unless started (``faceledger serve --retention-every``).

Every process of ``faceledger serve --workers N`` runs this timer, but each interval's purge is
run by one of them only (``governance.schedule.take_turn``), so the log still has one record per
organization per interval. The purge itself is idempotent too (it deletes what is due inside one
store transaction: a second purge finds nothing due), so even two runs would delete nothing twice.
"""

from __future__ import annotations

import logging
import threading
import time

from faceledger.errors import FaceledgerError
from faceledger.governance.context import RequestContext
from faceledger.governance.schedule import take_turn
from faceledger.runtime import Runtime

log = logging.getLogger("faceledger.retention")

SYSTEM_PRINCIPAL = "system:retention"
TASK = "retention.purge"


class RetentionTask:
    """Runs :meth:`run_once` in a daemon thread every ``every`` seconds until :meth:`stop`."""

    def __init__(self, runtime: Runtime, every: float) -> None:
        if every <= 0:
            raise ValueError("the retention interval must be positive")
        self.runtime = runtime
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.skipped = 0

    def run_once(self) -> dict[str, int]:
        """One purge per organization; returns organization id → faces purged (an
        organization whose purge failed or was denied is logged and left out)."""
        purged: dict[str, int] = {}
        for org in self.runtime.principals.list_orgs():
            ctx = RequestContext(SYSTEM_PRINCIPAL, org.id, org.actor_class, frozenset({"operator"}))
            try:
                purged[org.id] = len(self.runtime.faces.purge_due(ctx).result.face_ids)
            except FaceledgerError as exc:  # recorded by the service; keep going
                log.warning("retention purge of %s refused: %s", org.id, exc)
        self.runs += 1
        return purged

    def tick(self) -> bool:
        """Run the purge if this interval's turn is this process's; True if it ran."""
        if not take_turn(self.runtime.db, TASK, self.every, time.time()):
            self.skipped += 1
            return False
        self.run_once()
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a failing run must not end the timer
                log.exception("retention purge failed")

    def start(self) -> RetentionTask:
        self._thread = threading.Thread(target=self._loop, name="faceledger-retention", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
