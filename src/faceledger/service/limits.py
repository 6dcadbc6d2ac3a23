"""Limits and defaults of the face service's requests."""

from __future__ import annotations

MAX_RESULTS = 4096
DEFAULT_MAX_RESULTS = 10
DEFAULT_MAX_FACES = 100
MAX_RETENTION_DAYS = 36_500
ONE_TO_MANY_COMPARE = "compare.one_to_many"
"""A compare whose target holds more than one face: identification, decided as such."""
