"""Options shared by the command groups that work on a data folder (collections, admin,
policy, audit-log, leads)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from faceledger.governance.auditlog import AuditLog
from faceledger.governance.db import GovernanceDB
from faceledger.governance.events import HostCommand
from faceledger.governance.paths import governance_db_path

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data folder (default: $FACELEDGER_HOME, else the platform's user data folder).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON.")]


def open_db(data_dir: Path | None) -> GovernanceDB:
    return GovernanceDB(governance_db_path(data_dir))


def local_principal() -> str:
    """Who ran a command on this host, as the audit log names them."""
    try:
        return f"local:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "local:unknown"


def log_local(
    db: GovernanceDB, operation: str, tenant_id: str | None, details: dict[str, Any]
) -> None:
    """An audit record for a host-level command (administration, export, verification)."""
    AuditLog(db).append(
        HostCommand(
            operation=operation,
            principal_id=local_principal(),
            tenant_id=tenant_id,
            details=details,
        )
    )
