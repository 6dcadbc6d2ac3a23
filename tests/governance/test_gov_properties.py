"""Properties: any instant around a window decides by which side it is on; any edit shows."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests_gov_helpers import attacker, ctx

import pg_testserver
from faceledger.governance.auditlog import AuditLog
from faceledger.governance.db import GovernanceDB
from faceledger.governance.events import HostCommand
from faceledger.governance.policy import PolicyEngine

ENGINE = PolicyEngine.default()
START = datetime(2020, 6, 10, tzinfo=UTC)


@given(offset=st.integers(min_value=-(10**7), max_value=10**7))
def test_moratorium_holds_exactly_from_its_start(offset):
    now = START + timedelta(seconds=offset)
    c = ctx(**{**_le_kwargs(), "authorization_date": (now - timedelta(days=1)).date()})
    decision = ENGINE.decide(c, "faces.search_by_image", {}, now)
    assert decision.allowed == (offset < 0)
    exempt = ctx(**{**_le_kwargs(), "purpose": "missing-person", "authorization_date": now.date()})
    assert ENGINE.decide(exempt, "faces.search_by_image", {}, now).allowed


def _le_kwargs():
    return dict(
        actor_class="law-enforcement",
        purpose="criminal-investigation",
        case_ref="C",
        authorization_ref="W",
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(min_value=1, max_value=8),
    data=st.data(),
)
def test_any_single_field_edit_is_detected(tmp_path_factory, n, data):
    path = tmp_path_factory.mktemp("prop") / "g.sqlite3"
    url = os.environ.get("FACELEDGER_DATABASE_URL")
    db = GovernanceDB(path, url=pg_testserver.another_database(url) if url else None)
    log = AuditLog(db)
    for i in range(n):
        log.append(
            HostCommand(
                operation="detect",
                principal_id="p",
                tenant_id="t",
                details={"note": f"n{i}", "score": i / 3},
            )
        )
    seq = data.draw(st.integers(min_value=1, max_value=n))
    field = data.draw(st.sampled_from(["note", "score", "tenant_id", "operation", "at"]))
    conn = attacker(db, drop=("audit_log_no_update",))
    body = json.loads(
        conn.execute("SELECT record FROM audit_log WHERE seq = ?", (seq,)).fetchone()[0]
    )
    body[field] = "forged"
    conn.execute(
        "UPDATE audit_log SET record = ? WHERE seq = ?",
        (json.dumps(body, sort_keys=True, separators=(",", ":")), seq),
    )
    conn.close()
    report = log.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(seq, "modified")]
    db.close()
