"""Where governance keeps its data.

Resolution order of the data folder: an explicit path (``--data-dir``), then
``$FACELEDGER_HOME``, then ``platformdirs.user_data_dir("faceledger")``. (The same order as the
store's settings; the two are to be unified.)
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "FACELEDGER_HOME"
GOVERNANCE_FILE = "governance.sqlite3"
POLICY_FILE = "policy.yaml"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder (not created here)."""
    if explicit:
        return Path(explicit).expanduser()
    if env := os.environ.get(HOME_ENV):
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("faceledger"))


def governance_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The governance SQLite file (principals, review leads, audit log) in the data folder."""
    return data_dir(explicit) / GOVERNANCE_FILE


def policy_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where a deployment's own policy lives; the packaged default applies when it is absent."""
    return data_dir(explicit) / POLICY_FILE
