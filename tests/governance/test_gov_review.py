"""Two reviewers of the requester's organization, neither the requester, release a lead."""

from __future__ import annotations

import pytest
from tests_gov_helpers import ctx

from faceledger.governance.errors import ConflictError, ForbiddenError, NotFoundError

RESULTS = [{"face_id": "f1", "similarity": 99.4}, {"face_id": "f2", "similarity": 99.1}]

requester = ctx(principal="acct_req", roles=("operator",))
rev1 = ctx(principal="acct_rev1", roles=("reviewer",))
rev2 = ctx(principal="acct_rev2", roles=("reviewer",))
rev3 = ctx(principal="acct_rev3", roles=("reviewer",))
other_tenant_reviewer = ctx(principal="acct_x", tenant="org_b", roles=("reviewer",))


def events(auditlog, lead_id):
    return [
        (r.body["operation"], r.body["principal_id"], r.body["decision"]["allowed"])
        for r in auditlog.records()
        if r.body.get("lead_id") == lead_id
    ]


def test_two_confirmations_release(queue, auditlog):
    lead = queue.open(requester, "faces.search", RESULTS)
    assert lead.status == "pending" and lead.results is None  # the requester sees nothing yet
    assert queue.get(rev1, lead.id).results == RESULTS  # reviewers see what they review
    assert [x.id for x in queue.pending(rev1)] == [lead.id]
    after_one = queue.confirm(rev1, lead.id, "same person")
    assert after_one.status == "pending"
    assert queue.get(requester, lead.id).results is None
    assert queue.pending(rev1) == []  # already reviewed by rev1
    released = queue.confirm(rev2, lead.id)
    assert released.status == "released" and released.closed_at
    mine = queue.get(requester, lead.id)
    assert mine.results == RESULTS
    assert [r.reviewer_id for r in mine.reviews] == ["acct_rev1", "acct_rev2"]
    assert events(auditlog, lead.id) == [
        ("review.open", "acct_req", True),
        ("review.confirm", "acct_rev1", True),
        ("review.confirm", "acct_rev2", True),
    ]
    last = list(auditlog.records())[-1].body
    assert last["reviewers"] == ["acct_rev1", "acct_rev2"]
    assert last["outcome"]["status"] == "released"
    assert auditlog.verify().ok


def test_same_reviewer_twice_does_not_count(queue, auditlog):
    lead = queue.open(requester, "faces.search", RESULTS)
    queue.confirm(rev1, lead.id)
    with pytest.raises(ConflictError):
        queue.confirm(rev1, lead.id)
    with pytest.raises(ConflictError):
        queue.reject(rev1, lead.id)
    assert queue.get(requester, lead.id).status == "pending"
    assert events(auditlog, lead.id)[-1] == ("review.reject", "acct_rev1", False)


def test_requester_cannot_review_own_lead(queue, auditlog):
    both = ctx(principal="acct_both", roles=("operator", "reviewer"))
    lead = queue.open(both, "faces.search", RESULTS)
    assert queue.pending(both) == []
    with pytest.raises(ForbiddenError):
        queue.confirm(both, lead.id)
    queue.confirm(rev1, lead.id)
    with pytest.raises(ForbiddenError):
        queue.confirm(both, lead.id)
    assert queue.get(both, lead.id).status == "pending"
    assert queue.get(both, lead.id).results is None  # being a reviewer does not unlock own lead
    assert ("review.confirm", "acct_both", False) in events(auditlog, lead.id)


def test_one_rejection_closes(queue):
    lead = queue.open(requester, "faces.search", RESULTS)
    queue.confirm(rev1, lead.id)
    closed = queue.reject(rev2, lead.id, "different people")
    assert closed.status == "rejected"
    with pytest.raises(ConflictError):
        queue.confirm(rev3, lead.id)
    assert queue.get(requester, lead.id).results is None
    assert queue.pending(rev3) == []


def test_only_reviewers_review(queue):
    lead = queue.open(requester, "faces.search", RESULTS)
    operator = ctx(principal="acct_op2", roles=("operator",))
    with pytest.raises(ForbiddenError):
        queue.confirm(operator, lead.id)
    with pytest.raises(ForbiddenError):
        queue.pending(operator)
    with pytest.raises(ForbiddenError):
        queue.get(operator, lead.id)


def test_leads_are_tenant_isolated(queue, auditlog):
    lead = queue.open(requester, "faces.search", RESULTS)
    assert queue.pending(other_tenant_reviewer) == []
    with pytest.raises(NotFoundError):
        queue.get(other_tenant_reviewer, lead.id)
    with pytest.raises(NotFoundError):
        queue.confirm(other_tenant_reviewer, lead.id)
    denied = list(auditlog.records())[-1].body
    assert denied["tenant_id"] == "org_b" and not denied["decision"]["allowed"]
    assert denied["requester_id"] is None  # nothing about the other tenant's lead leaks
    assert auditlog.read("org_b").records[-1].body["lead_id"] == lead.id
    assert all(r.body["tenant_id"] == "org_a" for r in auditlog.read("org_a").records)
    queue.confirm(rev1, lead.id)
    queue.confirm(rev2, lead.id)
    other_requester = ctx(principal="acct_req", tenant="org_b")
    with pytest.raises(NotFoundError):
        queue.get(other_requester, lead.id)


def test_mine_lists_own_leads(queue):
    a = queue.open(requester, "faces.search", RESULTS)
    queue.open(ctx(principal="acct_other"), "faces.search", RESULTS)
    assert [x.id for x in queue.mine(requester)] == [a.id]
    assert queue.mine(requester, status="released") == []
