"""Where faceledger keeps its data: one setting shared by the CLI and the HTTP server.

Resolution order: an explicit path (``--data-dir``), then ``$FACELEDGER_HOME``, then the
platform's user data folder (``platformdirs.user_data_dir("faceledger")``, e.g.
``~/.local/share/faceledger`` on Linux).

The data folder holds faces, keys and the audit log: faceledger creates it readable by its
owner only (0700) and every file in it 0600, whatever the umask (:func:`private_dir`,
:func:`private_file`; SQLite gives a database's -wal and -shm files the database's mode). A
folder that exists already is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

HOME_ENV = "FACELEDGER_HOME"
MODEL_ENV = "FACELEDGER_MODEL"
SCORING_ENV = "FACELEDGER_SCORING"
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


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Settings:
    """Everything a front end decides about the deployment it opens (``runtime.Runtime``)."""

    data_dir: Path = field(default_factory=data_dir)
    policy_path: Path | None = None
    """The policy file; None: ``<data dir>/policy.yaml`` if present, else the packaged default."""
    detector: str = "auto"
    model: str | None = field(default_factory=lambda: os.environ.get(MODEL_ENV) or None)
    """A model added with ``faceledger model add`` (its name or ``user:NAME``) to embed with;
    None: the shipped dlib network. Collections created are of its model id."""
    engine_threads: int | None = None
    """Threads of the networks (onnxruntime) per process; None: every CPU the process may use.
    ``faceledger serve --workers N`` gives each process its share (``api.serving``)."""
    scoring: str | None = field(default_factory=lambda: os.environ.get(SCORING_ENV) or None)
    """A normalised scoring fitted by ``faceledger model normalize`` (its id or digest) for the
    model: collections created are of the scoring's id, compare and search use its scores.
    None: raw distances."""
    clock: Callable[[], datetime] = _utc_now
    """Time as the policy sees it (tests inject one)."""

    @classmethod
    def resolve(cls, explicit: str | os.PathLike[str] | None = None, **options: object) -> Settings:
        """Settings for the data folder ``explicit`` (else ``$FACELEDGER_HOME``, else the user
        data folder)."""
        policy = options.pop("policy_path", None)
        if options.get("model") is None:
            options.pop("model", None)  # not chosen here: $FACELEDGER_MODEL, else the built-in
        if options.get("scoring") is None:
            options.pop("scoring", None)  # not chosen here: $FACELEDGER_SCORING, else raw
        return cls(
            data_dir=data_dir(explicit),
            policy_path=Path(policy) if policy is not None else None,  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )

    def ensure_data_dir(self) -> Path:
        """The data folder, created 0700 if missing (:func:`private_dir`)."""
        return private_dir(self.data_dir)


def private_dir(path: str | os.PathLike[str]) -> Path:
    """The folder, created (with its parents) if missing; created here, it is 0700."""
    path = Path(path)
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is subject to the umask
    return path


def private_file(path: str | os.PathLike[str]) -> Path:
    """The file, created empty and 0600 if missing (an empty file is an empty SQLite database,
    so creating it before SQLite does sets the mode of the database and its -wal and -shm)."""
    path = Path(path)
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path
