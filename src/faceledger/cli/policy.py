"""``faceledger policy``: check a policy file, print the default, try a decision."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from faceledger.cli._govopts import DataDirOpt, JsonOpt
from faceledger.cli.output import fail, handle_errors, print_json
from faceledger.governance.context import RequestContext
from faceledger.governance.errors import PolicyError
from faceledger.governance.paths import policy_path
from faceledger.governance.policy import PolicyEngine, default_policy_text, load_policy

app = typer.Typer(
    name="policy",
    help="Check and try governance policy files (docs/policy.md).",
    no_args_is_help=True,
)


@app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="The policy YAML file.")],
    json_out: JsonOpt = False,
) -> None:
    """Validate a policy file; print every problem with its line, exit 1 if there are any."""
    try:
        policy = load_policy(file)
    except PolicyError as exc:
        if json_out:
            print_json(
                {
                    "ok": False,
                    "issues": [
                        {"line": i.line, "column": i.column, "path": i.path, "message": i.message}
                        for i in exc.issues
                    ],
                }
            )
        else:
            for issue in exc.issues:
                typer.echo(str(issue), err=True)
            typer.echo(f"{file}: {len(exc.issues)} problem{'s' * (len(exc.issues) != 1)}", err=True)
        raise typer.Exit(1) from None
    if json_out:
        print_json({"ok": True, "rules": len(policy.rules), "sha256": policy.sha256})
    else:
        typer.echo(f"{file}: ok, {len(policy.rules)} rules, sha256 {policy.sha256}")


@app.command("show-default")
def show_default() -> None:
    """Print the packaged default policy (a starting point for your own)."""
    typer.echo(default_policy_text(), nl=False)


@app.command("decide")
@handle_errors
def decide(
    operation: Annotated[str, typer.Argument(help="e.g. faces.search")],
    actor_class: Annotated[str, typer.Option("--actor-class")] = "commercial",
    role: Annotated[list[str] | None, typer.Option("--role", help="Repeatable.")] = None,
    purpose: Annotated[str | None, typer.Option()] = None,
    case_ref: Annotated[str | None, typer.Option("--case")] = None,
    authorization_ref: Annotated[str | None, typer.Option("--authorization")] = None,
    authorization_date: Annotated[
        str | None, typer.Option("--authorization-date", help="YYYY-MM-DD")
    ] = None,
    consent: Annotated[str | None, typer.Option(help="Consent record reference.")] = None,
    at: Annotated[
        str | None, typer.Option(help="When (ISO date or date-time, UTC); default now.")
    ] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy", help="Policy file (default: the data folder's, else packaged)."),
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Show what the policy decides for a request (no request is made, nothing is logged)."""
    engine = (
        PolicyEngine.from_file(policy_file)
        if policy_file
        else PolicyEngine.for_path(policy_path(data_dir))
    )
    try:
        now = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
        auth_date = date.fromisoformat(authorization_date) if authorization_date else None
    except ValueError as exc:
        raise fail(f"bad date: {exc}") from None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    ctx = RequestContext(
        principal_id="cli:decide",
        tenant_id="cli",
        actor_class=actor_class,
        roles=frozenset(role or ["operator"]),
        purpose=purpose,
        case_ref=case_ref,
        authorization_ref=authorization_ref,
        authorization_date=auth_date,
    )
    d = engine.decide(ctx, operation, {"consent": consent}, now)
    print_json(
        {
            "allowed": d.allowed,
            "rule": d.rule,
            "reason": d.reason,
            "min_similarity": d.min_similarity,
            "max_results": d.max_results,
            "review_required": d.review_required,
            "obligations": d.obligations,
        }
    )
    if not d.allowed:
        raise typer.Exit(1)
