"""Where faceledger keeps its data: one setting shared by the CLI and the HTTP server.

Resolution order: an explicit path (``--data-dir``), then ``$FACELEDGER_HOME``, then the
platform's user data folder (``platformdirs.user_data_dir("faceledger")``, e.g.
``~/.local/share/faceledger`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "FACELEDGER_HOME"
STORE_FILE = "faceledger.sqlite3"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder (not created here)."""
    if explicit:
        return Path(explicit).expanduser()
    if env := os.environ.get(HOME_ENV):
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("faceledger"))


def store_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The SQLite file of the embedded store inside the data folder."""
    return data_dir(explicit) / STORE_FILE
