"""Governance errors: each has a stable ``code`` (JSON output, HTTP status mapping)."""

from __future__ import annotations

from dataclasses import dataclass

from faceledger.errors import ConflictError, FaceledgerError, NotFoundError  # noqa: F401 - re-exported


class AuthError(FaceledgerError):
    """No valid credential: unknown, malformed or revoked API key."""

    code = "unauthorized"


class ForbiddenError(FaceledgerError):
    """The principal is known but may not do this (role, tenant, review rules)."""

    code = "forbidden"


class InvalidArgumentError(FaceledgerError):
    """An argument is malformed (a name, a role, an actor class, a date)."""

    code = "invalid_argument"


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem in a policy file, located at a line and column (1-based) when known."""

    source: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        at = f" {self.path}:" if self.path else ""
        return f"{where}:{at} {self.message}"


class PolicyError(FaceledgerError):
    """A policy file that cannot be loaded; ``issues`` lists every problem with its line."""

    code = "invalid_policy"

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = list(issues)
        first = str(self.issues[0]) if self.issues else "invalid policy"
        more = len(self.issues) - 1
        suffix = f" (and {more} more problem{'s' * (more != 1)})" if more > 0 else ""
        super().__init__(first + suffix)
