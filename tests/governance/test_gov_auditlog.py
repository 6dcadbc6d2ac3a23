"""The audit log: append-only, hash-chained; every edit made with a plain connection shows."""

from __future__ import annotations

import json
import threading

import pytest
from tests_gov_helpers import attacker, ctx, database_errors

from faceledger.governance.auditlog import Anchor, AuditLog, verify_export
from faceledger.governance.db import GovernanceDB
from faceledger.governance.decision import Decision
from faceledger.governance.errors import InvalidArgumentError
from faceledger.governance.events import HostCommand

ALLOW = Decision(True, "face-service", "Operators may use the face service.", min_similarity=99)
DENY = Decision(False, "log-is-for-auditors", "Only auditors may read the audit log.")


def fill(log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        tenant = "org_a" if i % 2 == 0 else "org_b"
        log.append_request(
            ctx(tenant=tenant, purpose="access-control", case_ref=f"C{i}"),
            "faces.search_by_image",
            ALLOW if i % 3 else DENY,
            request={"collection_id": "staff", "image_sha256": ["ab" * 32], "threshold": 90},
            outcome={"status": "ok", "results": [{"face_id": f"f{i}", "similarity": 99.12345}]},
        )


def raw(db: GovernanceDB):
    """What an attacker with the database has: a plain connection, triggers dropped."""
    return attacker(db, drop=("audit_log_no_update", "audit_log_no_delete"))


def kinds(report) -> set[tuple[int | None, str]]:
    return {(p.seq, p.kind) for p in report.problems}


def test_record_contents(auditlog, clock):
    c = ctx(purpose="access-control", case_ref="C9", authorization_ref="W1")
    rec = auditlog.append_request(
        c,
        "faces.search_by_image",
        ALLOW,
        request={"collection_id": "staff", "image_sha256": "cd" * 32, "threshold": 99},
        outcome={"status": "ok", "results": [{"face_id": "f1", "similarity": 99.5, "emb": [1]}]},
    )
    body = rec.body
    assert rec.seq == 1 and rec.prev_hash == "0" * 64
    assert body["at"] == "2024-05-01T12:00:00.000000Z"
    assert body["principal_id"] == "acct_op" and body["tenant_id"] == "org_a"
    assert body["purpose"] == "access-control" and body["case_ref"] == "C9"
    assert body["authorization_ref"] == "W1"
    assert body["image_sha256"] == ["cd" * 32]
    assert body["collection_id"] == "staff"
    assert body["outcome"]["results"] == [{"face_id": "f1", "similarity": 99.5}]
    assert body["decision"]["rule"] == "face-service" and body["decision"]["allowed"]
    assert body["request_id"] == c.request_id


def test_triggers_forbid_update_and_delete(auditlog, db):
    fill(auditlog, 2)
    conn = attacker(db)
    with pytest.raises(database_errors(), match="append-only"):
        conn.execute("UPDATE audit_log SET operation = 'x' WHERE seq = 1")
    with pytest.raises(database_errors(), match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE seq = 1")
    if db.postgres:
        with pytest.raises(database_errors(), match="append-only"):
            conn.execute("TRUNCATE audit_log")


def test_intact_log_verifies(auditlog):
    fill(auditlog)
    report = auditlog.verify(anchors=[auditlog.head()])
    assert report.ok and report.records == 5 and report.head.seq == 5
    assert not report.warnings


def test_empty_log_verifies(auditlog):
    assert auditlog.verify().ok and auditlog.head() is None


def test_modified_field(auditlog, db):
    fill(auditlog)
    conn = raw(db)
    text = conn.execute("SELECT record FROM audit_log WHERE seq = 3").fetchone()[0]
    conn.execute(
        "UPDATE audit_log SET record = ? WHERE seq = 3", (text.replace('"C2"', '"C-forged"'),)
    )
    report = auditlog.verify()
    assert kinds(report) == {(3, "modified")}
    assert any(w.kind == "triggers-missing" for w in report.warnings)


def test_modified_indexed_column(auditlog, db):
    fill(auditlog)
    raw(db).execute("UPDATE audit_log SET tenant_id = 'org_z' WHERE seq = 2")
    report = auditlog.verify()
    assert kinds(report) == {(2, "modified")}
    assert "tenant_id" in report.problems[0].detail


def test_modified_and_rehashed_record_breaks_the_next_link(auditlog, db):
    from faceledger.governance.auditlog import canonical_json, chain_hash

    fill(auditlog)
    conn = raw(db)
    seq, text, prev = conn.execute(
        "SELECT seq, record, prev_hash FROM audit_log WHERE seq = 2"
    ).fetchone()
    body = json.loads(text)
    body["case_ref"] = "C-forged"
    new = canonical_json(body)
    conn.execute(
        "UPDATE audit_log SET record = ?, hash = ? WHERE seq = 2", (new, chain_hash(prev, new))
    )
    assert kinds(auditlog.verify()) == {(3, "broken-link")}


def test_deleted_record(auditlog, db):
    fill(auditlog)
    raw(db).execute("DELETE FROM audit_log WHERE seq = 3")
    report = auditlog.verify()
    assert kinds(report) == {(4, "deleted")}
    assert "#3" in report.problems[0].detail


def test_deleted_first_record(auditlog, db):
    fill(auditlog)
    raw(db).execute("DELETE FROM audit_log WHERE seq = 1")
    assert kinds(auditlog.verify()) == {(2, "deleted")}


def test_inserted_forged_record(auditlog, db):
    """The forger even computes a valid hash, and renumbers the records after it."""
    from faceledger.governance.auditlog import canonical_json, chain_hash

    fill(auditlog)
    conn = raw(db)
    for seq in (5, 4):
        conn.execute("UPDATE audit_log SET seq = seq + 1 WHERE seq = ?", (seq,))
    prev = conn.execute("SELECT hash FROM audit_log WHERE seq = 3").fetchone()[0]
    body = json.loads(conn.execute("SELECT record FROM audit_log WHERE seq = 3").fetchone()[0])
    body.update(seq=4, case_ref="C-forged")
    text = canonical_json(body)
    conn.execute(
        "INSERT INTO audit_log (seq, at, kind, tenant_id, principal_id, operation, request_id, "
        "record, prev_hash, hash) VALUES (4, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            body["at"],
            body["kind"],
            body["tenant_id"],
            body["principal_id"],
            body["operation"],
            body["request_id"],
            text,
            prev,
            chain_hash(prev, text),
        ),
    )
    found = kinds(auditlog.verify())
    assert (4, "inserted") in found
    assert {(5, "renumbered"), (6, "renumbered")} <= found


def test_inserted_record_with_a_made_up_hash(auditlog, db):
    fill(auditlog)
    raw(db).execute(
        "INSERT INTO audit_log (seq, at, kind, operation, record, prev_hash, hash) "
        "VALUES (6, '2024-05-01T12:00:00.000000Z', 'request', 'faces.search', "
        "'{\"seq\":6}', 'x', 'y')"
    )
    assert {p.seq for p in auditlog.verify().problems} == {6}


def test_reordered_records(auditlog, db):
    fill(auditlog)
    conn = raw(db)
    conn.execute("UPDATE audit_log SET seq = -3 WHERE seq = 3")
    conn.execute("UPDATE audit_log SET seq = 3 WHERE seq = 4")
    conn.execute("UPDATE audit_log SET seq = 4 WHERE seq = -3")
    found = kinds(auditlog.verify())
    assert (3, "reordered") in found and (4, "reordered") in found
    assert all(seq in (3, 4, 5) for seq, _ in found)


def test_truncated_tail_needs_an_anchor(auditlog, db):
    fill(auditlog)
    anchor = auditlog.head()
    raw(db).execute("DELETE FROM audit_log WHERE seq >= 4")
    assert auditlog.verify().ok  # a chain alone cannot see a cut tail
    report = auditlog.verify(anchors=[anchor])
    assert kinds(report) == {(5, "truncated")}


def test_rewritten_chain_is_caught_by_an_anchor(auditlog, db):
    from faceledger.governance.auditlog import GENESIS, canonical_json, chain_hash

    fill(auditlog)
    anchor = auditlog.head()
    conn = raw(db)
    prev = GENESIS
    for seq, text in conn.execute("SELECT seq, record FROM audit_log ORDER BY seq").fetchall():
        body = json.loads(text)
        body["case_ref"] = "rewritten"
        new = canonical_json(body)
        digest = chain_hash(prev, new)
        conn.execute(
            "UPDATE audit_log SET record = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (new, prev, digest, seq),
        )
        prev = digest
    assert auditlog.verify().ok
    assert kinds(auditlog.verify(anchors=[anchor])) == {(5, "anchor-mismatch")}


def test_anchor_parse():
    a = Anchor.parse(f"12:{'A' * 64}")
    assert a == Anchor(12, "a" * 64) and Anchor.parse(str(a)) == a
    with pytest.raises(InvalidArgumentError):
        Anchor.parse("12:abc")


def test_concurrent_writers_do_not_fork_the_chain(tmp_path):
    path = tmp_path / "governance.sqlite3"
    GovernanceDB(path).close()

    def writer(n: int) -> None:
        log = AuditLog(GovernanceDB(path))
        for i in range(25):
            log.append(
                HostCommand(
                    operation="detect",
                    principal_id="p",
                    tenant_id="org_a",
                    details={"i": f"{n}-{i}"},
                )
            )

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = AuditLog(GovernanceDB(path)).verify()
    assert report.ok and report.records == 100


def test_read_is_tenant_scoped_and_paginated(auditlog):
    fill(auditlog, 7)
    page = auditlog.read("org_a", limit=2)
    assert [r.seq for r in page.records] == [1, 3] and page.next_after == 3
    page = auditlog.read("org_a", limit=2, after=page.next_after)
    assert [r.seq for r in page.records] == [5, 7] and page.next_after is None
    assert all(r.body["tenant_id"] == "org_b" for r in auditlog.read("org_b").records)
    assert auditlog.read("org_c").records == []
    only = auditlog.read("org_a", operation="faces.search_by_image", limit=10)
    assert len(only.records) == 4
    with pytest.raises(InvalidArgumentError):
        auditlog.read("")


def test_export_and_verify_export(auditlog, tmp_path):
    fill(auditlog)
    out = tmp_path / "log.jsonl"
    assert auditlog.export(out) == 5
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["seq"] for x in lines] == [1, 2, 3, 4, 5]
    assert verify_export(out, anchors=[auditlog.head()]).ok
    lines[1]["record"]["purpose"] = "forged"
    out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert kinds(verify_export(out)) == {(2, "modified")}
    tenant_only = tmp_path / "a.jsonl"
    assert auditlog.export(tenant_only, tenant_id="org_b") == 2


def test_dropped_triggers_are_restored_and_logged(auditlog, db):
    fill(auditlog, 2)
    raw(db).close()
    reopened = GovernanceDB(db.path, url=db.url)
    log = AuditLog(reopened)
    last = list(log.records())[-1].body
    assert last["operation"] == "audit.triggers_restored"
    assert last["missing_triggers"] == ["audit_log_no_update", "audit_log_no_delete"]
    report = log.verify()
    assert report.ok  # nothing was changed, but the warning stays
    assert [w.kind for w in report.warnings] == ["triggers-missing", "triggers-restored"]
    with pytest.raises(database_errors(), match="append-only"):
        attacker(db).execute("DELETE FROM audit_log")
    reopened.close()
