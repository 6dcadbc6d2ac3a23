"""``faceledger admin``: organizations, accounts and API keys (host-level, audit-logged)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from faceledger.cli._govopts import DataDirOpt, JsonOpt, log_local, open_db
from faceledger.cli.output import fail, handle_errors, print_json
from faceledger.cli.principal import key_file, write_key_file
from faceledger.governance.db import GovernanceDB
from faceledger.governance.principals import Account, Principals
from faceledger.governance.sigv4keys import Binding, SigV4Keys, is_access_key_id, parse_expiry
from faceledger.governance.vocabulary import ACTOR_CLASSES, ROLES
from faceledger.settings import data_dir as resolve_data_dir

app = typer.Typer(
    name="admin",
    help="Manage organizations, accounts and API keys.",
    no_args_is_help=True,
)
console = Console()


@app.command("init")
@handle_errors
def init(
    org: Annotated[str, typer.Option("--org", help="Name of the local organization.")] = "local",
    actor_class: Annotated[
        str,
        typer.Option(
            "--actor-class",
            help=f"Actor class of the local organization: one of {', '.join(ACTOR_CLASSES)}.",
        ),
    ] = "research",
    account: Annotated[str, typer.Option(help="Name of the CLI's operator account.")] = "cli",
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set up the single-user embedded default: an organization with one operator account,
    whose API key is stored in the data folder (file cli-key, mode 600) for the face commands.

    The CLI then acts as that account: every command is decided by the policy and recorded in
    the audit log like any HTTP request."""
    path = key_file(data_dir)
    if path.exists():
        raise fail(f"already initialized: {path} exists")
    db = open_db(data_dir)
    principals = Principals(db)
    created = principals.create_org(org, actor_class)
    log_local(db, "admin.create_org", created.id, {"org": created.to_dict()})
    acct = principals.create_account(created.id, account, ["operator"])
    log_local(db, "admin.create_account", created.id, {"account": acct.to_dict()})
    issued = principals.create_key(acct.id, label="cli")
    log_local(
        db,
        "admin.create_key",
        created.id,
        {"key_id": issued.key_id, "account_id": acct.id, "label": "cli"},
    )
    write_key_file(data_dir, issued.api_key)
    if json_out:
        print_json({"org": created.to_dict(), "account": acct.to_dict(), "key_file": str(path)})
    else:
        typer.echo(
            f"created organization {created.name} ({created.id}, {created.actor_class}) and "
            f"operator account {acct.name}; the CLI uses its key from {path}"
        )


