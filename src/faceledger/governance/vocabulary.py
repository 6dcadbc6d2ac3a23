"""The closed vocabulary of governance: actor classes, purposes, roles and operations.

Every name the policy matches on comes from here. A name outside it is refused where it is
entered (``Principals.create_org`` and ``create_account``, ``faceledger admin``, a policy file);
one that still reaches a decision (an organization row written by an older version, a purpose a
client declares) is denied by the policy engine (rules ``unknown-actor-class`` and
``unknown-purpose``), never matched loosely. So ``law-enforcment`` cannot slip past a rule written
for ``law-enforcement``. Adding a name is a code change, reviewed like one.

Operations and roles are defined in :mod:`faceledger.governance.operations` (with the role each
operation needs) and re-exported here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from faceledger.governance.errors import InvalidArgumentError
from faceledger.governance.operations import KNOWN_OPERATIONS, ROLES

OPERATIONS = KNOWN_OPERATIONS

ACTOR_CLASSES = (
    "law-enforcement",
    "child-protection",
    "research",
    "commercial",
    "public-sector",
    "nonprofit",
    "independent-tester",
    "camera-owner",
)
"""What kind of organization a tenant is; the policy's rules match on it."""

PURPOSES: dict[str, str] = {
    "missing-person": "Finding a specific person reported missing.",
    "trafficking-victim": "Identifying a victim of human trafficking.",
    "criminal-investigation": "Investigating a specific criminal offence.",
    "child-protection": "Identifying a child at risk or a victim of abuse.",
    "identity-verification": (
        "Checking, with their consent, that a person is who they claim to be."
    ),
    "access-control": "Letting enrolled, consenting people through a door or into a system.",
    "photo-organization": "Grouping a consenting user's own photos by person.",
    "research": "Research under an ethics approval, on consented data.",
    "testing": "Testing the deployment with synthetic or consented data.",
}
"""The purposes a request may declare, with their meaning (the default policy's list)."""

EVENT_TYPES: dict[str, str] = {
    "crime": "A specific offence (a burglary, an assault, a robbery).",
    "missing-person": "Where a missing person was last seen.",
    "traffic-collision": "A road collision.",
    "protest": "A protest or demonstration.",
    "public-assembly": "Any other gathering of the public (a rally, a march, a vigil).",
    "religious-service": "A religious service or gathering.",
}
"""What a footage request may say it is about; the default policy refuses the assemblies."""

KINDS: dict[str, tuple[str, ...]] = {
    "actor class": ACTOR_CLASSES,
    "purpose": tuple(PURPOSES),
    "role": ROLES,
    "operation": OPERATIONS,
    "event type": tuple(EVENT_TYPES),
}


def suggestion(value: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``value``, if one is close (a likely typo)."""
    close = difflib.get_close_matches(value, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_message(kind: str, value: object, known: Iterable[str] | None = None) -> str:
    """``unknown actor class 'law-enforcment': did you mean 'law-enforcement'? Known actor
    classes: ...`` (``kind`` is a key of :data:`KINDS` unless ``known`` is given)."""
    names = tuple(known) if known is not None else KINDS[kind]
    guess = suggestion(value, names) if isinstance(value, str) else None
    hint = f" did you mean {guess!r}?" if guess else ""
    plural = kind[:-2] + "sses" if kind.endswith("ss") else kind + "s"
    return f"unknown {kind} {value!r}:{hint} known {plural}: {', '.join(names)}"


def is_known(kind: str, value: object) -> bool:
    return isinstance(value, str) and value in KINDS[kind]


def check(kind: str, value: object) -> str:
    """``value`` if it is a known name of this kind, else :class:`InvalidArgumentError`."""
    if not is_known(kind, value):
        raise InvalidArgumentError(unknown_message(kind, value))
    return value  # type: ignore[return-value]


def check_actor_class(value: object) -> str:
    return check("actor class", value)


def check_role(value: object) -> str:
    return check("role", value)


def check_purpose(value: object) -> str:
    return check("purpose", value)


__all__ = [
    "ACTOR_CLASSES",
    "EVENT_TYPES",
    "KINDS",
    "OPERATIONS",
    "PURPOSES",
    "ROLES",
    "check",
    "check_actor_class",
    "check_purpose",
    "check_role",
    "is_known",
    "suggestion",
    "unknown_message",
]
