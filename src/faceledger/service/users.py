"""Users: faces of one person grouped, created, associated and searched as one (1:N by user)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from faceledger.engine.scoring import is_scoring_id, scored_distances
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD, similarity_from_distance
from faceledger.engine.types import Face
from faceledger.errors import ModelError
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.images import ImageInput
from faceledger.service import idempotency
from faceledger.service.error_rates import (
    check_enrolled_band,
    gallery_rates,
    logged_rates,
    probe_rates,
)
from faceledger.service.idempotency import once
from faceledger.service.intake import image_digest
from faceledger.service.quality import QualityFilter, pick_searched
from faceledger.service.results import UnindexedFace, UserMatch, UserSearchResult, user_rows
from faceledger.service.unit import Governed
from faceledger.store.base import (
    MAX_PAGE,
    AssociationResult,
    FaceRecord,
    InvalidRequestError,
    NotFoundError,
    Page,
    UserRecord,
)

if TYPE_CHECKING:
    from faceledger.service.faces import FaceService


@dataclasses.dataclass
class FaceDeletion:
    """What ``delete_unassociated_faces`` did: the ids deleted, and those kept because they
    are associated with a user (face id -> user id)."""

    deleted: list[str]
    associated: dict[str, str]


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


def user_distance(
    query: np.ndarray, embeddings: np.ndarray, aggregation: str, model_id: str | None = None
) -> float:
    """Distance of ``query`` to a user enrolled with ``embeddings`` under an aggregation, as
    ``model_id`` scores it (a normalised scoring adjusts each distance; None: raw)."""
    q = np.asarray(query, dtype=np.float64)
    e = np.asarray(embeddings, dtype=np.float64)
    if model_id is not None and is_scoring_id(model_id):
        e = e.mean(axis=0, keepdims=True) if aggregation == "centroid" else e
        d = np.sort(scored_distances(model_id, q, e))
        if aggregation == "centroid":
            return float(d[0])
    elif aggregation == "centroid":
        return float(np.linalg.norm(e.mean(axis=0) - q))
    else:
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
        self: FaceService, ctx: RequestContext, collection_id: str, user_id: str,
        *, client_token: str | None = None,
    ) -> Governed[UserRecord]:  # fmt: skip
        """``client_token``: a retry with the same token returns the first result and does
        not act twice (``service.idempotency``)."""
        request = _with_token({"collection_id": collection_id, "user_id": user_id}, client_token)

        def work(_: Decision) -> tuple[UserRecord, dict[str, Any]]:
            record, replayed = once(
                self.store, ctx, "users.create", request,
                lambda: self.store.create_user(ctx.tenant_id, collection_id, user_id),
                idempotency.user_record,
            )  # fmt: skip
            return record, {"replayed": True} if replayed else {}

        return self.unit.run(ctx, "users.create", request, work, writes=True)

    def delete_user(
        self: FaceService, ctx: RequestContext, collection_id: str, user_id: str,
        *, client_token: str | None = None,
    ) -> Governed[UserRecord]:  # fmt: skip
        request = _with_token({"collection_id": collection_id, "user_id": user_id}, client_token)

        def work(_: Decision) -> tuple[UserRecord, dict[str, Any]]:
            record, replayed = once(
                self.store, ctx, "users.delete", request,
                lambda: self.store.delete_user(ctx.tenant_id, collection_id, user_id),
                idempotency.user_record,
            )  # fmt: skip
            return record, {"disassociated_faces": record.face_count, **_replayed(replayed)}

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
        *,
        min_user_similarity: float | None = None,
        client_token: str | None = None,
    ) -> Governed[AssociationResult]:
        """Associate 1–100 faces to a user (a face belongs to at most one user).

        ``min_user_similarity``: when the user already has faces, a face whose similarity to
        them (``DEFAULT_USER_AGGREGATION``) is below it is refused as ``LOW_MATCH_CONFIDENCE``
        (Rekognition's ``UserMatchThreshold``), so a face of someone else is not merged in."""
        request: dict[str, Any] = {
            "collection_id": collection_id, "user_id": user_id, "face_ids": list(face_ids),
        }  # fmt: skip
        if min_user_similarity is not None:
            request["min_user_similarity"] = min_user_similarity
        request = _with_token(request, client_token)

        def act() -> AssociationResult:
            low: dict[str, float] = {}
            if min_user_similarity is not None:
                low = self._below_user(ctx, collection_id, user_id, face_ids, min_user_similarity)
            rest = [f for f in face_ids if f not in low]
            r = AssociationResult()
            if rest or not low:
                r = self.store.associate_faces(ctx.tenant_id, collection_id, user_id, rest)
            r.unsuccessful.extend((f, "LOW_MATCH_CONFIDENCE") for f in low)
            r.similarities.update(low)
            return r

        def work(_: Decision) -> tuple[AssociationResult, dict[str, Any]]:
            r, replayed = once(
                self.store, ctx, "users.associate", request, act, idempotency.association
            )
            return r, {
                "face_ids": r.succeeded,
                "unsuccessful": r.unsuccessful,
                **_replayed(replayed),
            }

        return self.unit.run(ctx, "users.associate", request, work, writes=True)

    def _below_user(
        self: FaceService, ctx: RequestContext, collection_id: str, user_id: str,
        face_ids: Sequence[str], min_similarity: float,
    ) -> dict[str, float]:  # fmt: skip
        """Faces (not yet the user's) less similar than ``min_similarity`` to a user that has
        faces already, with their similarity."""
        model = self.store.describe_collection(ctx.tenant_id, collection_id).model_id
        mine = [
            f.face_id
            for f in self.store.list_faces(
                ctx.tenant_id, collection_id, user_id=user_id, limit=MAX_PAGE
            ).items
        ]
        if not mine:
            return {}
        own = np.stack(list(self.store.get_embeddings(ctx.tenant_id, collection_id, mine).values()))
        others = [f for f in dict.fromkeys(face_ids) if f not in set(mine)]
        low = {}
        for face_id, vec in self.store.get_embeddings(ctx.tenant_id, collection_id, others).items():
            d = user_distance(vec, own, DEFAULT_USER_AGGREGATION, model)
            similarity = float(similarity_from_distance(d, model))
            if similarity < min_similarity:
                low[face_id] = round(similarity, 4)
        return low

    def disassociate_faces(
        self: FaceService,
        ctx: RequestContext,
        collection_id: str,
        user_id: str,
        face_ids: Sequence[str],
        *,
        client_token: str | None = None,
    ) -> Governed[AssociationResult]:
        request = _with_token(
            {"collection_id": collection_id, "user_id": user_id, "face_ids": list(face_ids)},
            client_token,
        )

        def work(_: Decision) -> tuple[AssociationResult, dict[str, Any]]:
            def act() -> AssociationResult:
                return self.store.disassociate_faces(
                    ctx.tenant_id, collection_id, user_id, face_ids
                )

            r, replayed = once(
                self.store, ctx, "users.disassociate", request, act, idempotency.association
            )
            return r, {
                "face_ids": r.succeeded,
                "unsuccessful": r.unsuccessful,
                **_replayed(replayed),
            }

        return self.unit.run(ctx, "users.disassociate", request, work, writes=True)

    def delete_unassociated_faces(
        self: FaceService, ctx: RequestContext, collection_id: str, face_ids: Sequence[str]
    ) -> Governed[FaceDeletion]:
        """Delete faces, but not those associated with a user (Rekognition's DeleteFaces refuses
        them as ``ASSOCIATED_TO_AN_EXISTING_USER``): disassociate them first. Unknown ids are
        left out of both lists. Decided and audited as ``faces.delete``."""
        ids = list(dict.fromkeys(face_ids))
        request = {"collection_id": collection_id, "face_ids": ids}

        def work(_: Decision) -> tuple[FaceDeletion, dict[str, Any]]:
            associated: dict[str, str] = {}
            for start in range(0, len(ids), MAX_PAGE):
                part = ids[start : start + MAX_PAGE]
                page = self.store.list_faces(
                    ctx.tenant_id, collection_id, face_ids=part, limit=MAX_PAGE
                )
                associated.update({f.face_id: f.user_id for f in page.items if f.user_id})
            rest = [f for f in ids if f not in associated]
            deleted = self.store.delete_faces(ctx.tenant_id, collection_id, rest) if rest else []
            outcome: dict[str, Any] = {"face_ids": deleted, "count": len(deleted)}
            if associated:
                outcome["skipped"] = sorted(associated)
            return FaceDeletion(deleted, associated), outcome

        return self.unit.run(ctx, "faces.delete", request, work, writes=True)

    def search_users(
        self: FaceService,
        ctx: RequestContext,
        collection_id: str,
        *,
        face_id: str | None = None,
        image: ImageInput | None = None,
        user_id: str | None = None,
        threshold: float = DEFAULT_SEARCH_THRESHOLD,
        max_users: int = DEFAULT_MAX_RESULTS,
        aggregation: str = DEFAULT_USER_AGGREGATION,
        quality_filter: QualityFilter | str = QualityFilter.NONE,
        age_band: str | None = None,
    ) -> Governed[UserSearchResult]:
        """Users whose faces match a stored face, the largest face of an image, or a user.

        A user's score aggregates its associated faces (``aggregation``). Searching by a
        stored face leaves that face out of its own user. Searching by a user scores every
        other user by the best of searching with each of that user's faces (the user itself
        is left out); a user without faces matches nobody. With an image, ``quality_filter``
        chooses the largest face that passes its bar; the others are in ``unsearched_faces``.
        Expected false candidates count the faces compared (``service.error_rates``).
        """
        if sum(x is not None for x in (face_id, image, user_id)) != 1:
            raise InvalidRequestError("give exactly one of a face id, an image or a user id")
        if aggregation not in USER_AGGREGATIONS:
            raise InvalidRequestError(f"aggregation must be one of {USER_AGGREGATIONS}")
        data, digest = image_digest(image) if image is not None else (None, None)
        quality = str(QualityFilter(quality_filter))
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
        if user_id is not None:
            request["user_id"] = user_id
        if image is not None:
            request["quality_filter"] = quality

        def work(decision: Decision) -> tuple[UserSearchResult, dict[str, Any]]:
            info = self.store.describe_collection(ctx.tenant_id, collection_id)
            model = info.model_id
            thr, max_distance, k = self._limits(decision, threshold, max_users, model)
            searched: Face | FaceRecord | None = None
            unsearched: list[UnindexedFace] = []
            users = self.store.user_embeddings(ctx.tenant_id, collection_id)
            compared = sum(sum(i != face_id for i in ids) for ids, _ in users.values())
            rates = gallery_rates(
                self.audits, decision, request, dataclasses.replace(info, face_count=compared), thr
            )
            probes: np.ndarray | None = None
            if face_id is not None:
                searched, vec = self._stored_face(ctx, collection_id, face_id)
                check_enrolled_band(searched, request)
                probes = np.asarray([vec])
            elif user_id is not None:
                if user_id not in users and not self._user_exists(ctx, collection_id, user_id):
                    raise NotFoundError(
                        f"user {user_id!r} not found in collection {collection_id!r}"
                    )
                probes = users[user_id][1] if user_id in users else None
            else:
                face, skipped = pick_searched(self.engine.detect(data, keep_chips=True), quality)  # type: ignore[arg-type]
                unsearched = [UnindexedFace(f, reasons) for f, reasons in skipped]
                if face is not None:
                    self.engine.embed_faces([face])
                    if face.model_id != model:
                        raise ModelError(
                            f"collection {collection_id!r} holds embeddings of model {model!r};"
                            f" this engine makes {face.model_id!r}"
                        )
                    searched, probes = face, np.asarray([face.embedding])
            matches: list[UserMatch] = []
            if probes is not None:
                for user, (ids, emb) in users.items():
                    mask = [i != face_id for i in ids]
                    if user == user_id or not any(mask):
                        continue
                    d = min(user_distance(q, emb[mask], aggregation, model) for q in probes)
                    if max_distance is None or d <= max_distance:
                        s = float(similarity_from_distance(d, model))
                        matches.append(UserMatch(user, s, d, int(sum(mask))))
                matches.sort(key=lambda m: (m.distance, m.user_id))
                matches = matches[:k]
                self.store.mark_matched(
                    ctx.tenant_id,
                    collection_id,
                    [i for m in matches for i in users[m.user_id][0] if i != face_id],
                    self._now(),
                )
            result = UserSearchResult(
                collection_id,
                thr,
                aggregation,
                searched,
                matches,
                digest,
                unsearched,
                user_id,
                error_rates=rates,
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

    def _user_exists(
        self: FaceService, ctx: RequestContext, collection_id: str, user_id: str
    ) -> bool:
        """Whether the user exists (one without faces is not in ``user_embeddings``)."""
        after = None
        while True:
            page = self.store.list_users(ctx.tenant_id, collection_id, limit=500, next_token=after)
            if any(u.user_id == user_id for u in page.items):
                return True
            if page.next_token is None:
                return False
            after = page.next_token


def _with_token(request: dict[str, Any], token: str | None) -> dict[str, Any]:
    return request if token is None else {**request, idempotency.TOKEN_KEY: token}


def _replayed(replayed: bool) -> dict[str, Any]:
    return {"replayed": True} if replayed else {}
