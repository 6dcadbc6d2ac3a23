"""The operations governance knows, and the role each one needs at the least.

Face-service operations are named by the service; the others are governance's own. The role
floor here holds whatever the policy file says: a policy can restrict further, never loosen it.
"""

from __future__ import annotations

import fnmatch

FACE_OPERATIONS = (
    "collection.create",
    "collection.describe",
    "collection.list",
    "collection.delete",
    "faces.index",
    "faces.list",
    "faces.delete",
    "faces.search",
    "faces.search_by_image",
    "faces.crop",
    "users.create",
    "users.associate",
    "users.disassociate",
    "users.list",
    "users.delete",
    "users.search",
    "compare",
    "compare.one_to_many",
    "detect",
    "video.search",
    "video.get",
    "video.cancel",
)
IDENTIFICATION_OPERATIONS = (
    "faces.search",
    "faces.search_by_image",
    "users.search",
    "compare.one_to_many",
    "video.search",
    "footage.search",
)
"""1:N searches: who is this face? A compare whose target image holds more than one face is
decided as ``compare.one_to_many``: finding the source among several people is identification.
``video.search`` searches every face of stored footage: one request, decided when it is
submitted, for the whole asynchronous job."""

LIFECYCLE_OPERATIONS = (
    "consent.record",
    "consent.list",
    "consent.get",
    "consent.withdraw",
    "retention.purge",
    "case.close",
    "subject.erase",
)
"""The biometric data lifecycle: consent records, retention purges, closing a case (which ends
the retention of what was enrolled for it), erasing a data subject."""

REPORT_OPERATIONS = ("report.accountability",)
"""The accountability report (uses, decisions, reviews, data held and purged, the policy and the
fairness audit over a period), for an organization's auditors and administrators."""

FOOTAGE_OPERATIONS = (
    "camera.register",
    "camera.list",
    "footage.request",
    "footage.inbox",
    "footage.share",
    "footage.decline",
    "footage.revoke",
    "footage.search",
    "footage.requests",
)
"""Footage that camera owners choose to share for a case: owners register and list cameras, see
the requests covering them, share clips, decline, revoke; an agency opens requests, lists them
with counts of the clips shared (``footage.requests``) and searches only the clips shared with
it (``footage.search``, identification)."""

EVALUATION_OPERATIONS = ("evaluation.run",)
"""An independent tester's accuracy evaluation on a set it uploads (1:1 or 1:N), against the
deployed model and thresholds; nothing uploaded is kept."""

LEAD_OPERATIONS = ("leads.list", "leads.get", "leads.crop")
"""The requester's view of their own review leads (results and their face crops once
released)."""

REVIEW_OPERATIONS = ("review.list", "review.get", "review.crop", "review.confirm", "review.reject")
"""The reviewers' side; ``review.crop``: the probe and candidate face crops of a lead."""
AUDIT_OPERATIONS = ("audit.read", "audit.export", "audit.verify")
ADMIN_OPERATIONS = (
    "admin.create_org",
    "admin.create_account",
    "admin.create_key",
    "admin.revoke_key",
    "admin.list",
)

SELF_OPERATIONS = ("principal.whoami",)
"""What any authenticated principal may ask about itself, whatever its roles: recorded in the
audit log like every request, but not decided by the policy (no rule can refuse a principal its
own identity), so not among the operations a policy names."""

KNOWN_OPERATIONS = (
    FACE_OPERATIONS
    + LEAD_OPERATIONS
    + REVIEW_OPERATIONS
    + AUDIT_OPERATIONS
    + ADMIN_OPERATIONS
    + LIFECYCLE_OPERATIONS
    + REPORT_OPERATIONS
    + EVALUATION_OPERATIONS
    + FOOTAGE_OPERATIONS
)

ROLES = ("admin", "operator", "reviewer", "auditor")


def required_role(operation: str) -> str | None:
    """The role an operation needs whatever the policy says (the first of
    :func:`allowed_roles`); None for an unknown operation."""
    roles = allowed_roles(operation)
    return roles[0] if roles else None


def allowed_roles(operation: str) -> tuple[str, ...]:
    """The roles of which a caller needs at least one for ``operation``, whatever the policy
    says; empty for an unknown operation."""
    if operation in REPORT_OPERATIONS:
        return ("auditor", "admin")
    role = _floor(operation)
    return (role,) if role else ()


def _floor(operation: str) -> str | None:
    if operation in FACE_OPERATIONS or operation in LEAD_OPERATIONS:
        return "operator"
    if (
        operation in LIFECYCLE_OPERATIONS
        or operation in EVALUATION_OPERATIONS
        or operation in FOOTAGE_OPERATIONS
    ):
        return "operator"
    if operation in REVIEW_OPERATIONS:
        return "reviewer"
    if operation in AUDIT_OPERATIONS:
        return "auditor"
    if operation in ADMIN_OPERATIONS:
        return "admin"
    return None


def matches(pattern: str, operation: str) -> bool:
    """Glob match of an operation name (``faces.*``, ``*``)."""
    return fnmatch.fnmatchcase(operation, pattern)


def expand(pattern: str) -> list[str]:
    """The known operations a pattern matches (empty: a typo)."""
    return [op for op in KNOWN_OPERATIONS if matches(pattern, op)]
