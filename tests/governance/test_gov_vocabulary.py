"""A closed vocabulary: a misspelled actor class, role or purpose never escapes the policy.

``law-enforcment`` used to be accepted as a new actor class, and the moratorium (written for
``law-enforcement``) did not apply to it: its criminal-investigation searches were allowed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from tests_gov_helpers import ctx
from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.governance import operations
from faceledger.governance.errors import InvalidArgumentError, PolicyError
from faceledger.governance.gate import GovernedGate
from faceledger.governance.policy import PolicyEngine, default_policy, parse_policy
from faceledger.governance.principals import Principals
from faceledger.service.faces import FaceService, PolicyDenied
from faceledger.store import SQLiteStore

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
ACTOR_CLASSES = (
    "law-enforcement",
    "child-protection",
    "research",
    "commercial",
    "public-sector",
    "nonprofit",
    "independent-tester",
    "camera-owner",
)
runner = CliRunner()


def test_the_vocabulary_is_the_default_policys():
    from faceledger.governance import vocabulary

    document = default_policy().document
    assert document.purposes == vocabulary.PURPOSES
    assert set(document.actor_classes) <= set(vocabulary.ACTOR_CLASSES) == set(ACTOR_CLASSES)
    assert vocabulary.ROLES == operations.ROLES == ("admin", "operator", "reviewer", "auditor")
    assert vocabulary.OPERATIONS == operations.KNOWN_OPERATIONS
    message = vocabulary.unknown_message("purpose", "zzz")
    assert message == f"unknown purpose 'zzz': known purposes: {', '.join(vocabulary.PURPOSES)}"


def test_unknown_names_are_refused_with_a_suggestion(db):
    principals = Principals(db)
    with pytest.raises(InvalidArgumentError) as info:
        principals.create_org("Precinct 9", "law-enforcment")
    message = str(info.value)
    assert "did you mean 'law-enforcement'?" in message
    assert all(name in message for name in ACTOR_CLASSES)
    assert principals.list_orgs() == []
    for actor_class in ACTOR_CLASSES:
        assert principals.create_org(f"org {actor_class}", actor_class).actor_class == actor_class
    with pytest.raises(InvalidArgumentError, match="did you mean 'operator'"):
        principals.create_account("org research", "bob", ["operater"])


def test_cli_refuses_a_misspelled_actor_class(tmp_path):
    data = ["--data-dir", str(tmp_path / "d")]
    result = runner.invoke(
        app, ["admin", "create-org", "X", "--actor-class", "law-enforcment", *data]
    )
    assert result.exit_code == 1
    assert "unknown actor class 'law-enforcment'" in result.output
    assert "did you mean 'law-enforcement'?" in result.output
    assert "child-protection" in result.output
    listed = runner.invoke(app, ["admin", "list-orgs", "--json", *data])
    assert listed.exit_code == 0 and listed.stdout.strip() == "[]"
    ok = runner.invoke(app, ["admin", "create-org", "X", "--actor-class", "camera-owner", *data])
    assert ok.exit_code == 0, ok.output
    bad_role = runner.invoke(
        app, ["admin", "create-account", "X", "bob", "--role", "reviwer", *data]
    )
    assert bad_role.exit_code == 1 and "did you mean 'reviewer'?" in bad_role.output


def test_an_unknown_actor_class_in_the_database_is_denied(db, auditlog, clock, engine, portraits,
                                                          tmp_path):  # fmt: skip
    """An organization row an older version wrote with a misspelled class: its criminal-
    investigation search is denied (not allowed as an unknown class used to be)."""
    db.connection().execute(
        "INSERT INTO orgs (id, name, actor_class, created_at) "
        "VALUES ('org_old', 'Old Precinct', 'law-enforcment', '2019-01-01T00:00:00Z')"
    )
    principals = Principals(db)
    account = principals.create_account("org_old", "officer", ["operator"])
    key = principals.create_key(account.id).api_key
    gate = GovernedGate(PolicyEngine.default(), auditlog, None, clock)
    store = SQLiteStore(tmp_path / "faces.sqlite3")
    service = FaceService(store, engine, gate)
    officer = replace(
        principals.authenticate(key), purpose="criminal-investigation", case_ref="CR-2024-1"
    )
    assert officer.actor_class == "law-enforcment"
    # the collection made as if the class were a known, consent-bound one
    setup = replace(officer, actor_class="research", purpose=None, case_ref=None)
    service.create_collection(setup, "suspects")
    service.index_faces(setup, "suspects", portraits[0], consent="consent-form-1")
    with pytest.raises(PolicyDenied) as info:
        service.search_faces_by_image(officer, "suspects", portraits[0])
    assert info.value.decision.rule == "unknown-actor-class"
    assert "law-enforcment" in info.value.decision.reason
    last = list(auditlog.records())[-1].body
    assert last["operation"] == "faces.search_by_image"
    assert last["decision"]["rule"] == "unknown-actor-class"
    with pytest.raises(PolicyDenied):  # everything else too, not only searches
        service.list_collections(officer)
    store.close()


@pytest.mark.parametrize("actor_class", ["law-enforcment", "Law-Enforcement", "", "police"])
def test_policy_denies_unknown_actor_classes_before_any_rule(actor_class):
    c = ctx(actor_class=actor_class, purpose="criminal-investigation", case_ref="C1")
    d = PolicyEngine.default().decide(c, "faces.search", {}, NOW)
    assert not d.allowed and d.rule == "unknown-actor-class"
    permissive = PolicyEngine.from_text(
        "version: 1\nrules:\n  - id: all\n    effect: allow\n    reason: All.\n"
    )
    assert permissive.decide(c, "faces.list", {}, NOW).rule == "unknown-actor-class"


def test_purposes_outside_the_vocabulary_are_denied_even_without_a_purposes_list():
    engine = PolicyEngine.from_text(
        "version: 1\nrules:\n  - id: all\n    effect: allow\n    reason: All.\n"
    )
    assert engine.decide(ctx(purpose="research"), "faces.list", {}, NOW).allowed
    d = engine.decide(ctx(purpose="curiosity"), "faces.list", {}, NOW)
    assert not d.allowed and d.rule == "unknown-purpose"


def policy_problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    return [str(i) for i in info.value.issues]


def test_policy_naming_an_unknown_actor_class_is_refused():
    """No ``actor_classes`` list in the file: the vocabulary still catches the typo."""
    problems = policy_problems(
        """version: 1
rules:
  - id: moratorium
    when: {actor_classes: [law-enforcment], operations: [faces.search]}
    effect: deny
    reason: Typo.
"""
    )
    assert len(problems) == 1
    assert problems[0].startswith("p.yaml:4:")
    assert "unknown actor class 'law-enforcment'" in problems[0]
    assert "did you mean 'law-enforcement'?" in problems[0]


def test_policy_lists_narrow_the_vocabulary_never_extend_it():
    problems = policy_problems(
        """version: 1
purposes:
  missing-person: Finding a missing person.
  curiosity: Just looking.
actor_classes: [law-enforcement, police]
rules:
  - id: a
    when: {purposes: [curiosity], roles: [operater], operations: [faces.serch]}
    effect: allow
    require: {purposes: [gossip]}
    reason: Typos.
"""
    )
    text = "\n".join(problems)
    assert "p.yaml:4:" in text and "unknown purpose 'curiosity'" in text
    assert "p.yaml:5:" in text and "unknown actor class 'police'" in text
    assert "unknown role 'operater': did you mean 'operator'?" in text
    assert "'faces.serch' matches no known operation (did you mean 'faces.search'?)" in text
    assert "unknown purpose 'gossip'" in text
