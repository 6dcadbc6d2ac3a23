"""The accountability report, generated from a real run of a demo deployment (real engine,
portraits, default policy, audit log), through ``faceledger report accountability`` as an
auditor; every count of report.json is recomputed here from the audit log independently, and
report.html is checked with an HTML parser (self-contained, every section, every rule)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceledger.cli import app
from faceledger.fairness.audit import AuditResult, global_thresholds
from faceledger.fairness.datasets import AuditSet
from faceledger.fairness.metrics import evaluate, overall_rates
from faceledger.fairness.pairs import score_set
from faceledger.fairness.report import write as write_fairness
from faceledger.governance.auditlog import AuditLog
from faceledger.governance.context import RequestContext
from faceledger.governance.db import GovernanceDB
from faceledger.governance.policy import PolicyEngine
from faceledger.runtime import Runtime
from faceledger.service.faces import PolicyDenied, ResultsWithheld
from faceledger.settings import Settings

NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
START, END = "2024-05-01T00:00:00.000000Z", "2024-06-01T00:00:00.000000Z"
runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def new(ctx: RequestContext, **declared: object) -> RequestContext:
    """The same principal, a new request (its own request id)."""
    return replace(ctx, request_id=uuid.uuid4().hex, **declared)


def fairness_audit(folder: Path) -> Path:
    """A real (small) fairness audit: synthetic embeddings through the audit's own scoring,
    thresholds, per-group rates with bootstrap CIs, and report writer."""
    rng = np.random.default_rng(3)
    n_subjects, per = 80, 2
    subj = np.repeat(np.arange(n_subjects), per)
    centres = rng.normal(size=(n_subjects, 128)) * 0.035
    emb = (centres[subj] + rng.normal(size=(len(subj), 128)) * 0.025).astype(np.float32)
    gender = [["Female", "Male"][k % 2] for k in subj]
    audit_set = AuditSet(
        "congress", folder, [f"{k}.jpg" for k in range(len(subj))],
        [f"s{k}" for k in subj], {"gender": gender},
    )  # fmt: skip
    scores = score_set(audit_set, emb, keep_similarity=0)
    thresholds = global_thresholds([scores])
    named = {k: v["distance"] for k, v in thresholds.items()}
    ev = evaluate(scores, ("gender",), named, bootstrap=30)
    ev["overall"] = {k: overall_rates(scores, d) for k, d in named.items()}
    result = AuditResult(
        thresholds=thresholds, datasets={}, evaluations=[ev], curves={},
        settings={"datasets": ["congress"], "bootstrap": 30, "seed": 0,
                  "model": "dlib-resnet-v1+tta6"},
    )  # fmt: skip
    return write_fairness(result, folder, save_pngs=False)["json"]


@pytest.fixture()
def deployment(tmp_path: Path, engine, portraits):
    """A law-enforcement organization's month: enrolment with consent, searches allowed and
    denied, a lead released and one rejected, a consent withdrawn, a retention purge, a lead
    opened in April and rejected in May; and a second organization whose records must stay out
    of the first one's report."""
    clock = Clock()
    root = tmp_path / "data"
    rt = Runtime.open(Settings(data_dir=root, clock=clock), engine=engine)
    p = rt.principals
    org = p.create_org("county-sheriff", "law-enforcement")
    keys, ctxs = {}, {}
    for name, roles in [("op", ["operator"]), ("rev1", ["reviewer"]), ("rev2", ["reviewer"]),
                        ("aud", ["auditor"])]:  # fmt: skip
        acct = p.create_account(org.id, name, roles)
        keys[name] = p.create_key(acct.id).api_key
        ctxs[name] = RequestContext(acct.id, org.id, "law-enforcement", frozenset(roles))
    declared = dict(
        purpose="missing-person", case_ref="MP-2024-17", authorization_ref="W-1",
        authorization_date=date(2024, 4, 28),
    )  # fmt: skip
    op = new(ctxs["op"], **declared)
    svc = rt.faces
    clock.now = datetime(2024, 4, 29, 9, 0, tzinfo=UTC)  # before the period
    svc.create_collection(new(op), "april")
    svc.index_faces(new(op), "april", portraits[3])
    with pytest.raises(ResultsWithheld) as april:
        svc.search_faces_by_image(new(op), "april", portraits[3], threshold=0)
    clock.now = NOW
    svc.create_collection(new(op), "missing")
    svc.create_collection(new(op), "short", retention_days=1)
    consent = svc.record_consent(new(op), "family of P-1", collections=["missing"]).result
    svc.index_faces(new(op), "missing", portraits[0], consent=consent.consent_id)
    svc.index_faces(new(op), "missing", portraits[1])
    svc.index_faces(new(op), "short", portraits[2])
    leads = []
    for probe in (portraits[0], portraits[1]):
        with pytest.raises(ResultsWithheld) as held:
            svc.search_faces_by_image(new(op), "missing", probe, threshold=0)
        leads.append(held.value.lead.id)
    with pytest.raises(PolicyDenied):  # the moratorium
        criminal = new(op, purpose="criminal-investigation")
        svc.search_faces_by_image(criminal, "missing", portraits[0])
    with pytest.raises(PolicyDenied):  # no case reference
        svc.search_faces_by_image(new(op, case_ref=None), "missing", portraits[0])
    gov = rt.governance
    clock.advance(hours=2)
    gov.review(new(ctxs["rev1"]), leads[0], "confirm")
    clock.advance(hours=3)
    gov.review(new(ctxs["rev2"]), leads[0], "confirm")  # released 5 h after it was held
    clock.advance(hours=1)
    gov.review(new(ctxs["rev1"]), leads[1], "reject")  # rejected 6 h after
    gov.review(new(ctxs["rev2"]), april.value.lead.id, "reject")  # 48 h + 6 h after
    svc.withdraw_consent(new(op), consent.consent_id)
    clock.advance(days=2)
    svc.purge_due(new(op))  # the face in "short" is due
    with pytest.raises(PolicyDenied):  # an operator may not make the report
        svc.accountability_report(new(op), start="2024-05-01", end="2024-05-31")
    clock.now = datetime(2024, 6, 3, tzinfo=UTC)  # after the period: left out
    svc.list_collections(new(op))
    other = p.create_org("shop", "commercial")
    acct = p.create_account(other.id, "op", ["operator"])
    octx = RequestContext(acct.id, other.id, "commercial", frozenset({"operator"}))
    clock.now = NOW
    svc.create_collection(new(octx), "door")
    rt.close()
    fairness = fairness_audit(tmp_path / "fairness")
    return {"root": root, "org": org, "keys": keys, "leads": leads, "fairness": fairness}


