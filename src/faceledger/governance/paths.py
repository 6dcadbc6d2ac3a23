"""Where governance keeps its data: files inside the one data folder of
:func:`faceledger.settings.data_dir` (``--data-dir``, else ``$FACELEDGER_HOME``, else the
platform's user data folder), next to the face store.
"""

from __future__ import annotations

import os
from pathlib import Path

from faceledger.settings import HOME_ENV, data_dir

GOVERNANCE_FILE = "governance.sqlite3"
POLICY_FILE = "policy.yaml"

__all__ = [
    "GOVERNANCE_FILE",
    "HOME_ENV",
    "POLICY_FILE",
    "data_dir",
    "governance_db_path",
    "policy_path",
]


def governance_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The governance SQLite file (principals, review leads, audit log) in the data folder."""
    return data_dir(explicit) / GOVERNANCE_FILE


def policy_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where a deployment's own policy lives; the packaged default applies when it is absent."""
    return data_dir(explicit) / POLICY_FILE
