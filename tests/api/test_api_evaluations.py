"""Independent testing over HTTP: an independent-tester organization uploads its own set of
Congress portraits (genuine pairs: flipped, cropped and rescaled versions of each portrait;
groups: the gender the Congress data lists) and gets 1:1 and 1:N rates per group with
confidence intervals; nothing uploaded stays in the data folder; testers reach no other data;
the requests are rate-limited and audited with counts and SHA-256s only."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from api_helpers import make_world, upload
from PIL import Image, ImageOps

from faceledger.governance import Principals
from faceledger.governance.privacy import biometric_leaks
from testdata import portrait_genders

MARK = "tester-subject-"
"""Subject names in the uploaded manifests: they must appear nowhere in the data folder."""


def variants(path: Path) -> dict[str, bytes]:
    """The portrait and three versions of it: mirrored, cropped to 85 %, rescaled to 70 %."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    out = {"orig": img, "flip": ImageOps.mirror(img)}
    out["crop"] = img.crop((int(w * 0.075), int(h * 0.075), int(w * 0.925), int(h * 0.925)))
    out["small"] = img.resize((int(w * 0.7), int(h * 0.7)))
    encoded = {}
    for name, im in out.items():
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=92)
        encoded[name] = buf.getvalue()
    return encoded


def archive(rows: list[tuple[str, str, str, bytes, str | None]]) -> bytes:
    """A zip: manifest.csv (path, subject, gender[, role]) and the images."""
    with_role = any(r[4] for r in rows)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        header = "path,subject,gender" + (",role" if with_role else "")
        lines = [header] + [
            f"{p},{s},{g}" + (f",{role}" if with_role else "") for p, s, g, _, role in rows
        ]
        z.writestr("set/manifest.csv", "\n".join(lines) + "\n")
        for p, _, _, data, _ in rows:
            z.writestr(f"set/{p}", data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def portrait_set() -> list[tuple[str, str, str, dict[str, bytes]]]:
    return [
        (f"{MARK}{k}", path.stem, gender, variants(path))
        for k, (path, gender) in enumerate(sorted(portrait_genders().items()))
    ]


@pytest.fixture
def world(tmp_path, engine):
    w = make_world(tmp_path, engine, actor_class="independent-tester")
    p = Principals(w.db)
    shop = p.create_org("shop", "commercial")
    acct = p.create_account(shop.id, "op", ["operator"])
    w.shop_key = p.create_key(acct.id).api_key
    with w.client:
        yield w
    w.app.state.close()
    w.db.close()


def data_folder_bytes(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in root.rglob("*") if f.is_file()}


def test_tester_measures_1to1_per_gender_and_nothing_is_kept(world, engine, portrait_set):
    c = world.client
    shop = {"Authorization": f"Bearer {world.shop_key}", "X-Purpose": "access-control"}
    r = c.post("/v1/collections", json={"collection_id": "staff"}, headers=shop)
    assert r.status_code == 201, r.text
    r = c.post("/v1/collections/staff/faces", files=upload(portrait_set[0][3]["orig"]),
               data={"consent": "c-1"}, headers=shop)  # fmt: skip
    assert r.status_code == 201, r.text
    before = set(data_folder_bytes(world.root))
    rows = [(f"{subj}/{v}.jpg", subj, g, data, None)
            for subj, _, g, imgs in portrait_set for v, data in imgs.items()]  # fmt: skip
    zipped = archive(rows)
    tester = world.headers("A", "operator")
    r = c.post("/v1/evaluations", files={"archive": ("set.zip", zipped, "application/zip")},
               data={"bootstrap": "50"}, headers=tester)  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "verification" and body["images"] == 24 and body["subjects"] == 6
    assert body["thresholds"] == [90.0, 99.0, 99.9]  # compare default, policy floor, search
    assert body["failures_to_enrol"] == {} and body["model_id"] == engine.model_id
    v = body["verification"]
    assert v["genuine_pairs"] == 6 * 6 and v["impostor_pairs"] == 24 * 23 // 2 - 36
    (by_gender,) = v["by_group"]
    assert by_gender["grouping"] == ["gender"]
    rows90 = {row["group"]: row for row in by_gender["thresholds"]["similarity=90"]}
    assert set(rows90) == {"Female", "Male"}
    for row in rows90.values():
        assert row["subjects"] == 3 and row["genuine_pairs"] == 18
        assert row["impostor_pairs"] == 12 * 11 // 2 - 18
        assert row["fnmr"] is not None and row["fnmr_ci"] is not None
        assert row["small_fmr"] and row["small_fnmr"]  # 3 people: flagged, as the audit does
    # mirrored, cropped and rescaled versions of a portrait match it at 90; strangers do not
    assert sum(r["false_non_matches"] for r in rows90.values()) <= 2
    assert sum(r["false_matches"] for r in rows90.values()) == 0
    assert v["overall"]["similarity=99.9"]["fnmr"] >= v["overall"]["similarity=90"]["fnmr"]

    # nothing of the upload is kept: no collection, no new file, no bytes of it anywhere
    r = c.get("/v1/collections", headers=world.headers("A", "admin"))
    assert r.status_code == 403  # testers see no collections, their own included
    store = world.app.state.faces.store
    org_a = world.orgs["A"].id
    assert store.list_collections(org_a, limit=10).items == []
    after = data_folder_bytes(world.root)
    assert set(after) <= before | {"governance.sqlite3-wal", "faces.sqlite3-wal"}
    face = engine.detect(rows[5][3], keep_chips=True)[:1]
    engine.embed_faces(face)
    vector = np.asarray(face[0].embedding)
    needles = [MARK.encode(), vector.astype(np.float32).tobytes()[:64],
               vector.astype(np.float64).tobytes()[:64]]  # fmt: skip
    needles += [row[3][len(row[3]) // 2 : len(row[3]) // 2 + 64] for row in rows]
    for name, content in after.items():
        for needle in needles:
            assert needle not in content, f"{name} holds part of the upload"

    # audited: counts and SHA-256s only
    (rec,) = world.records(operation="evaluation.run")
    assert rec["decision"]["rule"] == "independent-testers-evaluate"
    assert rec["request"]["archive_sha256"] == hashlib.sha256(zipped).hexdigest()
    assert rec["outcome"]["image_sha256"] == [hashlib.sha256(x[3]).hexdigest() for x in rows]
    assert rec["outcome"]["counts"]["images"] == 24 and rec["outcome"]["counts"]["subjects"] == 6
    assert MARK not in str(rec) and "Female" not in str(rec) and not biometric_leaks(rec)


def test_tester_measures_1toN_and_reaches_no_other_data(world, portrait_set):
    c = world.client
    tester = world.headers("A", "operator", **{"X-Purpose": "testing", "X-Case-Ref": "t-1"})
    rows = []
    for k, (subj, _, g, imgs) in enumerate(portrait_set):
        if k < 4:  # four people enrolled; all six searched (two are not in the gallery)
            rows.append((f"{subj}/orig.jpg", subj, g, imgs["orig"], "gallery"))
        rows.append((f"{subj}/flip.jpg", subj, g, imgs["flip"], "probe"))
    r = c.post("/v1/evaluations", files={"archive": ("s.zip", archive(rows), "application/zip")},
               data={"mode": "identification", "thresholds": "90,99", "bootstrap": "50"},
               headers=tester)  # fmt: skip
    assert r.status_code == 200, r.text
    ident = r.json()["identification"]
    assert (ident["gallery_faces"], ident["probes"]) == (4, 6)
    assert (ident["mated_probes"], ident["non_mated_probes"]) == (4, 2)
    overall = ident["overall"]["similarity=90"]
    assert overall["misses"] == 0 and overall["fnir"] == 0.0  # a mirror image finds its mate
    assert overall["false_positives"] == 0 and overall["fpir_ci"] is not None
    (gender,) = ident["by_group"]
    assert set(gender["groups"]) == {"Female", "Male"}
    assert sum(g["thresholds"]["similarity=99"]["mated_probes"]
               for g in gender["groups"].values()) == 4  # fmt: skip

    # the tester reaches nothing else: no search, no listing, no enrolment, no audit log
    r = c.post("/v1/collections/staff/search", files=upload(portrait_set[0][3]["orig"]),
               headers=tester)  # fmt: skip
    assert r.status_code == 403 and r.json()["error"]["rule"] == "independent-testers-only-evaluate"
    for method, path in [("GET", "/v1/collections"), ("GET", "/v1/consents"),
                         ("POST", "/v1/retention/run")]:  # fmt: skip
        r = c.request(method, path, headers=tester)
        assert r.status_code == 403, (path, r.text)
    # ... and no one else runs evaluations
    shop = {"Authorization": f"Bearer {world.shop_key}"}
    r = c.post("/v1/evaluations", files={"archive": ("s.zip", archive(rows), "application/zip")},
               headers=shop)  # fmt: skip
    assert r.status_code == 403
    assert r.json()["error"]["rule"] == "evaluations-are-for-independent-testers"
    r = c.post("/v1/evaluations", files={"archive": ("s.zip", b"x", "application/zip")},
               headers=world.headers("A", "reviewer"))  # fmt: skip
    assert r.status_code == 403 and r.json()["error"]["rule"] == "role-required"


def test_bad_sets_are_named_and_evaluations_are_rate_limited(world, portrait_set):
    c = world.client
    tester = world.headers("B", "operator")

    def post(payload: bytes, **form: str):
        files = {"archive": ("s.zip", payload, "application/zip")}
        return c.post("/v1/evaluations", files=files, data=form, headers=tester)

    r = post(b"not a zip")
    assert r.status_code == 422 and "zip" in r.json()["error"]["message"]
    one = [(f"{s}/orig.jpg", s, g, imgs["orig"], None) for s, _, g, imgs in portrait_set[:2]]
    r = post(archive(one), mode="identification")
    assert r.status_code == 422 and "role column" in r.json()["error"]["message"]
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("manifest.csv", "path,subject\nghost.jpg,x\n")
    r = post(broken.getvalue())
    assert r.status_code == 422 and "ghost.jpg" in r.json()["error"]["message"]
    r = post(archive(one), thresholds="90,abc")
    assert r.status_code == 422
    # the default policy: 30 evaluations per organization per day (refused ones count)
    codes = [post(b"x").status_code for _ in range(27)]
    assert codes == [422] * 27
    r = post(b"x")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.json()["error"]["rule"] == "independent-testers-evaluate"
    assert len(world.records(operation="evaluation.run")) == 31


def test_a_pairs_list_is_scored_exactly_as_listed(world, portrait_set):
    """LFW-style: pairs.csv next to the manifest; only its pairs are scored, its same flag
    decides genuine or impostor, its own group column (when given) groups the pairs."""
    c = world.client
    tester = world.headers("A", "operator")
    rows = [(f"{s}/{v}.jpg", s, g, imgs[v], None)
            for s, _, g, imgs in portrait_set for v in ("orig", "flip")]  # fmt: skip
    subjects = [s for s, *_ in portrait_set]
    genuine = [(f"{s}/orig.jpg", f"{s}/flip.jpg", 1) for s in subjects]
    impostor = [(f"{s}/orig.jpg", f"{subjects[(k + 1) % 6]}/flip.jpg", 0)
                for k, s in enumerate(subjects)]  # fmt: skip

    def post(pairs_csv: str, **form: str):
        zipped = io.BytesIO(archive(rows))
        with zipfile.ZipFile(zipped, "a") as z:
            z.writestr("set/pairs.csv", pairs_csv)
        files = {"archive": ("s.zip", zipped.getvalue(), "application/zip")}
        return c.post("/v1/evaluations", files=files, data=form, headers=tester)

    listed = genuine + impostor
    text = "path_a,path_b,same\n" + "".join(f"{a},{b},{s}\n" for a, b, s in listed)
    r = post(text, bootstrap="20", thresholds="90")
    assert r.status_code == 200, r.text
    body = r.json()
    v = body["verification"]
    assert (
        v["pairs"] == "listed" and body["pairs_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    )
    # all pairs of 12 images would be 6 genuine and 60 impostor: only the 12 listed count
    assert (v["genuine_pairs"], v["impostor_pairs"]) == (6, 6)
    overall = v["overall"]["similarity=90"]
    assert overall["false_matches"] == 0 and overall["false_non_matches"] <= 1
    (by_gender,) = v["by_group"]
    rows90 = by_gender["thresholds"]["similarity=90"]
    assert {row["group"] for row in rows90} == {"Female", "Male"}
    assert sum(row["genuine_pairs"] for row in rows90) == 6  # a pair's images share a gender
    # the same flag decides: the genuine pairs declared impostor all become false matches
    flipped = "path_a,path_b,same,batch\n" + "".join(
        f"{a},{b},{1 - s},{'one' if k < 3 else 'two'}\n" for k, (a, b, s) in enumerate(listed)
    )
    r = post(flipped, bootstrap="0", thresholds="90")
    assert r.status_code == 200, r.text
    v = r.json()["verification"]
    assert v["overall"]["similarity=90"]["false_matches"] >= 5
    (by_batch,) = v["by_group"]
    assert by_batch["grouping"] == ["batch"]
    counts = {
        row["group"]: row["impostor_pairs"] for row in by_batch["thresholds"]["similarity=90"]
    }
    assert counts == {"one": 3, "two": 3}
    # a pairs file that names an image the manifest does not is refused with the fix
    r = post("path_a,path_b,same\nnobody.jpg,x.jpg,1\n")
    assert r.status_code == 422 and "nobody.jpg" in r.json()["error"]["message"]
