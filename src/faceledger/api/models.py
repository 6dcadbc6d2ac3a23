"""What the HTTP API answers: one pydantic model per response, for the OpenAPI document.

The routes still build their bodies from the service's results (``to_dict()``); FastAPI
validates each body against the route's ``response_model`` before sending it. These models only
describe that JSON, field for field: they forbid unknown fields, so a field added to a
``to_dict()`` and not here fails the tests (a 500) instead of leaving the document behind.

A field that ``to_dict()`` leaves out when it has no value (``Face.model_id``, an error's
``rule``...) is declared :data:`Omitted`: documented as optional, never sent as ``null``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer
from pydantic.json_schema import SkipJsonSchema

__all__ = [
    "AssociateFacesResponse",
    "AuditLogPage",
    "CollectionList",
    "CollectionResponse",
    "CompareResponse",
    "DeletedCollection",
    "DeletedFaces",
    "DeletedUser",
    "DetectResponse",
    "DisassociateFacesResponse",
    "ErrorBody",
    "ErrorRates",
    "FaceList",
    "FaceSearchResponse",
    "Health",
    "IndexFacesResponse",
    "LeadList",
    "LeadResponse",
    "PendingLead",
    "UserList",
    "UserResponse",
    "UserSearchResponse",
    "WhoAmI",
]


class Model(BaseModel):
    """A JSON object of a response: exactly these fields, no others."""

    model_config = ConfigDict(extra="forbid")

    omitted_when_none: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of the JSON (rather than sent as null) when they have no value."""

    # No return annotation on purpose: with one, pydantic would document the serialized
    # object as any object instead of this model's fields.
    @model_serializer(mode="wrap")
    def _leave_out_omitted(self, handler):  # noqa: ANN001, ANN202
        out = handler(self)
        for name in self.omitted_when_none:
            if getattr(self, name) is None:
                out.pop(name, None)
        return out


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted(description: str) -> Any:
    """A field absent from the JSON when it has no value (list it in ``omitted_when_none``)."""
    return Field(None, description=description, json_schema_extra=_no_default)


# ------------------------------------------------------------------------------ decisions


class Decision(Model):
    """What the policy decided about this request, and why."""

    allowed: bool
    rule: str = Field(description="The policy rule that applied.")
    reason: str = Field(description="Why, in one sentence a person reads.")
    min_similarity: float | None = Field(
        description="Similarity floor the policy imposed on results (0-100), if any."
    )
    max_results: int | None = Field(description="Cap on results the policy imposed, if any.")
    review_required: bool = Field(
        description="Results are held for two reviewers (a 202 pending lead) instead of returned."
    )


DecisionField = Annotated[Decision, Field(description="The decision that allowed this request.")]


# ------------------------------------------------------------------------------ faces


class BoundingBox(Model):
    """Pixel box in the upright image: left/top inclusive, width/height in pixels."""

    left: int
    top: int
    width: int
    height: int


Point = Annotated[tuple[float, float], Field(description="(x, y) in pixels.")]


class Landmarks(Model):
    """dlib's five points. Left/right are the person's: their left eye is on the image's right."""

    left_eye_outer: Point
    left_eye_inner: Point
    right_eye_outer: Point
    right_eye_inner: Point
    nose_base: Point


class Pose(Model):
    """Head pose in degrees, estimated from the landmarks (about ±10° for |angle| < 45°)."""

    yaw: float = Field(description="> 0: the person turns to their left.")
    pitch: float = Field(description="> 0: the face tilts up.")
    roll: float = Field(description="> 0: the head tilts clockwise in the image.")


class Quality(Model):
    """How usable the face is for recognition, measured on the aligned 150×150 chip."""

    sharpness: float = Field(description="0-100, from the variance of the Laplacian.")
    brightness: float = Field(description="0-100, mean luminance.")
    face_size: int = Field(description="Shorter side of the box, in pixels.")