def recount(records: list[dict], tenant: str | None) -> dict:
    """Every count of the report, straight from the log, written without the report's code."""
    from faceledger.governance.operations import FACE_OPERATIONS, IDENTIFICATION_OPERATIONS

    mine = [r for r in records
            if tenant in (None, r.get("tenant_id")) and START <= r["at"] < END]  # fmt: skip
    requests = [r for r in mine if r["kind"] == "request"]
    face = [r for r in requests if r["operation"] in FACE_OPERATIONS]
    done = [r for r in requests if r["outcome"]["status"] == "ok"]
    by_purpose: dict[tuple[str, bool], int] = {}
    for r in face:
        key = (r.get("purpose") or "(none declared)", r["decision"]["allowed"])
        by_purpose[key] = by_purpose.get(key, 0) + 1
    by_rule: dict[tuple[str, bool], int] = {}
    for r in requests:
        key = (r["decision"]["rule"], r["decision"]["allowed"])
        by_rule[key] = by_rule.get(key, 0) + 1
    opened = {r["lead_id"]: r["at"] for r in mine if r["operation"] == "review.open"}
    ever_opened = {  # leads decided in the period may have been opened before it
        r["lead_id"]: r["at"]
        for r in records
        if tenant in (None, r.get("tenant_id")) and r["operation"] == "review.open"
    }
    closing = {
        r["lead_id"]: (r["outcome"]["status"], r["at"])
        for r in mine
        if r["kind"] == "review" and r["outcome"]["status"] in ("released", "rejected")
    }

    def hours(lead: str) -> float:
        t = [datetime.fromisoformat(x.replace("Z", "+00:00")) for x in (ever_opened[lead],
             closing[lead][1])]  # fmt: skip
        return (t[1] - t[0]).total_seconds() / 3600

    def faces_of(op: str) -> int:
        return sum(r["outcome"].get("count", 0) for r in done if r["operation"] == op)

    return {
        "records": len(mine),
        "uses": (len(face), sum(r["decision"]["allowed"] for r in face)),
        "identification": sum(r["operation"] in IDENTIFICATION_OPERATIONS for r in requests),
        "withheld": sum(r["outcome"]["status"] == "withheld" for r in requests),
        "by_purpose": by_purpose,
        "by_rule": by_rule,
        "leads": (
            len(opened),
            [s for s, _ in closing.values()].count("released"),
            [s for s, _ in closing.values()].count("rejected"),
        ),  # fmt: skip
        "hours": sorted(hours(lead) for lead in closing),
        "enrolled": sum(
            len(r["outcome"]["face_ids"]) for r in done if r["operation"] == "faces.index"
        ),  # fmt: skip
        "purged": faces_of("retention.purge"),
        "withdrawn": sum(r["operation"] == "consent.withdraw" for r in done),
        "withdrawn_faces": faces_of("consent.withdraw"),
        "consents": sum(r["operation"] == "consent.record" for r in done),
    }


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.rule_rows = 0
        self._table: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "table":
            self._table = a.get("id")
        if tag == "tr" and self._table == "rules" and a.get("class") in ("allow", "deny"):
            self.rule_rows += 1
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag in ("link", "a", "script", "iframe") or (a.get("href") or "").startswith("http"):
            self.links.append(f"{tag} {a}")


