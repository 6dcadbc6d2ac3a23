"""``faceledger consent | retention | case | subject``: the biometric data lifecycle.

Each command is one governed request through ``FaceService`` as the account of an API key
(see ``faceledger.cli.principal``), decided by the policy and recorded in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from faceledger.cli._govopts import DataDirOpt, JsonOpt
from faceledger.cli.collections import LimitOpt, TokenOpt
from faceledger.cli.output import decision_of, handle_errors, print_json
from faceledger.cli.principal import DECLARED, Who, declares_request, open_service

consent_app = typer.Typer(help="Consent records: record, list, show, withdraw.")
retention_app = typer.Typer(help="Retention: purge the faces whose retention has ended.")
case_app = typer.Typer(help="Cases: closing one ends the retention of what was enrolled for it.")
subject_app = typer.Typer(help="Data subjects: erase one across the organization.")

ConsentArg = Annotated[str, typer.Argument(help="Consent id (cns_...).", show_default=False)]


def _consent_line(record: dict) -> str:
    scope = record["scope"]
    purposes = ", ".join(scope["purposes"]) or "any purpose"
    return (
        f"{record['consent_id']}  {record['status']:<9} {record['subject_ref']}  "
        f"collections: {', '.join(scope['collections'])}; {purposes}; "
        f"expires: {record['expires_at'] or 'never'}"
    )


@consent_app.command("record")
@handle_errors
@declares_request
def consent_record(
    subject: Annotated[str, typer.Argument(help="Reference of the data subject.")],
    collection: Annotated[
        list[str], typer.Option("--collection", "-c", help="A collection it covers (repeat).")
    ],
    purpose_scope: Annotated[
        list[str] | None,
        typer.Option("--for-purpose", help="A purpose it covers (repeat); none: any purpose."),
    ] = None,
    evidence: Annotated[
        str | None, typer.Option("--evidence", help="Reference of the signed form, etc.")
    ] = None,
    given_at: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Given on (default: now).")
    ] = None,
    expires_at: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Expires on (default: never).")
    ] = None,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:
    """Record a data subject's consent; enrol with `index --consent <id>`."""
    with open_service(data_dir, who) as (svc, ctx):
        g = svc.record_consent(
            ctx, subject, collections=collection, purposes=purpose_scope or (),
            evidence_ref=evidence, given_at=given_at and given_at.date(),
            expires_at=expires_at and expires_at.date(),
        )  # fmt: skip
        record = g.result.to_dict(svc._now())
    if json_out:
        print_json({"consent": record, "decision": decision_of(g)})
    else:
        typer.echo(f"recorded consent {record['consent_id']}")


@consent_app.command("list")
@handle_errors
@declares_request
def consent_list(
    subject: Annotated[str | None, typer.Option(help="Only this subject's consents.")] = None,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    limit: LimitOpt = 100,
    next_token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The organization's consent records, oldest first."""
    with open_service(data_dir, who) as (svc, ctx):
        page = svc.list_consents(
            ctx, subject_ref=subject, limit=limit, next_token=next_token
        ).result
        now = svc._now()
    records = [r.to_dict(now) for r in page.items]
    if json_out:
        print_json({"consents": records, "next_token": page.next_token})
        return
    for record in records:
        typer.echo(_consent_line(record))
    if page.next_token:
        typer.echo(f"next page: --next-token {page.next_token}")


@consent_app.command("show")
@handle_errors
@declares_request
def consent_show(
    consent_id: ConsentArg, data_dir: DataDirOpt = None, who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:  # fmt: skip
    """One consent record."""
    with open_service(data_dir, who) as (svc, ctx):
        record = svc.get_consent(ctx, consent_id).result.to_dict(svc._now())
    if json_out:
        print_json(record)
        return
    for key, value in record.items():
        typer.echo(f"{key}: {value}")


@consent_app.command("withdraw")
@handle_errors
@declares_request
def consent_withdraw(
    consent_id: ConsentArg, data_dir: DataDirOpt = None, who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:  # fmt: skip
    """Withdraw a consent: the faces enrolled under it are deleted at once."""
    with open_service(data_dir, who) as (svc, ctx):
        g = svc.withdraw_consent(ctx, consent_id)
    if json_out:
        print_json({"withdrawal": g.result.to_dict(), "decision": decision_of(g)})
    else:
        typer.echo(f"withdrew consent {consent_id}; deleted {len(g.result.face_ids)} face(s)")


@retention_app.command("run")
@handle_errors
@declares_request
def retention_run(data_dir: DataDirOpt = None, who: Who = DECLARED, json_out: JsonOpt = False):  # noqa: ANN201
    """Purge every face whose retention has ended (collection rule, the policy's cap, expired
    consent, closed case); one audit record."""
    with open_service(data_dir, who) as (svc, ctx):
        g = svc.purge_due(ctx)
    if json_out:
        print_json({"purge": g.result.to_dict(), "decision": decision_of(g)})
        return
    reasons = ", ".join(f"{k}: {v}" for k, v in g.result.reasons.items()) or "nothing was due"
    typer.echo(f"purged {len(g.result.face_ids)} face(s) ({reasons})")


@case_app.command("close")
@handle_errors
@declares_request
def case_close(
    case: Annotated[str, typer.Argument(metavar="CASE_REF", help="The case reference.")],
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    json_out: JsonOpt = False,
) -> None:
    """Close a case: the faces enrolled under it are deleted, none is enrolled for it again."""
    with open_service(data_dir, who) as (svc, ctx):
        g = svc.close_case(ctx, case)
    if json_out:
        print_json({"closed": g.result.to_dict(), "decision": decision_of(g)})
        return
    was = " (it was closed already)" if g.result.already_closed else ""
    typer.echo(f"closed case {case}{was}; deleted {len(g.result.face_ids)} face(s)")


@subject_app.command("erase")
@handle_errors
@declares_request
def subject_erase(
    subject: Annotated[
        str | None, typer.Option("--subject", help="The subject's consent reference.")
    ] = None,
    user: Annotated[
        list[str] | None, typer.Option("--user", help="A user id of the subject (repeat).")
    ] = None,
    data_dir: DataDirOpt = None,
    who: Who = DECLARED,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a data subject across the organization (faces, users, consents, lead rows);
    prints the receipt (JSON)."""
    if not yes and not typer.confirm("erase this subject's faces, users and consents?"):
        raise typer.Exit(1)
    with open_service(data_dir, who) as (svc, ctx):
        g = svc.erase_subject(ctx, subject_ref=subject, user_ids=user or ())
    print_json({"receipt": g.result.to_dict(), "decision": decision_of(g)})
