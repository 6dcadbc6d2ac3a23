"""Response models of the video-search routes, on the same base as :mod:`faceledger.api.models`
(exactly these fields, no others)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from faceledger.api.models import BoundingBox, DecisionField, FaceRecord, Model, omitted

__all__ = ["VideoJobSummary", "VideoSearchJob"]


class VideoInfo(Model):
    """What the video's header says."""

    container: str = Field(description="`mp4/mov` or `mkv/webm`.")
    codec: str
    width: int = Field(description="Coded width (a display rotation is applied to frames).")
    height: int
    duration_ms: int | None
    frame_rate: float | None
    frame_count: int | None
    bit_rate: int | None = Field(description="Bits per second.")
    rotation: int = Field(description="Rotation from the header's `rotate` tag, degrees.")
    size_bytes: int


class JobError(Model):
    code: str = Field(description="Stable code: `corrupt_video`, `truncated_video`, ...")
    message: str


class TrackMatch(Model):
    face: FaceRecord
    similarity: float = Field(description="0-100, calibrated for the collection's model.")
    distance: float


class VideoTrack(Model):
    """One person followed across sampled frames, searched once."""

    omitted_when_none: ClassVar[frozenset[str]] = frozenset({"matches"})

    index: int
    first_timestamp_ms: int
    last_timestamp_ms: int
    samples: int = Field(description="Sampled frames the track was seen in.")
    best_timestamp_ms: int | None = Field(description="The best-quality frame described.")
    best_box: BoundingBox | None
    searched: bool = Field(description="False: no frame of the track was usable for recognition.")
    matches: list[TrackMatch] | SkipJsonSchema[None] = omitted(
        "The faces it matched (absent while they are held for review)."
    )


class PersonMatch(Model):
    face_id: str
    external_image_id: str | None
    similarity: float


class Person(Model):
    """A person seen in one sampled frame (the cloud API's GetFaceSearch `Persons`)."""

    timestamp_ms: int
    track_index: int
    box: BoundingBox
    matches: list[PersonMatch] = Field(description="The matches of the person's track.")


class VideoJobSummary(Model):
    """A video search job: its status and progress."""

    job_id: str
    collection_id: str
    status: Literal["queued", "running", "succeeded", "withheld", "failed", "cancelled"] = Field(
        description="`withheld`: the matches are held for review in lead `lead_id`."
    )
    progress: float = Field(description="0 to 1: share of the footage processed.")
    video_sha256: str
    sample_fps: float | None = Field(description="Frames sampled per second of footage.")
    video: VideoInfo | None
    error: JobError | None
    lead_id: str | None
    created_at: str
    updated_at: str
    finished_at: str | None


class VideoSearchJob(VideoJobSummary):
    """A video search job: its status and progress, and once it succeeded, its results."""

    threshold: float | None = Field(description="Similarity a match reached (policy floor).")
    tracks: list[VideoTrack] | None = Field(description="Every track, once the job has ended.")
    persons: list[Person] | None = Field(description="A page of sampled appearances, by time.")
    next_token: str | None = Field(description="Pass to get the next page of `persons`.")
    decision: DecisionField
