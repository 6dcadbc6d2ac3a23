"""Users: faces of one person grouped, created, associated and searched as one (1:N by user)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD, similarity_from_distance
from faceledger.engine.types import Face
from faceledger.errors import ModelError
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.images import ImageInput
from faceledger.service.error_rates import gallery_rates, logged_rates, probe_rates
from faceledger.service.intake import image_digest
from faceledger.service.results import UserMatch, UserSearchResult, user_rows
from faceledger.service.unit import Governed
from faceledger.store.base import (
    AssociationResult,
    FaceRecord,
    InvalidRequestError,
    Page,
    UserRecord,
)

if TYPE_CHECKING:
    from faceledger.service.faces import FaceService

DEFAULT_MAX_RESULTS = 10

USER_AGGREGATIONS = ("max", "centroid", "top2-mean")
DEFAULT_USER_AGGREGATION = "centroid"
"""How a user's faces are scored against a probe: the distance to the mean of the user's
embeddings. Measured on LFW by ``python benchmarks/search.py --users`` (default model tta6;
identities with >= 3 images, all but one enrolled as a user, the last as probe, 2,034
distractor users; see docs/store.md): rank-1 0.988 (centroid) vs 0.975 (nearest face) vs 0.970
(mean of top 2) vs 0.906 for a single enrolled face; at the threshold giving 1% false positives
on never-enrolled probes, 0.854 vs 0.764 vs 0.695 vs 0.524 found. Centroid distances run
smaller than face distances, so at one fixed threshold a centroid also returns more false
positives (FPIR at 90: 0.84 vs 0.80): compare aggregations at equal FPIR, as above."""


def user_distance(query: np.ndarray, embeddings: np.ndarray, aggregation: str) -> float:
    """Distance of ``query`` to a user enrolled with ``embeddings`` under an aggregation."""
    q = np.asarray(query, dtype=np.float64)
    e = np.asarray(embeddings, dtype=np.float64)
    if aggregation == "centroid":
        return float(np.linalg.norm(e.mean(axis=0) - q))
    d = np.sort(np.linalg.norm(e - q, axis=1))
    if aggregation == "max":
        return float(d[0])
    if aggregation == "top2-mean":
        return float(d[:2].mean())
    raise InvalidRequestError(f"unknown user aggregation {aggregation!r}: {USER_AGGREGATIONS}")


class UserOperations:
    """The user half of :class:`~faceledger.service.faces.FaceService` (same store, gate and
    unit of work)."""

    def create_user(
        self: FaceService, ctx: RequestContext, collection_id: str, user_id: str
    ) -> Governed[UserRecord]:
        request = {"collection_id": collection_id, "user_id": user_id}
        return self.unit.run(
            ctx, "users.create", request,
            lambda _: (self.store.create_user(ctx.tenant_id, collection_id, user_id), {}),
            writes=True,
        )  # fmt: skip

    def delete_user(
        self: FaceService, ctx: RequestContext, collection_id: str, user_id: str
    ) -> Governed[UserRecord]:
        request = {"collection_id": collection_id, "user_id": user_id}

        def work(_: Decision) -> tuple[UserRecord, dict[str, Any]]:
            record = self.store.delete_user(ctx.tenant_id, collection_id, user_id)
            return record, {"disassociated_faces": record.face_count}

        return self.unit.run(ctx, "users.delete", request, work, writes=True)

    def list_users(
        self: FaceService,
        ctx: RequestContext,
        collection_id: str,
        *,
        limit: int = 100,
        next_token: str | None = None,
    ) -> Governed[Page[UserRecord]]:
        request = {"collection_id": collection_id, "limit": limit, "next_token": next_token}

        def work(_: Decision) -> tuple[Page[UserRecord], dict[str, Any]]:
            page = self.store.list_users(
                ctx.tenant_id, collection_id, limit=limit, next_token=next_token
            )
            return page, {"user_ids": [u.user_id for u in page.items]}

        return self.unit.run(ctx, "users.list", request, work)

    def associate_faces(
        self: FaceService,
        ctx: RequestContext,
        collection_id: str,
        user_id: str,
        face_ids: Sequence[str],
    ) -> Governed[AssociationResult]:
        """Associate 1–100 faces to a user (a face belongs to at most one user)."""
        request = {"collection_id": collection_id, "user_id": user_id, "face_ids": list(face_ids)}

        def work(_: Decision) -> tuple[AssociationResult, dict[str, Any]]:
            r = self.store.associate_faces(ctx.tenant_id, collection_id, user_id, face_ids)
            return r, {"face_ids": r.succeeded, "unsuccessful": r.unsuccessful}

        return self.unit.run(ctx, "users.associate", request, work, writes=True)

    def disassociate_faces(
        self: FaceService,
        ctx: RequestContext,
        collection_id: str,
        user_id: str,
        face_ids: Sequence[str],
    ) -> Governed[AssociationResult]:
        request = {"collection_id": collection_id, "user_id": user_id, "face_ids": list(face_ids)}

        def work(_: Decision) -> tuple[AssociationResult, dict[str, Any]]:
            r = self.store.disassociate_faces(ctx.tenant_id, collection_id, user_id, face_ids)
            return r, {"face_ids": r.succeeded, "unsuccessful": r.unsuccessful}

        return self.unit.run(ctx, "users.disassociate", request, work, writes=True)

    def search_users(
        self: FaceService,
        ctx: RequestContext,
        collection_id: str,
        *,
        face_id: str | None = None,
        image: ImageInput | None = None,
        threshold: float = DEFAULT_SEARCH_THRESHOLD,
        max_users: int = DEFAULT_MAX_RESULTS,
        aggregation: str = DEFAULT_USER_AGGREGATION,
        age_band: str | None = None,
    ) -> Governed[UserSearchResult]:
        """Users whose faces match a stored face or the largest face of an image.

        A user's score aggregates its associated faces (``aggregation``, default: the most
        similar face). Searching by a stored face leaves that face out of its own user.
        Expected false candidates count the faces compared (``service.error_rates``).
        """
        if (face_id is None) == (image is None):
            raise InvalidRequestError("give either a face id or an image")
        if aggregation not in USER_AGGREGATIONS:
            raise InvalidRequestError(f"aggregation must be one of {USER_AGGREGATIONS}")
        data, digest = image_digest(image) if image is not None else (None, None)
        request = {
            "collection_id": collection_id,
            "face_id": face_id,
            "image_sha256": digest,
            "threshold": threshold,
            "max_results": max_users,
            "aggregation": aggregation,
            "age_band": age_band,
            "error_rates": probe_rates(self.engine.model_id, self.audits, age_band),
        }

        def work(decision: Decision) -> tuple[UserSearchResult, dict[str, Any]]:
            info = self.store.describe_collection(ctx.tenant_id, collection_id)
            model = info.model_id
            thr, max_distance, k = self._limits(decision, threshold, max_users, model)
            users = self.store.user_embeddings(ctx.tenant_id, collection_id)
            compared = sum(sum(i != face_id for i in ids) for ids, _ in users.values())
            rates = gallery_rates(
                self.audits, decision, request, dataclasses.replace(info, face_count=compared), thr
            )
            searched: Face | FaceRecord | None
            if face_id is not None:
                searched, vec = self._stored_face(ctx, collection_id, face_id)
            else:
                faces = self.engine.represent(data)  # type: ignore[arg-type]
                searched = faces[0] if faces else None
                vec = faces[0].embedding if faces else None
                if faces and faces[0].model_id != model:
                    raise ModelError(
                        f"collection {collection_id!r} holds embeddings of model {model!r};"
                        f" this engine makes {faces[0].model_id!r}"
                    )
            matches: list[UserMatch] = []
            if vec is not None:
                for user, (ids, emb) in users.items():
                    mask = [i != face_id for i in ids]
                    if not any(mask):
                        continue
                    d = user_distance(vec, emb[mask], aggregation)
                    if max_distance is None or d <= max_distance:
                        s = float(similarity_from_distance(d, model))
                        matches.append(UserMatch(user, s, d, int(sum(mask))))
                matches.sort(key=lambda m: (m.distance, m.user_id))
                matches = matches[:k]
            result = UserSearchResult(
                collection_id, thr, aggregation, searched, matches, digest, error_rates=rates
            )
            outcome = {
                "results": [
                    {"user_id": m.user_id, "similarity": round(m.similarity, 4)} for m in matches
                ],
                "threshold": thr,
                "error_rates": logged_rates(rates),
            }
            return result, outcome

        return self.unit.run(ctx, "users.search", request, work, lead_results=user_rows)
