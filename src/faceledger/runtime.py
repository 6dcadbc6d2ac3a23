"""One factory for everything a data folder serves: the HTTP API and the CLI both open it here.

``Runtime.open(Settings(...))`` builds, from one settings object, the face store, the governance
database, the audit log, the policy, the gate, the engine and the two services (faces and
governance), and first appends to the audit log whatever a crashed process left staged in the
store's outbox (see ``service.unit``). Close it when done (it is a context manager).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from faceledger.engine import Engine, EngineConfig
from faceledger.engine.scoring import load as load_scoring
from faceledger.engine.scoring import register_all as register_scorings
from faceledger.engine.user_models import get as get_user_model
from faceledger.governance.audit_files import latest as latest_audit
from faceledger.governance.auditlog import AuditLog
from faceledger.governance.db import GovernanceDB
from faceledger.governance.gate import GovernedGate
from faceledger.governance.paths import governance_db_path
from faceledger.governance.paths import policy_path as default_policy_path
from faceledger.governance.policy import PolicyEngine
from faceledger.governance.principals import Principals
from faceledger.governance.ratelimit import SqliteRateLimiter
from faceledger.service.admin import AdminService
from faceledger.service.faces import FaceService
from faceledger.service.governance import GovernanceService
from faceledger.settings import Settings, store_path
from faceledger.store import open_store
from faceledger.store.base import FaceStore


class SerializedEngine:
    """The engine behind a lock, for a server answering from a thread pool (the dlib models are
    not documented as thread-safe)."""

    LOCKED = (
        "detect", "detect_pixels", "represent", "compare", "embed_faces", "embed_chips",
        "link_descriptors",
    )  # fmt: skip

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._engine, name)
        if name in self.LOCKED and callable(attr):

            def locked(*args: Any, **kwargs: Any) -> Any:
                with self._lock:
                    return attr(*args, **kwargs)

            return locked
        return attr


def _audit_on_scale(root: Path, model_id: str) -> dict[str, Any] | None:
    """The newest audit on file for ``model_id`` measured on the similarity scale the model has
    in this process (``audit_files.latest``)."""
    from faceledger.engine.similarity import CALIBRATIONS, distance_from_similarity

    scale = None
    if model_id in CALIBRATIONS:
        scale = tuple(round(distance_from_similarity(s, model_id), 4) for s in (90.0, 99.0))
    return latest_audit(root, model_id, scale)  # type: ignore[arg-type]


def build_engine(settings: Settings) -> Engine:
    """The engine the settings choose: their detector, and the user model they name (checked
    against the SHA-256 it was added with) or the shipped network, with the normalised scoring
    they name (``engine.scoring``). Every scoring on file is registered, so collections of any
    of them can be searched by a stored face."""
    user_model = get_user_model(settings.data_dir, settings.model) if settings.model else None
    register_scorings(settings.data_dir)
    scoring = load_scoring(settings.data_dir, settings.scoring) if settings.scoring else None
    config = EngineConfig(
        detector=settings.detector,
        user_model=user_model,
        threads=settings.engine_threads,
        scoring=scoring,
    )
    engine = Engine(config)
    if scoring is not None:
        _ = engine.model_id  # a scoring of another model is refused now, not at the first face
    return engine


@dataclass
class Runtime:
    settings: Settings
    store: FaceStore
    db: GovernanceDB
    auditlog: AuditLog
    policy: PolicyEngine
    gate: GovernedGate
    principals: Principals
    faces: FaceService
    governance: GovernanceService
    admin: AdminService
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        gate_class: type[GovernedGate] = GovernedGate,
        serialize_engine: bool = False,
    ) -> Runtime:
        root = settings.data_dir
        settings.ensure_data_dir()
        policy = (
            PolicyEngine.from_file(settings.policy_path)
            if settings.policy_path is not None
            else PolicyEngine.for_path(default_policy_path(root))
        )
        db = GovernanceDB(governance_db_path(root))
        auditlog = AuditLog(db, clock=settings.clock)
        gate = gate_class(policy, auditlog, SqliteRateLimiter(db), settings.clock)
        store = open_store(store_path(root))
        if engine is None:
            engine = build_engine(settings)
        runner: Any = SerializedEngine(engine) if serialize_engine else engine
        faces = FaceService(store, runner, gate, audits=partial(_audit_on_scale, root))
        principals = Principals(db, clock=settings.clock)
        runtime = cls(
            settings=settings, store=store, db=db, auditlog=auditlog, policy=policy, gate=gate,
            principals=principals, faces=faces, governance=GovernanceService(gate),
            admin=AdminService(gate, principals),
        )  # fmt: skip
        faces.unit.flush()  # what a crashed process committed but did not record yet
        return runtime

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.store.close()
            self.db.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
