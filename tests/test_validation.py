"""One id rule and one free-text rule for the CLI, the API, the service and the store."""

from __future__ import annotations

import pytest

from faceledger.cli.principal import Who, context
from faceledger.governance.db import GovernanceDB
from faceledger.governance.errors import InvalidArgumentError
from faceledger.governance.principals import Principals
from faceledger.store import InvalidRequestError, SQLiteStore
from faceledger.store.base import InvalidRequestError as StoreInvalidRequestError

BAD_TEXT = [
    " ",
    "\t",
    "\x00",
    "\u200b",
    "\u202e",
    "C-1\u202e7",
    "ab\x00cd",
    "a\nb",
    "\u2028x\u2028y",
]
"""Blank, tab, NUL, zero-width space, right-to-left override, and such characters inside."""


def test_one_error_class_for_invalid_requests():
    from faceledger.errors import InvalidRequestError as LibraryInvalidRequestError

    assert InvalidRequestError is StoreInvalidRequestError is LibraryInvalidRequestError


@pytest.mark.parametrize("value", BAD_TEXT)
def test_clean_text_refuses_blank_control_and_format_characters(value):
    from faceledger.validation import clean_text

    with pytest.raises(InvalidRequestError) as info:
        clean_text(value, "consent")
    message = str(info.value)
    assert message.startswith("consent ")
    assert "blank" in message or "U+" in message


def test_clean_text_trims_bounds_and_takes_blank_as_absent_when_asked():
    from faceledger.validation import clean_text

    assert clean_text(None, "consent") is None
    assert clean_text("  form 12 / 2024  ", "consent") == "form 12 / 2024"
    assert clean_text("Zoé Ünal, dossier nº 7", "note") == "Zoé Ünal, dossier nº 7"
    assert clean_text(" \t ", "X-Case-Ref", blank="none") is None
    assert clean_text("x" * 200, "consent", 200) == "x" * 200
    with pytest.raises(InvalidRequestError, match="at most 200"):
        clean_text("x" * 201, "consent", 200)
    with pytest.raises(InvalidArgumentError, match="must be text"):
        clean_text(42, "note", error=InvalidArgumentError)


@pytest.mark.parametrize("bad", [".", "..", ".hidden", "", "a/b", "a b", "people\n", "x" * 256])
def test_ids_refused_by_the_store(tmp_path, bad):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    try:
        with pytest.raises(InvalidRequestError):
            store.create_collection("t1", bad, "m1")
        store.create_collection("t1", "people", "m1")
        with pytest.raises(InvalidRequestError):
            store.create_user("t1", "people", bad)
    finally:
        store.close()


def test_id_pattern_is_one_rule():
    import re

    from faceledger.api.routes.common import ID_PATTERN as API_ID_PATTERN
    from faceledger.validation import ID_PATTERN, check_id

    assert API_ID_PATTERN == ID_PATTERN
    for good in ["case:42", "a.b", "x-1_2", "A" * 255, "0", "-x", ":x"]:
        assert check_id(good, "id") == good and re.fullmatch(ID_PATTERN, good)
    for bad in [".", "..", ".x", "a b", "é"]:
        assert not re.fullmatch(ID_PATTERN, bad)


@pytest.mark.parametrize("field", ["purpose", "case_ref", "authorization_ref"])
def test_cli_declarations_are_checked_like_the_headers(tmp_path, field):
    db = GovernanceDB(tmp_path / "g.sqlite3")
    principals = Principals(db)
    org = principals.create_org("Acme", "commercial")
    account = principals.create_account(org.id, "op", ["operator"])
    key = principals.create_key(account.id).api_key
    try:
        with pytest.raises(InvalidArgumentError, match="U\\+202E"):
            context(principals, key, Who(**{field: "C-1\u202e7"}))
        ctx = context(principals, key, Who(**{field: "  C-17 "}))
        assert getattr(ctx, field) == "C-17"
        assert getattr(context(principals, key, Who(**{field: " "})), field) is None
    finally:
        db.close()
