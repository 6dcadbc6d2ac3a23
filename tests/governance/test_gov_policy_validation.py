"""A policy file that is wrong says where: file, line and column of each problem."""

from __future__ import annotations

import pytest

from faceledger.governance.errors import PolicyError
from faceledger.governance.policy import default_policy_text, load_policy, parse_policy


def issues(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    return [(i.line, str(i)) for i in info.value.issues]


def test_default_policy_is_valid():
    policy = parse_policy(default_policy_text())
    assert policy.rules[0].id == "auditors-read-the-log"
    assert len(policy.sha256) == 64


def test_unknown_and_missing_fields_point_at_their_lines():
    found = issues(
        """version: 1
rules:
  - id: a
    when: {operations: [faces.list]}
    efect: allow
    reason: Typo.
"""
    )
    lines = dict(found)
    assert 5 in lines and "unknown field 'efect'" in lines[5]
    assert 3 in lines and "missing field 'effect'" in lines[3]
    assert all(text.startswith("p.yaml:") for _, text in found)


def test_typos_in_names_are_caught_with_lines():
    found = issues(
        """version: 1
purposes:
  missing-person: Finding a missing person.
actor_classes: [law-enforcement]
rules:
  - id: a
    when:
      operations: [faces.serch]
      purposes: [missing-persons]
      actor_classes: [law-enforcment]
      roles: [auditr]
    effect: allow
    reason: Typos.
"""
    )
    by_line = dict(found)
    assert "faces.serch" in by_line[8]
    assert "missing-persons" in by_line[9]
    assert "law-enforcment" in by_line[10]
    assert "auditr" in by_line[11]


def test_bad_values_point_at_the_value():
    text = """version: 1
rules:
  - id: a
    when:
      during: {start: 2024-02-01, end: 2024-01-01}
    effect: allow
    min_similarity: 120
    max_results: 0
    rate_limit: {requests: 5, per: fortnight}
    reason: Bad values.
"""
    lines = [line for line, _ in issues(text)]
    assert lines == [5, 7, 8, 9]


def test_duplicate_ids_keys_and_unreachable_rules():
    dup_id = issues(
        """version: 1
rules:
  - id: a
    effect: deny
    reason: Everything.
  - id: a
    when: {operations: [faces.list]}
    effect: allow
    reason: Never reached.
"""
    )
    texts = [t for _, t in dup_id]
    assert any("duplicate rule id 'a'" in t and t.startswith("p.yaml:6:") for t in texts)
    assert any("unreachable" in t for t in texts)
    dup_key = issues("version: 1\nrules:\n  - id: a\n    id: b\n    effect: deny\n    reason: X.\n")
    assert dup_key[0][0] == 4 and "duplicate key 'id'" in dup_key[0][1]


def test_deny_rule_with_obligations_is_an_error():
    found = issues(
        """version: 1
rules:
  - id: a
    effect: deny
    review: true
    min_similarity: 99
    reason: Confused.
"""
    )
    assert [line for line, _ in found] == [5, 6]


def test_yaml_syntax_error_has_a_line():
    found = issues("version: 1\nrules:\n  - id: [a\n    effect: deny\n")
    assert found[0][0] is not None and "YAML" in found[0][1]


def test_wrong_version_and_shape():
    assert "version" in issues("version: 2\nrules: []\n")[0][1]
    assert issues("- just a list\n")[0][0] == 1


def test_load_policy_reports_missing_file(tmp_path):
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)


def test_yaml_anchors_and_merge_keys_work():
    policy = parse_policy(
        """version: 1
rules:
  - &base
    id: a
    when: {operations: [faces.list]}
    effect: allow
    reason: Base.
  - <<: *base
    id: b
    when: {operations: [faces.delete]}
"""
    )
    assert [r.id for r in policy.rules] == ["a", "b"]
