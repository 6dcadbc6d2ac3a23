"""1:N search, the ACLU experiment: each Congress portrait searched against a gallery of
unrelated faces; every candidate at or above the threshold is a false match.

In 2018 the ACLU searched 535 members of Congress against 25,000 arrest photos with Amazon
Rekognition at its default 80 % confidence and got 28 false matches, disproportionately people
of colour. Here: the 290 current members with a gender label against UTKFace adults and LFW.
Rekognition's confidence and faceledger's similarity are different scales: 80 here is not 80
there. LFW holds politicians, so gallery faces whose LFW identity has the member's last name
are excluded from that member's search as possible true matches (nicknames such as Dick/Richard
defeat first-name matching; the few unrelated namesakes lost are listed).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

import numpy as np

from faceledger.engine.scoring import face_terms_for
from faceledger.engine.similarity import distance_from_similarity, similarity_from_distance

if TYPE_CHECKING:
    from faceledger.fairness.audit import AuditResult

SIMILARITIES = (80.0, 95.0, 99.0)
NAME_CUTOFF = 0.9
"""difflib ratio at which an LFW last name counts as the member's (spelling variants)."""


def _name_key(congress_name: str) -> tuple[str, str]:
    """("aderholt", "robert") from "ADERHOLT, Robert B."."""
    last, _, first = congress_name.partition(",")
    first_tokens = first.replace(".", " ").split()
    return last.strip().lower().split()[-1] if last.strip() else "", (
        first_tokens[0].lower() if first_tokens else ""
    )


def _lfw_key(identity: str) -> tuple[str, str]:
    tokens = identity.lower().replace("-", "_").split("_")
    return tokens[-1], tokens[0]


def _gallery_label(groups: dict[str, list[str]], i: int) -> str:
    race = groups.get("race", [""] * (i + 1))[i] or "race unlabelled"
    gender = groups.get("gender", [""] * (i + 1))[i] or "gender unlabelled"
    return f"{race} {gender}"