class DetectedFace(Model):
    """A face found in an uploaded image (never its embedding)."""

    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"model_id"})

    box: BoundingBox
    score: float = Field(description="Detector confidence.")
    detector: str
    landmarks: Landmarks
    pose: Pose
    quality: Quality
    model_id: str | SkipJsonSchema[None] = omitted("Model of the embedding, once computed.")


class FaceRecord(Model):
    """A stored face of a collection (never its embedding)."""

    face_id: str
    external_image_id: str | None
    image_sha256: str = Field(description="SHA-256 of the image it was indexed from.")
    box: BoundingBox
    score: float = Field(description="Detector confidence.")
    quality: Quality
    pose: Pose
    user_id: str | None = Field(description="The user it is associated with, if any.")
    created_at: str
    age_band: Literal["0-4", "5-11", "12-17", "adult"] | None = Field(
        None,
        description="The age band the operator declared at enrolment (never inferred); a "
        "search by this face must declare the same.",
    )


class UnindexedFace(Model):
    face: DetectedFace
    reasons: list[str] = Field(description="Why it was not indexed (quality filter, max_faces).")


# ------------------------------------------------------------------------------ collections


class Collection(Model):
    collection_id: str
    tenant_id: str
    model_id: str = Field(description="The face model of the collection's embeddings.")
    created_at: str
    face_count: int
    user_count: int
    image_count: int


class CollectionResponse(Model):
    collection: Collection
    decision: DecisionField


class DeletedCollection(Model):
    deleted: Collection = Field(description="The collection as it was before deletion.")
    decision: DecisionField


class CollectionList(Model):
    collections: list[Collection]
    next_token: str | None = Field(description="Pass to get the next page; null on the last.")
    decision: DecisionField


class IndexFacesResponse(Model):
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"existing_face_ids"})

    image_sha256: str
    external_image_id: str | None
    skipped: bool = Field(description="The image was indexed before; nothing was added.")
    face_records: list[FaceRecord] = Field(description="The faces stored.")
    unindexed_faces: list[UnindexedFace] = Field(description="The faces found but not stored.")
    existing_face_ids: list[str] | SkipJsonSchema[None] = omitted(
        "Faces stored before from this image (only when skipped)."
    )
    decision: DecisionField


class FaceList(Model):
    faces: list[FaceRecord]
    next_token: str | None = Field(description="Pass to get the next page; null on the last.")
    decision: DecisionField


class DeletedFaces(Model):
    deleted_faces: list[str] = Field(description="Ids of the faces deleted.")
    decision: DecisionField


# ------------------------------------------------------------------------------ searches


class FaceMatch(Model):
    face: FaceRecord
    similarity: float = Field(description="0-100, calibrated for the collection's model.")
    distance: float = Field(description="Euclidean distance between the embeddings (exact).")


class FaceSearch(Model):
    """The matches of one searched face."""

    searched_face: DetectedFace | FaceRecord | None = Field(
        description="The face searched with: detected in the image, or the stored face."
    )
    matches: list[FaceMatch]


class ErrorRates(Model):
    """Expected false candidates of a 1:N search: gallery size × audited FMR at the threshold
    used, from the newest fairness audit on file for the model; null numbers with a reason
    when there is none (never a made-up rate)."""

    model_id: str | None
    gallery_size: int | None = Field(description="Faces compared (the collection's faces).")
    threshold: float = Field(description="The similarity the search used.")
    audit_id: str | None = Field(description="The audit on file the rates come from.")
    audited_at: str | None
    rates_at_similarity: float | None = Field(
        description="The audit's grid point at or below the threshold (its FMR is an upper bound)."
    )
    fmr: float | None = Field(description="Overall FMR of the audit's reference datasets.")
    expected_false_candidates: float | None = Field(description="gallery_size × fmr.")
    worst_group: str | None = Field(description="The audited group with the highest FMR.")
    worst_group_fmr: float | None
    worst_group_expected_false_candidates: float | None
    age_band: Literal["0-4", "5-11", "12-17", "adult"] | None = Field(
        description="The probe's age band as the operator declared it (never inferred)."
    )
    age_band_fmr: float | None = Field(description="The audited FMR of that band (children).")
    fmr_ratio: float | None = Field(
        description="Highest / lowest group FMR of the audit's main grouping (null: unknown)."
    )
    reason: str | None = Field(description="Why a number is null.")


