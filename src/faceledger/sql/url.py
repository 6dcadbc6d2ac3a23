"""The one setting that moves faceledger to PostgreSQL: ``FACELEDGER_DATABASE_URL``."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from faceledger.errors import FaceledgerError

ENV = "FACELEDGER_DATABASE_URL"
SCHEMES = ("postgresql", "postgres")


def database_url(explicit: str | None = None) -> str | None:
    """The PostgreSQL URL the settings name, or ``None`` for the embedded SQLite files.

    Unset or empty (or ``sqlite:``) means SQLite in the data folder. Anything else must be a
    ``postgresql://`` URL; a typo is refused rather than silently falling back to SQLite.
    """
    url = explicit if explicit is not None else os.environ.get(ENV, "")
    url = url.strip()
    if not url or url.startswith("sqlite:"):
        return None
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme not in SCHEMES:
        raise FaceledgerError(
            f"{ENV} must be a postgresql://user@host/dbname URL (or empty for SQLite in the"
            f" data folder); got scheme {scheme or '(none)'!r}",
            code="invalid_settings",
        )
    return "postgresql://" + url.split("://", 1)[1]


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
