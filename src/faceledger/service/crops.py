"""Face crops for meaningful review: a mixin of ``FaceService`` (like ``service.users``).

At enrolment a collection that keeps crops (its setting; by default on when the policy holds
identification by the caller's actor class for human review) stores a small JPEG of each face
with the face (``store.crops``): it goes with the face however the face goes. A search held for
review keeps the crops of its searched faces with the lead (``governance.review``), dropped by
``retention.purge`` once the lead is closed and the policy's retention cap has passed since,
by ``case.close`` for the case's leads, and by ``subject.erase`` for the leads naming the subject.

Reading a crop is a governed operation recorded like every other (the face or lead id and the
crop's SHA-256, never its bytes): ``faces.crop`` (operators, faces of their organization's
collections), ``review.crop`` (reviewers of the organization: the probe and the candidates of a
lead they may review) and ``leads.crop`` (the requester, once the lead is released). Another
organization's faces and leads are "not found".
"""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from faceledger.engine.types import Face
from faceledger.errors import NotFoundError
from faceledger.governance.clock import iso, utc_now
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.governance.errors import ForbiddenError
from faceledger.service.results import SearchResult
from faceledger.service.unit import Governed

if TYPE_CHECKING:
    from faceledger.service.faces import FaceService

CROP_QUALITY = 85


def crop_jpeg(face: Face) -> bytes | None:
    """A JPEG of the face's widest aligned chip (150×150, a few kilobytes), or None when the
    face carries no chips."""
    if face.chips is None or len(face.chips) == 0:
        return None
    chip = np.ascontiguousarray(face.chips[-1], dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(chip, "RGB").save(out, "JPEG", quality=CROP_QUALITY)
    return out.getvalue()


def crops_of(faces: list[Face]) -> list[bytes]:
    """Crops of faces that carry their chips (before embedding drops them)."""
    return [c for c in (crop_jpeg(f) for f in faces) if c is not None]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class CropOperations:
    """The crop half of :class:`~faceledger.service.faces.FaceService`."""

    def _default_keep_crops(self: FaceService, ctx: RequestContext) -> bool:
        policy = getattr(self.gate, "policy", None)
        check = getattr(policy, "reviews_identification", None)
        return bool(check(ctx.actor_class)) if check is not None else False

    def face_crop(
        self: FaceService, ctx: RequestContext, collection_id: str, face_id: str
    ) -> Governed[bytes]:
        """The crop of a face of the caller's organization (JPEG)."""
        request = {"collection_id": collection_id, "face_id": face_id}

        def work(_: Decision) -> tuple[bytes, dict[str, Any]]:
            found = self.store.face_crop(ctx.tenant_id, face_id)
            if found is None or found[0] != collection_id:
                raise NotFoundError(
                    f"no crop of face {face_id!r} in collection {collection_id!r} (the face "
                    "does not exist, or its collection keeps no crops)"
                )
            return found[1], {"face_ids": [face_id], "crop_sha256": _sha(found[1])}

        return self.unit.run(ctx, "faces.crop", request, work)

    def lead_crop(
        self: FaceService,
        ctx: RequestContext,
        lead_id: str,
        *,
        probe: int | None = None,
        face_id: str | None = None,
    ) -> Governed[bytes]:
        """A crop of a lead: its searched face ``probe`` (0 for the first) or one of its
        candidate faces ``face_id``. Reviewers of the organization may see them (not on their
        own lead before release); the requester only once the lead is released."""
        if (probe is None) == (face_id is None):
            raise ValueError("give probe or face_id")
        operation = "review.crop" if "reviewer" in ctx.roles else "leads.crop"
        request = {"lead_id": lead_id, "probe": probe, "face_id": face_id}

        def work(_: Decision) -> tuple[bytes, dict[str, Any]]:
            reviews = self.gate.reviews  # type: ignore[attr-defined]
            lead = reviews.get(ctx, lead_id)
            if lead.results is None:
                raise ForbiddenError(
                    f"the faces of lead {lead_id} are shown to its requester only once two "
                    "reviewers have confirmed it"
                )
            if probe is not None:
                data = reviews.probe_crop(lead_id, probe)
                what = f"probe {probe}"
            else:
                named = {r.get("face_id") for r in lead.results if isinstance(r, dict)}
                found = self.store.face_crop(ctx.tenant_id, face_id) if face_id in named else None
                data = found[1] if found else None
                what = f"face {face_id!r}"
            if data is None:
                raise NotFoundError(f"lead {lead_id} keeps no crop of {what}")
            outcome = {"lead_id": lead_id, "crop_sha256": _sha(data)}
            return data, {**outcome, **({"face_ids": [face_id]} if face_id else {})}

        return self.unit.run(ctx, operation, request, work)

    def _drop_lead_crops(
        self: FaceService,
        ctx: RequestContext,
        *,
        cap_days: int | None = None,
        case_ref: str | None = None,
        lead_ids: list[str] | None = None,
    ) -> list[str]:
        """Probe crops whose retention ended (see the module docstring); returns the leads."""
        reviews = getattr(self.gate, "reviews", None)
        if reviews is None:
            return []
        closed_before = None
        if cap_days is not None:
            clock = getattr(self.gate, "clock", utc_now)
            closed_before = iso(clock() - timedelta(days=int(cap_days)))
        return reviews.drop_probe_crops(
            ctx.tenant_id, closed_before=closed_before, case_ref=case_ref,
            lead_ids=lead_ids or (),
        )  # fmt: skip


def lead_extras(result: SearchResult) -> dict[str, Any]:
    """What a lead keeps besides its rows: the crops of the searched faces, and the search's
    collection, threshold and gallery size (to tell its reviewers what a match is worth)."""
    extras: dict[str, Any] = {
        "search": {
            "collection_id": result.collection_id,
            "model_id": result.model_id,
            "threshold": result.threshold,
            "gallery_size": result.gallery_size,
        }  # fmt: skip
    }
    if result.probe_crops:
        extras["crops"] = list(result.probe_crops)
    return extras
