"""Independent testing as a governed operation (``evaluation.run``).

A mixin of :class:`~faceledger.service.faces.FaceService`: it uses the deployed engine and the
policy's thresholds, and never the store. The gate decides first (by the default policy: the
operators of an ``independent-tester`` organization, rate-limited); only then is the archive
opened, its images decoded and embedded (``prepare``), and the rates computed (``work``). The
request is recorded once with the archive's SHA-256, the mode and thresholds, and the outcome
with counts and the SHA-256s of the manifest and of each image: no image, embedding, subject
name or label. Nothing uploaded outlives the call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD, DEFAULT_THRESHOLD
from faceledger.errors import InvalidRequestError
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.service.unit import Governed

if TYPE_CHECKING:
    from faceledger.service.faces import FaceService

MODES = ("verification", "identification")
MAX_THRESHOLDS = 8
BOOTSTRAP = 200
DEFAULT_MAX_RESULTS = 10


class EvaluationOperations:
    """The evaluation half of :class:`~faceledger.service.faces.FaceService`."""

    def deployed_thresholds(self: FaceService) -> list[float]:
        """The similarities this deployment uses: the 1:1 and 1:N defaults and every floor the
        policy sets (``min_similarity``)."""
        rules = getattr(getattr(getattr(self.gate, "policy", None), "policy", None), "rules", [])
        floors = {float(r.min_similarity) for r in rules if r.min_similarity is not None}
        return sorted({DEFAULT_THRESHOLD, DEFAULT_SEARCH_THRESHOLD} | floors)

    def deployed_max_results(self: FaceService) -> int:
        """The smallest result cap the policy sets on a search (else the API's default)."""
        rules = getattr(getattr(getattr(self.gate, "policy", None), "policy", None), "rules", [])
        caps = [int(r.max_results) for r in rules if r.max_results is not None]
        return min(caps, default=DEFAULT_MAX_RESULTS)

    def evaluate(
        self: FaceService,
        ctx: RequestContext,
        archive: bytes,
        *,
        mode: str = "verification",
        thresholds: Sequence[float] | None = None,
        bootstrap: int = BOOTSTRAP,
    ) -> Governed[dict[str, Any]]:
        """Measure the deployed model on the set in ``archive`` (see ``evaluation.upload``):
        1:1 FMR/FNMR (``verification``) or 1:N FNIR/FPIR (``identification``) per declared
        group, with 95 % confidence intervals, at ``thresholds`` (similarities; default the
        deployed ones)."""
        from faceledger.evaluation import listed, measure
        from faceledger.evaluation.upload import read_archive

        if mode not in MODES:
            raise InvalidRequestError(f"mode must be {' or '.join(MODES)}, not {mode!r}")
        sims = sorted({float(t) for t in thresholds}) if thresholds else self.deployed_thresholds()
        if len(sims) > MAX_THRESHOLDS or any(not 0 < t < 100 for t in sims):
            raise InvalidRequestError(
                f"give at most {MAX_THRESHOLDS} thresholds, each a similarity in (0, 100)"
            )
        if not 0 <= bootstrap <= 1000:
            raise InvalidRequestError("bootstrap must be between 0 and 1000 replicates")
        request = {
            "archive_sha256": hashlib.sha256(archive).hexdigest(),
            "mode": mode,
            "thresholds": sims,
        }
        identification = mode == "identification"
        model_id = self.engine.model_id

        def prepare(_: Decision) -> tuple[Any, Any, dict[str, list[int]]]:
            uploaded = read_archive(archive, identification=identification)
            emb, failures = measure.embed(self.engine, uploaded.images)
            return uploaded, emb, failures

        def work(_: Decision, prepared: Any) -> tuple[dict[str, Any], dict[str, Any]]:
            uploaded, emb, failures = prepared
            s = uploaded.audit_set
            if identification:
                rates = measure.identification(
                    uploaded, emb, sims, model_id, max_results=self.deployed_max_results(),
                    bootstrap=bootstrap,
                )  # fmt: skip
            elif uploaded.pairs_text is not None:
                pairs = listed.parse_pairs(uploaded.pairs_text, s)
                rates = listed.verification(s, pairs, emb, sims, model_id, bootstrap=bootstrap)
            else:
                rates = measure.verification(s, emb, sims, model_id, bootstrap=bootstrap)
            paths = s.paths
            result = {
                "mode": mode,
                "model_id": model_id,
                "thresholds": sims,
                "images": len(s),
                "subjects": len(set(s.subjects)),
                "group_columns": list(s.groups),
                "failures_to_enrol": {
                    reason: [paths[i] for i in idx] for reason, idx in failures.items()
                },
                "bootstrap": bootstrap,
                "archive_sha256": request["archive_sha256"],
                "manifest_sha256": uploaded.manifest_sha256,
                "pairs_sha256": uploaded.pairs_sha256,
                "retained": "nothing: the archive, images and embeddings were discarded",
                mode: rates,
            }
            outcome = {
                "manifest_sha256": uploaded.manifest_sha256,
                "pairs_sha256": uploaded.pairs_sha256,
                "image_sha256": uploaded.digests,
                "counts": {
                    "images": len(s),
                    "subjects": len(set(s.subjects)),
                    "group_columns": len(s.groups),
                    "failures_to_enrol": sum(len(v) for v in failures.values()),
                    **{
                        k: rates[k]
                        for k in ("genuine_pairs", "impostor_pairs", "probes", "gallery_faces")
                        if k in rates
                    },
                },  # fmt: skip
            }
            return result, outcome

        return self.unit.run(ctx, "evaluation.run", request, work, prepare=prepare)