def test_report_counts_match_the_log_and_the_html_is_self_contained(
    deployment, tmp_path, monkeypatch
):
    out = tmp_path / "report"
    result = runner.invoke(app, [
        "report", "accountability", "--from", "2024-05-01", "--to", "2024-05-31",
        "--out", str(out), "--fairness", str(deployment["fairness"]),
        "--feedback", "Write to accountability@county.example", "--api-key",
        deployment["keys"]["aud"], "--data-dir", str(deployment["root"]),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    root = deployment["root"]
    log = AuditLog(GovernanceDB(root / "governance.sqlite3"))
    records = [r.body for r in log.records()]
    want = recount(records, deployment["org"].id)

    # the scenario, as it happened
    # released/rejected: decided in the period, the April lead included
    assert want["leads"] == (2, 1, 2) and want["hours"] == [5.0, 6.0, 54.0]
    assert want["purged"] == 1 and want["withdrawn"] == 1 and want["withdrawn_faces"] == 1
    assert want["enrolled"] == 3 and want["withheld"] == 2
    # ... and the report, count by count
    assert report["audit_records"]["count"] == want["records"]
    assert (report["uses"]["total"], report["uses"]["allowed"]) == want["uses"]
    assert report["uses"]["denied"] == want["uses"][0] - want["uses"][1] == 2
    assert report["identification"]["requests"] == want["identification"] == 4
    assert report["identification"]["withheld_for_review"] == want["withheld"]
    got = {(r["name"], a): r["allowed" if a else "denied"]
           for r in report["uses"]["by_purpose"] for a in (True, False)}  # fmt: skip
    assert {k: v for k, v in got.items() if v} == want["by_purpose"]
    got = {(r["rule"], a): r["allowed" if a else "denied"]
           for r in report["decisions_by_rule"] for a in (True, False)}  # fmt: skip
    assert {k: v for k, v in got.items() if v} == want["by_rule"]
    assert want["by_rule"][("law-enforcement-search-moratorium", False)] == 1
    assert want["by_rule"][("law-enforcement-identification", False)] == 1
    assert want["by_rule"][("role-required", False)] == 1  # the operator asking for a report
    rv = report["review"]
    assert (rv["leads_opened"], rv["released"], rv["rejected"]) == want["leads"]
    assert rv["hours_to_decision"]["values"] == want["hours"]
    assert rv["hours_to_decision"]["median"] == 6.0 and rv["pending_at_end"] == 0
    assert rv["decided_opened_earlier"] == 1 and "decided within the period" in rv["rule"]
    data = report["data"]
    assert data["enrolled_faces"] == want["enrolled"]
    routes = {r["operation"]: r["faces"] for r in data["deleted_by_route"]}
    assert routes["retention.purge"] == want["purged"] and data["retention_purges"] == 1
    assert routes["consent.withdraw"] == want["withdrawn_faces"]
    assert data["deleted_faces"] == want["purged"] + want["withdrawn_faces"]
    # the April face is held too
    assert data["held_now"]["faces"] == want["enrolled"] - data["deleted_faces"] + 1 == 2
    assert data["purged_by_reason"] and sum(data["purged_by_reason"].values()) == 1
    assert report["consent"] == {"recorded": want["consents"], "withdrawn": want["withdrawn"],
                                 "faces_deleted_by_withdrawal": want["withdrawn_faces"],
                                 "erasures": 0}  # fmt: skip
    # one organization only; the period excludes June
    assert [r["name"] for r in report["uses"]["by_organization"]] == ["county-sheriff"]
    assert "collection.list" not in {r["name"] for r in report["uses"]["by_operation"]}
    # system, policy and fairness
    policy = PolicyEngine.default().policy
    assert report["policy"]["sha256"] == policy.sha256
    assert [r["id"] for r in report["policy"]["rules"]] == [r.id for r in policy.rules]
    moratorium = next(r for r in report["policy"]["rules"] if r["id"].endswith("moratorium"))
    assert "refused" in moratorium["text"] and "2020-06-10" in moratorium["text"]
    assert report["system"]["model_id"] == "dlib-resnet-v1+tta6"
    fair = report["fairness"]
    digest = hashlib.sha256(deployment["fairness"].read_bytes()).hexdigest()
    assert fair["available"] and fair["sha256"] == digest
    assert fair["thresholds"] == ["similarity=99"]  # the policy's floor
    (table,) = fair["tables"]
    assert [r["group"] for r in table["rows"]] == ["Female", "Male"]
    assert all(r["fmr_ci"] is not None for r in table["rows"])
    assert any("Children" in line and "unknown" in line for line in fair["limitations"])
    assert any("highest FMR" in line for line in fair["limitations"])
    assert report["feedback"] == "Write to accountability@county.example"
    # the request itself is recorded: who, the period, the fairness audit's digest
    (rec,) = [r for r in AuditLog(log.db).records() if r.body["operation"] ==
              "report.accountability" and r.body["decision"]["allowed"]]  # fmt: skip
    assert rec.body["request"]["fairness_sha256"] == digest
    assert rec.body["outcome"]["count"] == want["records"]
    assert rec.body["request"]["period_start"] == START

    # an operator's key is refused (and recorded); without a fairness audit the report says so
    base = ["report", "accountability", "--from", "2024-05-01", "--to", "2024-05-01",
            "--data-dir", str(root)]  # fmt: skip
    refused = runner.invoke(app, [*base, "--out", str(tmp_path / "no"),
                                  "--api-key", deployment["keys"]["op"]])  # fmt: skip
    assert refused.exit_code == 1 and "role-required" in refused.output
    assert not (tmp_path / "no").exists()
    monkeypatch.chdir(tmp_path)  # no fairness-audit/ here nor in the data folder
    bare = runner.invoke(app, [*base, "--out", str(tmp_path / "bare"),
                               "--api-key", deployment["keys"]["aud"]])  # fmt: skip
    assert bare.exit_code == 0, bare.output
    unmeasured = json.loads((tmp_path / "bare" / "report.json").read_text())["fairness"]
    assert not unmeasured["available"] and "unmeasured" in unmeasured["limitations"][0]

    # the host's report of the whole deployment: both organizations
    whole = runner.invoke(app, [*base[:5], "2024-05-31", "--data-dir", str(root), "--out",
                                str(tmp_path / "all"), "--deployment"])  # fmt: skip
    assert whole.exit_code == 0, whole.output
    everything = json.loads((tmp_path / "all" / "report.json").read_text())
    want_all = recount([r.body for r in log.records()], None)
    assert everything["audit_records"]["count"] == want_all["records"]
    assert (everything["uses"]["total"], everything["uses"]["allowed"]) == want_all["uses"]
    orgs = {r["name"]: r["total"] for r in everything["uses"]["by_organization"]}
    assert orgs == {"county-sheriff": want["uses"][0], "shop": 1}
    (host,) = [r.body for r in log.records() if r.body["kind"] == "admin"
               and r.body["operation"] == "report.accountability"]  # fmt: skip
    assert host["scope"] == "deployment" and host["records"] == want_all["records"]

    page = Page()
    page.feed((out / "report.html").read_text())
    for section in ("system", "policy", "uses", "decisions", "review", "data", "consent",
                    "fairness", "limitations", "feedback", "rules"):  # fmt: skip
        assert section in page.ids, section
    assert page.rule_rows == len(policy.rules)
    assert len(page.images) >= 5
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.links == [], "the report must not fetch or link anything"
