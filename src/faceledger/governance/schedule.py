"""Turns of work done on a timer by every server process, taken by one of them only.

Each process of ``faceledger serve --workers N`` runs the same timers (the retention purge);
:func:`take_turn` lets the first process whose timer fires in an interval do that interval's run
and tells the others to skip it: one write transaction on the governance database (table
``task_runs``: a task's name and the earliest time of its next run), so two processes never
both take a turn.
"""

from __future__ import annotations

from faceledger.governance.db import GovernanceDB

SLACK = 0.05
"""Share of the interval by which a turn may come early (timers of one process drift)."""


def take_turn(db: GovernanceDB, task: str, every: float, now: float) -> bool:
    """True if this caller runs ``task`` now (its next turn is then ``every`` seconds away,
    less :data:`SLACK`); False if another process has run it within the interval."""
    with db.transaction() as conn:
        row = conn.execute("SELECT next_at FROM task_runs WHERE task = ?", (task,)).fetchone()
        if row is not None and row["next_at"] > now:
            return False
        conn.execute(
            "INSERT INTO task_runs (task, next_at) VALUES (?, ?)"
            " ON CONFLICT (task) DO UPDATE SET next_at = excluded.next_at",
            (task, now + every * (1 - SLACK)),
        )
    return True
