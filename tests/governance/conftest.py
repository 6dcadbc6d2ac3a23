from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests_gov_helpers import FakeClock, make_ctx

from faceledger.governance.auditlog import AuditLog
from faceledger.governance.db import GovernanceDB
from faceledger.governance.review import ReviewQueue


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def db(tmp_path) -> GovernanceDB:
    database = GovernanceDB(tmp_path / "governance.sqlite3")
    yield database
    database.close()


@pytest.fixture
def auditlog(db, clock) -> AuditLog:
    return AuditLog(db, clock=clock)


@pytest.fixture
def queue(db, auditlog, clock) -> ReviewQueue:
    return ReviewQueue(db, auditlog, clock=clock)


@pytest.fixture
def ctx_factory():
    return make_ctx


@pytest.fixture(autouse=True)
def _on_both_backends(backend):
    """Every test here runs on SQLite and on PostgreSQL (tests/conftest.py: ``backend``)."""
    return backend
