"""The store against the audit log: every stored face has the record that stored it, and every
face a record says was stored is there (or a later record removed it).

``audit-log verify`` runs this after the chain check, once the outbox has been flushed (a change
committed by a process that died before recording it gets its record first).
"""

from __future__ import annotations

from collections import defaultdict

from faceledger.governance.auditlog import AuditLog, Problem
from faceledger.store.base import FaceStore

_ADDS = {"faces.index": "face_ids"}
_REMOVES = {"faces.delete": "face_ids"}


def check_store_against_log(store: FaceStore, log: AuditLog) -> list[Problem]:
    """Problems: ``unrecorded-face`` (stored, no record stored it) and ``missing-face`` (a
    record stored it, no record removed it, and it is not in the store)."""
    claimed: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for record in log.records():
        body = record.body
        outcome = body.get("outcome") or {}
        if outcome.get("status") != "ok" or not body.get("tenant_id"):
            continue
        key = (body["tenant_id"], body.get("collection_id") or "")
        operation = body.get("operation")
        if operation in _ADDS:
            for face_id in outcome.get(_ADDS[operation]) or []:
                claimed[key][face_id] = record.seq
        elif operation in _REMOVES:
            for face_id in outcome.get(_REMOVES[operation]) or []:
                claimed[key].pop(face_id, None)
        elif operation == "collection.delete":
            claimed.pop(key, None)
    problems: list[Problem] = []
    for tenant, collection, face_id in store.iter_face_ids():
        if claimed.get((tenant, collection), {}).pop(face_id, None) is None:
            problems.append(
                Problem(
                    None,
                    "unrecorded-face",
                    f"face {face_id} of collection {collection!r} (tenant {tenant}) is stored "
                    "but no audit record stored it",
                )
            )
    for (tenant, collection), faces in claimed.items():
        for face_id, seq in faces.items():
            problems.append(
                Problem(
                    seq,
                    "missing-face",
                    f"face {face_id} of collection {collection!r} (tenant {tenant}) was stored "
                    "by this record but is not in the store, and no record removed it",
                )
            )
    return problems
