"""The policy document: the YAML language of ordered rules, parsed and validated at load.

How the rules decide is in :mod:`faceledger.governance.policy` (``PolicyEngine``).

Semantics (see docs/policy.md): **first match**. Rules are tried in file order; a rule applies
when every condition under ``when`` holds and not every condition under ``unless`` holds. The
first rule that applies decides. A ``deny`` rule denies. An ``allow`` rule allows if its
``require`` list is met (purpose, allowed purposes, case reference, authorization and its age,
consent) and denies otherwise, naming what is missing; an allowed decision carries the rule's
similarity floor, result cap, review and rate limits. No applicable rule: denied
(``default-deny``). Every decision names its rule and gives one sentence of reason.

Names come from a closed vocabulary (:mod:`faceledger.governance.vocabulary`): a policy that
names an unknown actor class, role, purpose or operation does not load, and a request whose
actor class or declared purpose is unknown is denied before any rule is tried
(``unknown-actor-class``, ``unknown-purpose``).

``PolicyEngine.decide(ctx, operation, request, now)`` reads nothing but its arguments and the
loaded policy, so it is deterministic given ``now``. Rate limits are counted by the gate.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from faceledger.governance import operations as ops
from faceledger.governance import vocabulary
from faceledger.governance.context import RequestContext
from faceledger.governance.errors import PolicyError, PolicyIssue
from faceledger.governance.yamlmarks import Locator, load

DEFAULT_POLICY_RESOURCE = "default_policy.yaml"
_SLUG = r"^[a-z0-9][a-z0-9._-]*$"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _instant(value: Any) -> Any:
    """A date means 00:00 UTC that day; a datetime without a zone is taken as UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _instant(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            raise ValueError("expected a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
    raise ValueError("expected a date (YYYY-MM-DD) or an ISO 8601 date-time")


def _seconds(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m, 1h or 1d")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return int(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError("expected a duration such as 30s, 15m, 1h or 1d")


Names = Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_listify)]
Instant = Annotated[datetime, BeforeValidator(_instant)]
Seconds = Annotated[PositiveInt, BeforeValidator(_seconds)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    """``start`` inclusive, ``end`` exclusive; either may be left out (open-ended)."""

    start: Instant | None = None
    end: Instant | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start is None and self.end is None:
            raise ValueError("a time window needs a start, an end or both")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("the window ends before it starts")
        return self

    def contains(self, now: datetime) -> bool:
        return (self.start is None or now >= self.start) and (self.end is None or now < self.end)


class Conditions(_Model):
    """All given conditions must hold (a list matches when the request's value is in it)."""

    actor_classes: Names | None = Field(None, min_length=1)
    roles: Names | None = Field(None, min_length=1)
    operations: Names | None = Field(None, min_length=1)
    purposes: Names | None = Field(None, min_length=1)
    tenants: Names | None = Field(None, min_length=1)
    during: Window | None = None
    event_types: Names | None = Field(None, min_length=1)
    """The event a footage request targets (``vocabulary.EVENT_TYPES``)."""

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in type(self).model_fields)

    def holds(
        self,
        ctx: RequestContext,
        operation: str,
        now: datetime,
        request: Mapping[str, Any] | None = None,
    ) -> bool:
        if self.event_types is not None and (request or {}).get("event_type") not in (
            self.event_types
        ):
            return False
        if self.actor_classes is not None and ctx.actor_class not in self.actor_classes:
            return False
        if self.roles is not None and not ctx.roles.intersection(self.roles):
            return False
        if self.operations is not None and not any(
            ops.matches(p, operation) for p in self.operations
        ):
            return False
        if self.purposes is not None and ctx.purpose not in self.purposes:
            return False
        if self.tenants is not None and ctx.tenant_id not in self.tenants:
            return False
        return self.during is None or self.during.contains(now)


class AuthorizationRequirement(_Model):
    max_age_days: PositiveInt | None = None
    """The authorization must be dated at most this many days before the request."""


AgeBand = Literal["0-4", "5-11", "12-17", "adult"]
"""Declared age bands (``governance.error_rates.AGE_BANDS``)."""


class ExpectedFalseCandidates(_Model):
    """A bound on gallery size × audited FMR at the threshold used (a number: ``overall``)."""

    overall: float | None = Field(None, ge=0)
    worst_group: float | None = Field(None, ge=0)
    without_audit: Literal["allow", "deny"] = "allow"
    """With no audit on file for the model the bound cannot be checked: allow (the result says
    so, with its reason) or deny."""


class AuditOnFile(_Model):
    """Identification only with a model whose fairness audit is on file (and recent, and fair
    enough at the threshold used)."""

    max_age_days: PositiveInt | None = None
    max_fmr_ratio: float | None = Field(None, ge=1)
    """Highest / lowest group FMR of the audit's main grouping at the threshold used."""


class DeclaredAge(_Model):
    """What a probe declared in an age band gets: refused, or held for review."""

    refuse: list[AgeBand] = []
    review: list[AgeBand] = []


class Require(_Model):
    purpose: bool = False
    purposes: Names | None = Field(None, min_length=1)
    case_ref: bool = False
    authorization: bool | AuthorizationRequirement = False
    consent: bool = False
    max_expected_false_candidates: ExpectedFalseCandidates | None = None
    declared_age: DeclaredAge | None = None
    audit_on_file: bool | AuditOnFile = False

    @field_validator("max_expected_false_candidates", mode="before")
    @classmethod
    def _bound_shorthand(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"overall": value}
        return value


class RateLimit(_Model):
    requests: PositiveInt
    per: Seconds
    scope: Literal["principal", "tenant"] = "principal"

    def describe(self) -> str:
        return f"{self.requests} requests per {_duration_text(self.per)} per {self.scope}"


class Rule(_Model):
    id: str = Field(pattern=_SLUG, max_length=80)
    description: str | None = None
    when: Conditions = Conditions()
    unless: Conditions | None = None
    effect: Literal["allow", "deny"]
    reason: str = Field(min_length=1)
    require: Require | None = None
    min_similarity: float | None = Field(None, ge=0, le=100)
    max_results: PositiveInt | None = None
    review: bool = False
    rate_limit: list[RateLimit] | None = None

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    def applies(
        self,
        ctx: RequestContext,
        operation: str,
        now: datetime,
        request: Mapping[str, Any] | None = None,
    ) -> bool:
        if not self.when.holds(ctx, operation, now, request):
            return False
        return self.unless is None or not self.unless.holds(ctx, operation, now, request)


class Retention(_Model):
    """How long enrolled faces may be kept (docs/policy.md, "Retention")."""

    max_age_days: PositiveInt
    """The cap: no face is kept longer than this many days after its enrolment, whatever its
    collection's rule says; a collection created without a rule gets this one."""


class PolicyDocument(_Model):
    version: Literal[1]
    description: str | None = None
    purposes: dict[str, str] | None = None
    """The purposes a request may declare (name: meaning), among the vocabulary's; others are
    denied. Left out: every purpose of the vocabulary."""
    actor_classes: Names | None = None
    """The actor classes rules may name, among the vocabulary's."""
    rules: list[Rule] = Field(min_length=1)
    retention: Retention | None = None
    """The retention cap; left out: a collection keeps faces as long as its own rule says."""


class Policy:
    """A validated policy document with its source and the SHA-256 of its text."""

    def __init__(self, document: PolicyDocument, *, source: str, sha256: str) -> None:
        self.document = document
        self.source = source
        self.sha256 = sha256

    @property
    def rules(self) -> list[Rule]:
        return self.document.rules


# loading ---------------------------------------------------------------------------------------


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate; raise :class:`PolicyError` listing every problem with its line."""
    data, locator = load(text, source)
    if not isinstance(data, dict):
        raise PolicyError([PolicyIssue(source, 1, 1, "", "a policy is a mapping with 'rules'")])
    issues: list[PolicyIssue] = []
    document: PolicyDocument | None = None
    try:
        document = PolicyDocument.model_validate(data)
    except ValidationError as exc:
        issues.extend(_issues(exc, data, locator, source))
    if document is not None:
        rules = list(enumerate(document.rules))
        purposes = set(document.purposes) if document.purposes is not None else None
        actors = set(document.actor_classes) if document.actor_classes is not None else None
    else:  # check what can be checked, so that one run reports every problem
        rules = []
        raw_rules = data.get("rules")
        for i, raw in enumerate(raw_rules if isinstance(raw_rules, list) else []):
            with contextlib.suppress(ValidationError):
                rules.append((i, Rule.model_validate(raw)))
        raw_purposes = data.get("purposes")
        purposes = set(raw_purposes) if isinstance(raw_purposes, dict) else None
        raw_actors = data.get("actor_classes")
        actors = set(map(str, raw_actors)) if isinstance(raw_actors, list) else None
    issues.extend(
        PolicyIssue(source, *locator.find(loc), _path(loc, data), message)
        for loc, message in _vocabulary_problems(data) + _semantic_problems(rules, purposes, actors)
    )
    if issues or document is None:
        issues.sort(key=lambda i: (i.line or 0, i.column or 0))
        raise PolicyError(issues)
    return Policy(document, source=source, sha256=hashlib.sha256(text.encode()).hexdigest())


def load_policy(path: str | os.PathLike[str]) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(
            [PolicyIssue(str(path), None, None, "", exc.strerror or str(exc))]
        ) from None
    except UnicodeDecodeError:
        raise PolicyError([PolicyIssue(str(path), None, None, "", "not UTF-8 text")]) from None
    return parse_policy(text, str(path))


def default_policy_text() -> str:
    return (
        resources.files("faceledger.governance")
        .joinpath(DEFAULT_POLICY_RESOURCE)
        .read_text(encoding="utf-8")
    )


def default_policy() -> Policy:
    return parse_policy(default_policy_text(), f"<packaged {DEFAULT_POLICY_RESOURCE}>")


def _issues(exc: ValidationError, data: Any, locator: Locator, source: str) -> list[PolicyIssue]:
    out = []
    for err in exc.errors():
        loc = err["loc"]
        kind = err["type"]
        if kind == "extra_forbidden":
            message = f"unknown field {loc[-1]!r}"
        elif kind == "missing":
            message = f"missing field {loc[-1]!r}"
        elif kind == "literal_error":
            message = f"got {err.get('input')!r}: {err['msg'].lower()}"
        else:
            message = err["msg"]
            message = message.removeprefix("Value error, ")
            message = message[0].lower() + message[1:] if message else message
        line, column = locator.find(loc)
        path = _path(loc[:-1] if kind in ("missing", "extra_forbidden") else loc, data)
        out.append(PolicyIssue(source, line, column, path, message))
    return out


def _path(loc: tuple[Any, ...], data: Any) -> str:
    """``rules[2].when.operations[0]`` from a pydantic loc, keeping only parts found in data."""
    text = ""
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            text += f".{part}" if text else str(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            text += f"[{part}]"
            node = node[part]
    return text


def _vocabulary_problems(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """The policy's own lists may narrow the closed vocabulary, never extend it."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    raw_purposes = data.get("purposes")
    for name in raw_purposes if isinstance(raw_purposes, dict) else ():
        if not vocabulary.is_known("purpose", name):
            problems.append((("purposes", name), vocabulary.unknown_message("purpose", name)))
    raw_actors = data.get("actor_classes")
    raw_actors = [raw_actors] if isinstance(raw_actors, str) else raw_actors
    for j, name in enumerate(raw_actors if isinstance(raw_actors, list) else ()):
        if not vocabulary.is_known("actor class", name):
            problems.append((("actor_classes", j), vocabulary.unknown_message("actor class", name)))
    return problems


def _purpose_problem(purpose: str, declared: set[str] | None) -> str | None:
    if not vocabulary.is_known("purpose", purpose):
        return vocabulary.unknown_message("purpose", purpose)
    if declared is not None and purpose not in declared:
        return f"purpose {purpose!r} is not in 'purposes'"
    return None


def _semantic_problems(
    rules: list[tuple[int, Rule]], purposes: set[str] | None, actor_classes: set[str] | None
) -> list[tuple[tuple[Any, ...], str]]:
    """Problems pydantic cannot see: typos in names, duplicate ids, unreachable rules."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    seen: dict[str, int] = {}
    catch_all: int | None = None
    for i, rule in rules:
        at = ("rules", i)
        if rule.id in seen:
            problems.append(
                (at + ("id",), f"duplicate rule id {rule.id!r} (also rules[{seen[rule.id]}])")
            )
        seen.setdefault(rule.id, i)
        if catch_all is not None:
            problems.append(
                (at + ("id",), f"unreachable: rules[{catch_all}] matches every request before it")
            )
        if rule.when.is_empty() and rule.unless is None and catch_all is None:
            catch_all = i
        if rule.effect == "deny":
            for name in ("require", "min_similarity", "max_results", "rate_limit"):
                if getattr(rule, name) is not None:
                    problems.append((at + (name,), f"{name!r} has no effect in a deny rule"))
            if rule.review:
                problems.append((at + ("review",), "'review' has no effect in a deny rule"))
        for part in ("when", "unless"):
            cond: Conditions | None = getattr(rule, part)
            if cond is None:
                continue
            for j, pattern in enumerate(cond.operations or ()):
                if not ops.expand(pattern):
                    guess = vocabulary.suggestion(pattern, vocabulary.OPERATIONS)
                    hint = f" (did you mean {guess!r}?)" if guess else ""
                    problems.append(
                        (
                            at + (part, "operations", j),
                            f"{pattern!r} matches no known operation{hint}",
                        )
                    )
            for j, role in enumerate(cond.roles or ()):
                if not vocabulary.is_known("role", role):
                    problems.append(
                        (at + (part, "roles", j), vocabulary.unknown_message("role", role))
                    )
            for j, p in enumerate(cond.purposes or ()):
                if message := _purpose_problem(p, purposes):
                    problems.append((at + (part, "purposes", j), message))
            for j, e in enumerate(cond.event_types or ()):
                if not vocabulary.is_known("event type", e):
                    message = vocabulary.unknown_message("event type", e)
                    problems.append((at + (part, "event_types", j), message))
            for j, a in enumerate(cond.actor_classes or ()):
                if not vocabulary.is_known("actor class", a):
                    message = vocabulary.unknown_message("actor class", a)
                elif actor_classes is not None and a not in actor_classes:
                    message = f"actor class {a!r} is not in 'actor_classes'"
                else:
                    continue
                problems.append((at + (part, "actor_classes", j), message))
        if rule.require and rule.require.purposes:
            for j, p in enumerate(rule.require.purposes):
                if message := _purpose_problem(p, purposes):
                    problems.append((at + ("require", "purposes", j), message))
    return problems


# deciding --------------------------------------------------------------------------------------


def _duration_text(seconds: int) -> str:
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            n = seconds // size
            return name if n == 1 else f"{n} {name}s"
    return "second" if seconds == 1 else f"{seconds} seconds"