@app.command("create-org")
@handle_errors
def create_org(
    name: Annotated[str, typer.Argument(help="Organization name (unique).")],
    actor_class: Annotated[
        str,
        typer.Option(
            "--actor-class",
            help=f"What kind of actor it is, one of: {', '.join(ACTOR_CLASSES)}.",
        ),
    ],
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an organization (a tenant). Its actor class is one of a closed list: a name
    outside it is refused (with the closest known one), so a typo cannot escape the policy."""
    db = open_db(data_dir)
    org = Principals(db).create_org(name, actor_class)
    log_local(db, "admin.create_org", org.id, {"org": org.to_dict()})
    if json_out:
        print_json(org.to_dict())
    else:
        typer.echo(f"created organization {org.name} ({org.id}), actor class {org.actor_class}")


@app.command("create-account")
@handle_errors
def create_account(
    org: Annotated[str, typer.Argument(help="Organization name or id.")],
    name: Annotated[str, typer.Argument(help="Account name (unique in the organization).")],
    role: Annotated[
        list[str],
        typer.Option("--role", help=f"A role ({', '.join(ROLES)}); repeat for several."),
    ],
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an account with one or more roles."""
    db = open_db(data_dir)
    account = Principals(db).create_account(org, name, role)
    log_local(db, "admin.create_account", account.org_id, {"account": account.to_dict()})
    if json_out:
        print_json(account.to_dict())
    else:
        typer.echo(
            f"created account {account.name} ({account.id}), "
            f"roles {', '.join(sorted(account.roles))}"
        )


@app.command("create-key")
@handle_errors
def create_key(
    account: Annotated[str, typer.Argument(help="Account id, or ORG/NAME.")],
    label: Annotated[str | None, typer.Option(help="A note: where the key is used.")] = None,
    sigv4: Annotated[
        bool,
        typer.Option(
            "--sigv4",
            help="An AWS-style access key id and secret for the Rekognition-compatible API "
            "(docs/rekognition.md), instead of an API key.",
        ),
    ] = False,
    purpose: Annotated[
        str | None, typer.Option(help="--sigv4: bind this purpose to every request.")
    ] = None,
    case_ref: Annotated[
        str | None, typer.Option("--case-ref", help="--sigv4: bind this case reference.")
    ] = None,
    authorization_ref: Annotated[
        str | None,
        typer.Option("--authorization-ref", help="--sigv4: bind this warrant or court order."),
    ] = None,
    authorization_date: Annotated[
        str | None,
        typer.Option("--authorization-date", help="--sigv4: its date, YYYY-MM-DD."),
    ] = None,
    consent: Annotated[
        str | None,
        typer.Option(help="--sigv4: consent reference recorded for every face it enrols."),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(help="--sigv4: valid until this day (YYYY-MM-DD, through its end, UTC)."),
    ] = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an API key and print it. It is shown this once; only its hash is kept.

    With --sigv4: an access key id and secret access key (printed on one line), optionally
    bound to a purpose, case, authorization, consent and expiry (a warrant-scoped credential).
    The secret is kept encrypted under $FACELEDGER_SECRET_KEY or <data dir>/secret.key."""
    db = open_db(data_dir)
    principals = Principals(db)
    acct = principals.get_account(account)
    bound = (purpose, case_ref, authorization_ref, authorization_date, consent, expires)
    if sigv4:
        _create_sigv4(db, acct, label, data_dir, json_out, *bound)
        return
    if any(v is not None for v in bound):
        raise fail("--purpose, --case-ref, --authorization-... , --consent, --expires need --sigv4")
    issued = principals.create_key(acct.id, label=label)
    log_local(
        db,
        "admin.create_key",
        acct.org_id,
        {"key_id": issued.key_id, "account_id": acct.id, "label": label},
    )
    if json_out:
        print_json({"key_id": issued.key_id, "account_id": acct.id, "api_key": issued.api_key})
    else:
        typer.echo(issued.api_key)
    typer.echo(
        f"key {issued.key_id} for {acct.name}: store it now, it cannot be shown again", err=True
    )


def _create_sigv4(
    db: GovernanceDB, acct: Account, label: str | None, data_dir: Path | None, json_out: bool,
    purpose: str | None, case_ref: str | None, authorization_ref: str | None,
    authorization_date: str | None, consent: str | None, expires: str | None,
) -> None:  # fmt: skip
    try:
        auth_date = date.fromisoformat(authorization_date) if authorization_date else None
    except ValueError:
        raise fail(f"--authorization-date {authorization_date!r}: use YYYY-MM-DD") from None
    binding = Binding(
        purpose=purpose, case_ref=case_ref, authorization_ref=authorization_ref,
        authorization_date=auth_date, consent=consent, expires_at=parse_expiry(expires),
    )  # fmt: skip
    issued = SigV4Keys(db, resolve_data_dir(data_dir)).create(acct.id, binding=binding, label=label)
    log_local(
        db, "admin.create_key", acct.org_id,
        {"key_id": issued.access_key_id, "account_id": acct.id, "label": label,
         "credential": "sigv4", "binding": binding.to_dict()},
    )  # fmt: skip
    if json_out:
        print_json(issued.to_dict())
    else:
        typer.echo(f"{issued.access_key_id} {issued.secret_access_key}")
    typer.echo(
        f"SigV4 credential {issued.access_key_id} for {acct.name}: store the secret now, it "
        "cannot be shown again",
        err=True,
    )


@app.command("revoke-key")
@handle_errors
def revoke_key(
    key_id: Annotated[
        str, typer.Argument(help="The key id (or the whole key), or a SigV4 access key id.")
    ],
    data_dir: DataDirOpt = None,
) -> None:
    """Revoke an API key or SigV4 credential; requests with it are refused from now on."""
    db = open_db(data_dir)
    principals = Principals(db)
    if is_access_key_id(key_id):
        account_id = SigV4Keys(db, resolve_data_dir(data_dir)).revoke(key_id)
        acct = principals.get_account(account_id)
        log_local(db, "admin.revoke_key", acct.org_id, {"key_id": key_id, "credential": "sigv4"})
        typer.echo(f"revoked SigV4 credential {key_id} of {acct.name}")
        return
    info = principals.revoke_key(key_id)
    acct = principals.get_account(info.account_id)
    log_local(db, "admin.revoke_key", acct.org_id, {"key_id": info.key_id})
    typer.echo(f"revoked key {info.key_id} of {acct.name} at {info.revoked_at}")


@app.command("list-keys")
@handle_errors
def list_keys(
    account: Annotated[
        str | None, typer.Argument(help="Only this account (id, or ORG/NAME).")
    ] = None,
    active: Annotated[bool, typer.Option("--active", help="Leave out revoked ones.")] = False,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List API keys and SigV4 credentials: holder, label, binding (purpose, case,
    authorization, consent, expiry), when made and revoked. Never a secret: only key ids."""
    db = open_db(data_dir)
    api_keys = [{**k.to_dict(), "credential": "api-key"} for k in Principals(db).list_keys(account)]
    sigv4 = [c.to_dict() for c in SigV4Keys(db, resolve_data_dir(data_dir)).list(account)]
    rows = sorted(api_keys + sigv4, key=lambda r: str(r["created_at"]))
    if active:
        rows = [r for r in rows if r["revoked_at"] is None]
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} key{'s' * (len(rows) != 1)}")
    for col in ("key id", "type", "account", "label", "binding", "created", "revoked"):
        table.add_column(col)
    for r in rows:
        binding = r.get("binding") or {}
        bound = ", ".join(f"{k}={v}" for k, v in binding.items() if v is not None)  # type: ignore[union-attr]
        table.add_row(
            str(r.get("access_key_id") or r.get("key_id")), str(r["credential"]),
            str(r["account_id"]), r["label"] or "-", bound or "-", str(r["created_at"]),
            str(r["revoked_at"] or "-"),
        )  # fmt: skip
    console.print(table)


@app.command("list-orgs")
@handle_errors
def list_orgs(data_dir: DataDirOpt = None, json_out: JsonOpt = False) -> None:
    """List organizations."""
    orgs = Principals(open_db(data_dir)).list_orgs()
    if json_out:
        print_json([o.to_dict() for o in orgs])
        return
    table = Table(title=f"{len(orgs)} organization{'s' * (len(orgs) != 1)}")
    for col in ("id", "name", "actor class", "created"):
        table.add_column(col)
    for o in orgs:
        table.add_row(o.id, o.name, o.actor_class, o.created_at)
    console.print(table)


@app.command("list-accounts")
@handle_errors
def list_accounts(
    org: Annotated[str | None, typer.Argument(help="Only this organization.")] = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List accounts with their roles and keys."""
    principals = Principals(open_db(data_dir))
    accounts = principals.list_accounts(org)
    keys = principals.list_keys()
    if json_out:
        print_json(
            [
                {
                    **a.to_dict(),
                    "keys": [k.to_dict() for k in keys if k.account_id == a.id],
                }
                for a in accounts
            ]
        )
        return
    table = Table(title=f"{len(accounts)} account{'s' * (len(accounts) != 1)}")
    for col in ("id", "org", "name", "roles", "keys (active/revoked)"):
        table.add_column(col)
    for a in accounts:
        mine = [k for k in keys if k.account_id == a.id]
        active = [k.key_id for k in mine if k.revoked_at is None]
        table.add_row(
            a.id,
            a.org_id,
            a.name,
            ", ".join(sorted(a.roles)),
            f"{', '.join(active) or '-'} / {len(mine) - len(active)}",
        )
    console.print(table)