def run(
    result: AuditResult,
    *,
    probes: str = "congress",
    gallery: list[str] | tuple[str, ...] = ("utkface", "lfw"),
    similarities: tuple[float, ...] = SIMILARITIES,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, object]:
    """Counts of false matches per threshold, by probe group and by matched gallery group."""
    pset, pemb = result.audit_sets[probes], result.embeddings[probes]
    model = str(result.settings["model"])  # the similarity scale of the audited model
    names = list(pset.meta.get("names", pset.subjects))
    probe_gender = pset.groups.get("gender", [""] * len(pset))
    p_ok = np.flatnonzero(~np.isnan(pemb).any(axis=1))
    g_emb, g_label, g_source, g_path, g_key = [], [], [], [], []
    for name in gallery:
        gset, gemb = result.audit_sets[name], result.embeddings[name]
        ok = np.flatnonzero(~np.isnan(gemb).any(axis=1))
        g_emb.append(gemb[ok])
        g_label += [_gallery_label(gset.groups, i) for i in ok]
        g_source += [name] * len(ok)
        g_path += [gset.paths[i] for i in ok]
        g_key += [_lfw_key(gset.subjects[i]) if name == "lfw" else ("", "") for i in ok]
    G = np.concatenate(g_emb).astype(np.float64)
    P = pemb[p_ok].astype(np.float64)
    d = np.sqrt(np.clip((P**2).sum(1)[:, None] + (G**2).sum(1)[None, :] - 2 * P @ G.T, 0.0, None))
    if (terms := face_terms_for(model)) is not None:  # a normalised scoring's distances
        d = d - terms(P)[:, None] - terms(G)[None, :]
    # possible true matches: the member's own name in LFW
    excluded = []
    key_index: dict[tuple[str, str], list[int]] = {}
    for j, k in enumerate(g_key):
        if k != ("", ""):
            key_index.setdefault(k, []).append(j)
    by_last: dict[str, list[int]] = {}
    for k, js in key_index.items():
        by_last.setdefault(k[0], []).extend(js)
    last_names = sorted(by_last)
    for row, i in enumerate(p_ok):
        last = _name_key(names[i])[0]
        # spelling variants too (LFW has "Tommy_Tubberville" for Tommy Tuberville)
        close = difflib.get_close_matches(last, last_names, n=20, cutoff=NAME_CUTOFF)
        hits = sorted({j for name in close for j in by_last[name]})
        if hits:
            d[row, hits] = np.inf
            who = sorted({g_path[j].split("/")[0] for j in hits})
            excluded.append(f"{names[i]}: {', '.join(who)} ({len(hits)} LFW images)")
    gallery_counts: dict[str, int] = {}
    for label in g_label:
        gallery_counts[label] = gallery_counts.get(label, 0) + 1
    groups = sorted({probe_gender[i] for i in p_ok if probe_gender[i]})
    rng = np.random.default_rng(seed)
    rows = []
    best = d.min(axis=1)
    for sim in similarities:
        thr = distance_from_similarity(sim, model)
        hit = d <= thr
        matched = hit.any(axis=1)
        by_probe = {}
        for grp in groups:
            members = np.array([probe_gender[i] == grp for i in p_ok])
            m = matched[members]
            boots = rng.integers(0, len(m), size=(bootstrap, len(m)))
            rates = m[boots].mean(axis=1)
            by_probe[grp] = {
                "probes": int(members.sum()),
                "matched": int(m.sum()),
                "rate": float(m.mean()),
                "ci": [float(np.quantile(rates, 0.025)), float(np.quantile(rates, 0.975))],
            }
        by_gallery: dict[str, dict[str, float]] = {}
        cols = np.flatnonzero(hit.any(axis=0))
        for label in sorted(gallery_counts):
            idx = [j for j in cols if g_label[j] == label]
            n = int(hit[:, idx].sum()) if idx else 0
            by_gallery[label] = {
                "matched": n,  # candidate matches (probe, gallery face) in this group
                "faces": len(idx),  # distinct gallery faces returned for at least one probe
                "gallery": gallery_counts[label],
                "per_1000": 1000.0 * n / gallery_counts[label],
                "faces_share": len(idx) / gallery_counts[label],
            }
        by_source = {s: int(hit[:, [j for j in cols if g_source[j] == s]].sum()) for s in gallery}
        pr, gc = np.nonzero(hit)
        order = np.argsort(d[pr, gc])[:8]
        examples = [
            {
                "probe": names[p_ok[pr[k]]],
                "probe_gender": probe_gender[p_ok[pr[k]]],
                "gallery": f"{g_source[gc[k]]}:{g_path[gc[k]]}",
                "gallery_group": g_label[gc[k]],
                "similarity": float(similarity_from_distance(d[pr[k], gc[k]], model)),
            }
            for k in order
        ]
        rows.append(
            {
                "similarity": sim,
                "distance": thr,
                "probes_matched": int(matched.sum()),
                "false_match_candidates": int(hit.sum()),
                "by_probe_group": by_probe,
                "by_gallery_group": by_gallery,
                "by_gallery_source": by_source,
                "examples": examples,
            }
        )
    return {
        "description": (
            f"{len(p_ok)} Congress portraits (probes; gender from congress-legislators) searched "
            f"against {len(G):,} unrelated gallery faces ({', '.join(gallery)}). Every candidate "
            "at or above the threshold is a false match. Probe CIs: bootstrap over probes."
        ),
        "probes": int(len(p_ok)),
        "gallery_size": int(len(G)),
        "gallery": list(gallery),
        "gallery_groups": dict(sorted(gallery_counts.items())),
        "probe_groups": groups,
        "thresholds": rows,
        "best_similarity_quantiles": {
            q: float(similarity_from_distance(np.quantile(best, 1 - q), model))
            for q in (0.5, 0.9, 0.99)
        },
        "excluded": excluded,
    }
