"""The server's access log without secrets.

uvicorn writes every request line to its access log, query string included, so a key sent as
``?api_key=flk_...`` (the API never reads keys from the query, but clients try) would be kept in
clear in whatever collects the server's output. :class:`RedactSecrets` rewrites the path of
each access record before it is formatted: the value of every query parameter whose name looks
like a credential (``key``, ``token``, ``secret``, ``password``, ``auth``, ``signature``,
``session``, ``credential``) becomes ``REDACTED``, and so does the secret part of anything shaped
like an API key, wherever it is in the path or query.

``faceledger serve`` installs it (:func:`log_config`). Embedders running uvicorn themselves
can pass ``log_config=faceledger.api.accesslog.log_config()`` to ``uvicorn.run``, or attach the
filter to their access handler.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

REDACTED = "REDACTED"
SENSITIVE_NAME = re.compile(
    r"key|token|secret|passw|pwd|auth|signature|sig$|session|credential|cookie", re.IGNORECASE
)
_API_KEY = re.compile(r"(flk_[0-9A-Za-z]{1,32}_)[^\s/?&#;]+")


def redact(path_with_query: str) -> str:
    """``path?query`` with credential-like query values and API-key secrets replaced."""
    path, sep, query = path_with_query.partition("?")
    path = _API_KEY.sub(rf"\1{REDACTED}", path)
    if not sep:
        return path
    parts = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if eq and (SENSITIVE_NAME.search(unquote_plus(name)) or "flk_" in unquote_plus(value)):
            part = f"{name}={REDACTED}"
        parts.append(_API_KEY.sub(rf"\1{REDACTED}", part))
    return f"{path}?{'&'.join(parts)}"


class RedactSecrets(logging.Filter):
    """A filter for uvicorn's access records (arguments: client, method, path with query,
    HTTP version, status); other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, with :class:`RedactSecrets` on its access
    handler, and faceledger's own messages (the video worker's: jobs queued again after a
    restart, jobs continued from a checkpoint) on its default handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    access = config["handlers"]["access"]
    access["filters"] = [*access.get("filters", []), "redact_secrets"]
    config["loggers"]["faceledger"] = {"handlers": ["default"], "level": "INFO",
                                       "propagate": False}  # fmt: skip
    return config