class FaceSearchResponse(Model):
    status: Literal["ok"] = Field(description="`ok`: results (a held search answers 202).")
    collection_id: str
    model_id: str
    threshold: float = Field(description="Similarity a match reached (the policy may raise it).")
    max_results: int
    image_sha256: str | None = Field(description="SHA-256 of the uploaded image, if any.")
    search_mode: Literal["exact", "approximate"]
    error_rates: ErrorRates | None = Field(
        description="Expected false candidates at the threshold used (null: no policy decided it)."
    )
    searches: list[FaceSearch] = Field(
        description="One per searched face: the largest, or every face with `all_faces`."
    )
    decision: DecisionField


class CompareMatch(Model):
    face: DetectedFace = Field(description="A face of the target image.")
    distance: float
    similarity: float = Field(description="0-100.")
    match: bool = Field(description="The similarity reached the threshold.")


class CompareResponse(Model):
    status: Literal["ok"]
    model_id: str
    threshold: float
    source_face: DetectedFace | None = Field(
        description="The largest face of the source image; null if it has none."
    )
    matches: list[CompareMatch]
    decision: DecisionField


class DetectResponse(Model):
    faces: list[DetectedFace]
    decision: DecisionField


# ------------------------------------------------------------------------------ users


class User(Model):
    user_id: str
    face_count: int
    created_at: str


class UserResponse(Model):
    user: User
    decision: DecisionField


class DeletedUser(Model):
    deleted: User = Field(description="The user as it was before deletion.")
    decision: DecisionField


class UserList(Model):
    users: list[User]
    next_token: str | None = Field(description="Pass to get the next page; null on the last.")
    decision: DecisionField


class UnsuccessfulFace(Model):
    face_id: str
    reason: str = Field(description="E.g. FACE_NOT_FOUND, ASSOCIATED_TO_A_DIFFERENT_USER.")


class AssociateFacesResponse(Model):
    associated_faces: list[str]
    unsuccessful_face_associations: list[UnsuccessfulFace]
    decision: DecisionField


class DisassociateFacesResponse(Model):
    disassociated_faces: list[str]
    unsuccessful_face_disassociations: list[UnsuccessfulFace]
    decision: DecisionField


class UserMatch(Model):
    user_id: str
    similarity: float = Field(description="0-100, by the aggregation of the user's faces.")
    distance: float
    face_count: int


class UserSearchResponse(Model):
    status: Literal["ok"]
    collection_id: str
    threshold: float
    aggregation: Literal["max", "centroid", "top2-mean"]
    image_sha256: str | None
    searched_face: DetectedFace | FaceRecord | None
    user_matches: list[UserMatch]
    error_rates: ErrorRates | None = Field(
        description="Expected false candidates at the threshold used; the gallery is the faces"
        " compared (an upper bound for `max`; indicative for the other aggregations)."
    )
    decision: DecisionField


# ------------------------------------------------------------------------------ leads


class Review(Model):
    reviewer_id: str
    verdict: Literal["confirm", "reject"]
    note: str | None
    at: str


class FaceSearchRow(Model):
    """A match of a held face search."""

    searched_face: int = Field(description="Index of the searched face in the request.")
    face_id: str
    external_image_id: str | None
    user_id: str | None
    similarity: float


class UserSearchRow(Model):
    """A match of a held user search."""

    user_id: str
    similarity: float
    face_count: int


class CompareRow(Model):
    """A target face of a held comparison."""

    target_face: int = Field(description="Index of the face in the target image.")
    similarity: float
    match: bool


