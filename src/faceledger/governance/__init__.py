"""Governance by construction: who may ask (principals), what is allowed (policy), who must
look first (review), and what happened (the tamper-evident audit log).

The face service reaches all of it through one object, :class:`GovernedGate`, which implements
the service's ``Gate`` protocol.
"""

from faceledger.governance.auditlog import Anchor, AuditLog, AuditRecord, VerifyReport
from faceledger.governance.db import GovernanceDB
from faceledger.governance.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PolicyError,
)
from faceledger.governance.gate import GovernedGate
from faceledger.governance.policy import Policy, PolicyEngine, load_policy, parse_policy
from faceledger.governance.principals import Principals
from faceledger.governance.ratelimit import MemoryRateLimiter, SqliteRateLimiter
from faceledger.governance.review import Lead, ReviewQueue

__all__ = [
    "Anchor",
    "AuditLog",
    "AuditRecord",
    "AuthError",
    "ConflictError",
    "ForbiddenError",
    "GovernanceDB",
    "GovernedGate",
    "Lead",
    "MemoryRateLimiter",
    "NotFoundError",
    "Policy",
    "PolicyEngine",
    "PolicyError",
    "Principals",
    "ReviewQueue",
    "SqliteRateLimiter",
    "VerifyReport",
    "load_policy",
    "parse_policy",
]
