"""What must never be in an audit record: embeddings, image bytes, anything that looks like them.

Records hold SHA-256s of images, ids, similarities and counts. :func:`biometric_leaks` scans a
record's JSON for what would betray a leak: a run of many numbers (an embedding or a landmark
array), a long base64 or hex string that is not a SHA-256 (encoded pixels or vectors), or the
magic bytes of an image format. The test suite runs it over every record that every test wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

MAX_NUMBERS = 16
"""A list of more numbers than this is treated as a vector (an embedding has 128)."""
MAX_OPAQUE = 120
"""A base64- or hex-looking string longer than this is treated as encoded data."""
_OPAQUE = re.compile(r"^[A-Za-z0-9+/=_\-]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAGIC = ("/9j/", "iVBORw0KGgo", "UklGR", "R0lGOD", "\xff\xd8\xff", "\x89PNG")


def biometric_leaks(value: Any, path: str = "$") -> list[str]:
    """Where in ``value`` (a record body) something looks like biometric data; [] if clean."""
    return list(_scan(value, path))


def _scan(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _scan(v, f"{path}.{k}")
    elif isinstance(value, list):
        numbers = sum(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        if numbers > MAX_NUMBERS:
            yield f"{path}: a list of {numbers} numbers (an embedding?)"
        for i, v in enumerate(value):
            yield from _scan(v, f"{path}[{i}]")
    elif isinstance(value, str):
        if any(m in value for m in _MAGIC):
            yield f"{path}: image bytes"
        elif len(value) > MAX_OPAQUE and _OPAQUE.match(value) and not _SHA256.match(value):
            yield f"{path}: {len(value)} characters of encoded data"