class RedactedRow(Model):
    """A held result that named a data subject since erased (``subject.erase``)."""

    redacted: Literal["subject-erased"]


class LeadSearch(Model):
    """What a face search held for review was: where, with which model, at which threshold."""

    collection_id: str
    model_id: str
    threshold: float = Field(description="The similarity threshold applied.")
    gallery_size: int | None = Field(description="Faces in the collection when searched.")


class VideoSearchRow(Model):
    """A match of a held video search: a track of the footage and the face it matched."""

    track_index: int
    first_timestamp_ms: int = Field(description="First sampled frame the track was seen in.")
    last_timestamp_ms: int
    face_id: str
    external_image_id: str | None
    user_id: str | None
    similarity: float


class LeadSummary(Model):
    """A lead: results held until two reviewers of the organization confirm them."""

    id: str
    tenant_id: str
    requester_id: str
    operation: str = Field(description="The operation whose results it holds.")
    request_id: str = Field(description="The request that opened it.")
    purpose: str | None
    case_ref: str | None
    status: Literal["pending", "released", "rejected"]
    created_at: str
    closed_at: str | None
    reviews: list[Review]
    probe_crops: int = Field(
        0, description="Crops of the searched faces the lead keeps for its reviewers."
    )
    authorization_ref: str | None = Field(
        None, description="The authorization the request declared (warrant, court order)."
    )
    authorization_date: str | None = Field(None, description="Its date, YYYY-MM-DD.")
    search: LeadSearch | None = Field(
        None, description="The search that opened the lead (face searches)."
    )
    error_rates: ErrorRates | None = Field(
        description="Expected false candidates of the search held (null for other leads)."
    )


class Lead(LeadSummary):
    results: (
        list[FaceSearchRow | UserSearchRow | CompareRow | VideoSearchRow | RedactedRow] | None
    ) = Field(
        description="The held results; null when the viewer may not see them (the requester,"
        " before release)."
    )


class LeadList(Model):
    view: Literal["mine", "review"]
    leads: list[Lead]
    decision: DecisionField


class LeadResponse(Model):
    lead: Lead
    decision: DecisionField


class PendingLead(Model):
    """202: the policy requires human review; the results are held as a pending lead."""

    status: Literal["pending"]
    lead: LeadSummary = Field(description="The lead (without results): its id and status.")
    decision: DecisionField
    message: str
    request_id: str


# ------------------------------------------------------------------------------ audit log


class AuditRecord(Model):
    seq: int
    prev_hash: str = Field(description="Hash of the previous record (64 zeros for the first).")
    hash: str = Field(description='sha256(prev_hash + "\\n" + canonical JSON of record).')
    record: dict[str, Any] = Field(description="The audit event (its fields vary by kind).")


class AuditLogPage(Model):
    records: list[AuditRecord]
    next_after: int | None = Field(
        description="Pass as `after` for the next page; null on the last."
    )
    decision: DecisionField


# ------------------------------------------------------------------------------ service


class Health(Model):
    status: Literal["ok"]
    version: str


class WhoAmI(Model):
    principal_id: str
    tenant_id: str
    actor_class: str
    roles: list[str]
    purpose: str | None = Field(description="As declared in `X-Purpose`.")
    case_ref: str | None = Field(description="As declared in `X-Case-Ref`.")


# ------------------------------------------------------------------------------ errors


class ErrorDetail(Model):
    loc: list[str]
    message: str


class Error(Model):
    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"rule", "details"})

    code: str = Field(description="Stable: clients branch on it.")
    message: str = Field(description="One sentence a person reads.")
    rule: str | SkipJsonSchema[None] = omitted("The policy rule behind a refusal.")
    request_id: str
    details: list[ErrorDetail] | SkipJsonSchema[None] = omitted(
        "Every invalid parameter (validation errors)."
    )


class ErrorBody(Model):
    """Every failure: ``{"error": {"code", "message", "rule"?, "request_id"}}``."""

    error: Error
