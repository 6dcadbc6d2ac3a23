"""Identifiers and free text: one rule for the CLI, the API, the service and the store.

**Ids** (collections, users; face ids are generated): 1-255 ASCII letters, digits, ``_``,
``-``, ``:`` and ``.``, not starting with ``.`` (so never ``.`` or ``..``). ``case:42`` is an
id everywhere: made by the CLI, it is reachable over HTTP. :data:`ID_PATTERN` is the pattern for
FastAPI/pydantic; :func:`check_id` the check for Python code.

**Free text** (consent and authorization references, case references, external image ids, review
notes) goes through :func:`clean_text`: trimmed; refused when it holds a control, format
(invisible, bidirectional override), separator, private-use, surrogate or unassigned character
(Unicode categories Cc, Cf, Zl, Zp, Co, Cs, Cn), when it is longer than its bound, and when it
is blank (or, with ``blank="none"``, taken as not given). Such characters make one text show
as another (U+202E reverses what follows, U+200B is invisible), forge lines in logs and
terminals, or truncate at NUL in other tools; a reference that only looks like one is no record.

Errors are the library's :class:`~faceledger.errors.InvalidRequestError` (HTTP 422), or the
error class a caller passes (governance passes its ``InvalidArgumentError``, also 422).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from faceledger.errors import FaceledgerError, InvalidRequestError

ID_MAX = 255
ID_PATTERN = r"^[A-Za-z0-9_\-:][A-Za-z0-9_.\-:]{0,254}$"
"""Collection and user ids (a pattern for FastAPI ``Path``/``Query`` and pydantic ``Field``)."""
ID_RULE = "1-255 letters, digits, '_', '-', ':' or '.', not starting with '.'"
_ID = re.compile(ID_PATTERN)

MAX_REFERENCE = 200
"""Consent, case and authorization references, declared purposes."""
MAX_EXTERNAL_ID = 255
"""External image ids (by default an image's file name)."""
MAX_NOTE = 2000
"""Review notes."""

REFUSED_CATEGORIES: dict[str, str] = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Co": "a private-use character",
    "Cs": "a surrogate",
    "Cn": "an unassigned character",
}


def check_id(
    value: object, what: str, *, error: type[FaceledgerError] = InvalidRequestError
) -> str:
    """``value`` if it is a valid id, else ``error`` naming the rule."""
    # fullmatch: with match, '$' would also accept a final newline ("people\n")
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise error(f"invalid {what} {value!r}: use {ID_RULE}")
    return value


def clean_text(
    value: object,
    field: str,
    max_len: int = MAX_REFERENCE,
    *,
    blank: Literal["refuse", "none"] = "refuse",
    error: type[FaceledgerError] = InvalidRequestError,
) -> str | None:
    """``value`` trimmed, or ``error`` saying what to fix; None stays None.

    ``blank="refuse"`` (the default): an empty or whitespace-only value is an error (a value was
    given but says nothing); ``blank="none"``: it is taken as not given (None), as for an HTTP
    header or an environment variable left empty.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise error(f"{field} must be text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        if blank == "none":
            return None
        raise error(f"{field} is blank: give a value, or leave {field} out")
    if len(text) > max_len:
        raise error(f"{field} is {len(text)} characters long: shorten it to at most {max_len}")
    for i, char in enumerate(text):
        kind = REFUSED_CATEGORIES.get(unicodedata.category(char))
        if kind is not None:
            raise error(
                f"{field} contains {kind} (U+{ord(char):04X}) at position {i + 1}: use printable "
                "text on one line, without control, invisible or direction-changing characters"
            )
    return text


__all__ = [
    "ID_MAX",
    "ID_PATTERN",
    "ID_RULE",
    "MAX_EXTERNAL_ID",
    "MAX_NOTE",
    "MAX_REFERENCE",
    "REFUSED_CATEGORIES",
    "check_id",
    "clean_text",
]
