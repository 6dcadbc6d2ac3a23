"""Footage that camera owners choose to share for a case: a mixin of
:class:`~faceledger.service.faces.FaceService`.

- ``camera.register`` (an organization of class ``camera-owner``): a camera and its location.
- ``footage.request`` (an agency): a case reference, purpose and authorization (the policy's
  law-enforcement rules: the moratorium refuses what face search refuses), a time window of at
  most 12 hours, an area (a point and a radius of at most 500 m), a plain-language reason and
  optionally the event type (the default policy refuses protests and other assemblies). It is
  open for ``expires_hours`` (at most 14 days).
- ``footage.inbox`` (an owner): the open requests whose area covers one of its cameras, with its
  own answers. Reading one's inbox is recorded in the owner's organization only: the agency
  never learns who saw or ignored a request.
- ``footage.share`` (an owner): a clip of one of its cameras in the area, probed against the
  video limits and kept (0600) until searched or revoked; ``footage.decline``; ``footage.revoke``
  (until the clip has been searched).
- ``footage.search`` (the agency that asked, for that case, until the request expires): every
  clip shared for the request becomes a video search job (``service.video``) under this one
  decision; nothing else can be searched this way, and never "all cameras".
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from faceledger import validation
from faceledger.engine.similarity import DEFAULT_SEARCH_THRESHOLD
from faceledger.errors import ConflictError, FaceledgerError, InvalidRequestError, NotFoundError
from faceledger.governance import vocabulary
from faceledger.governance.clock import iso, utc_now
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.service.unit import Governed
from faceledger.service.video import SPOOL_DIR, _context_dict, _digest
from faceledger.settings import private_dir
from faceledger.store.footage import Camera, FootageRequest, Share
from faceledger.store.video import VideoJob
from faceledger.video.intake import probe, recorded_at

if TYPE_CHECKING:
    from faceledger.service.faces import FaceService

MAX_WINDOW_HOURS = 12
MAX_RADIUS_M = 500.0
MAX_OPEN_HOURS = 14 * 24
MAX_INBOX_PAGE = 500
FOOTAGE_SPOOL = "footage-spool"


class FootageError(FaceledgerError):
    """A footage request cannot be used so: another case, expired, nothing shared."""

    code = "footage_refused"


class FootageOperations:
    """Mixed into FaceService: uses its store, unit of work and the video job machinery."""

    def _clock_now(self: FaceService) -> datetime:
        return getattr(self.gate, "clock", utc_now)()

    def _footage_spool(self: FaceService) -> Path:
        return private_dir(Path(getattr(self.store, "path", ".")).parent / FOOTAGE_SPOOL)

    def register_camera(
        self: FaceService, ctx: RequestContext, name: str, lat: float, lon: float
    ) -> Governed[Camera]:
        name = validation.clean_text(name, "name", validation.MAX_REFERENCE) or ""
        request = {"camera_name": name, "lat": lat, "lon": lon}

        def work(_: Decision) -> tuple[Camera, dict[str, Any]]:
            _check_point(lat, lon)
            if not name:
                raise InvalidRequestError("a camera needs a name")
            camera = Camera(f"cam_{secrets.token_hex(8)}", ctx.tenant_id, name, lat, lon,
                            iso(self._clock_now()))  # fmt: skip
            return self.store.add_camera(camera), {"camera_id": camera.camera_id}

        return self.unit.run(ctx, "camera.register", request, work, writes=True)

    def open_footage_request(
        self: FaceService,
        ctx: RequestContext,
        *,
        start: datetime,
        end: datetime,
        lat: float,
        lon: float,
        radius_m: float,
        reason: str,
        event_type: str | None = None,
        expires_hours: float = 72,
    ) -> Governed[FootageRequest]:
        """Ask the owners of the cameras in an area for footage of a time window."""
        reason = validation.clean_text(reason, "reason", 2000) or ""
        request = {"event_type": event_type, "radius_m": radius_m, "lat": lat, "lon": lon,
                   "window": [iso(start), iso(end)], "case_ref": ctx.case_ref}  # fmt: skip

        def work(_: Decision) -> tuple[FootageRequest, dict[str, Any]]:
            if event_type is not None:
                vocabulary.check("event type", event_type)
            _check_point(lat, lon)
            if not 0 < radius_m <= MAX_RADIUS_M:
                raise InvalidRequestError(f"radius_m must be above 0 and at most {MAX_RADIUS_M:g}")
            if not timedelta(0) < end - start <= timedelta(hours=MAX_WINDOW_HOURS):
                raise InvalidRequestError(
                    f"the time window must end after it starts and last at most "
                    f"{MAX_WINDOW_HOURS} hours"
                )
            if not 0 < expires_hours <= MAX_OPEN_HOURS:
                raise InvalidRequestError(f"expires_hours must be at most {MAX_OPEN_HOURS}")
            if not reason:
                raise InvalidRequestError("say, in plain language, why the footage is needed")
            now = self._clock_now()
            fr = FootageRequest(
                request_id=f"fr_{secrets.token_hex(8)}", tenant_id=ctx.tenant_id,
                principal_id=ctx.principal_id, case_ref=ctx.case_ref or "",
                purpose=ctx.purpose or "", reason=reason, event_type=event_type,
                start_at=iso(start), end_at=iso(end), lat=lat, lon=lon, radius_m=radius_m,
                created_at=iso(now), expires_at=iso(now + timedelta(hours=expires_hours)),
            )  # fmt: skip
            return self.store.add_footage_request(fr), {"footage_request_id": fr.request_id}

        return self.unit.run(ctx, "footage.request", request, work, writes=True)

    def footage_inbox(
        self: FaceService, ctx: RequestContext, *, limit: int = 50, next_token: str | None = None
    ) -> Governed[dict[str, Any]]:
        """One page of the open requests covering the owner's cameras (oldest first), and the
        token of the next page (bound to this organization's inbox)."""
        request = {"limit": limit, "next_token": next_token}

        def work(_: Decision) -> tuple[dict[str, Any], dict[str, Any]]:
            if not 1 <= limit <= MAX_INBOX_PAGE:
                raise InvalidRequestError(f"limit must be between 1 and {MAX_INBOX_PAGE}")
            after = self.store.inbox_page_after(ctx.tenant_id, next_token)
            cameras = self.store.cameras(ctx.tenant_id)
            out, page, token = [], [], None
            for fr in self.store.open_footage_requests(iso(self._clock_now())):
                if (fr.created_at, fr.request_id) <= after:
                    continue
                mine = [c.camera_id for c in cameras if fr.covers(c.lat, c.lon)]
                if not mine:
                    continue
                if len(out) == limit:
                    token = self.store.inbox_page_token(ctx.tenant_id, page[-1])
                    break
                answers = self.store.shares(fr.request_id, owner_tenant_id=ctx.tenant_id)
                out.append({**fr.to_dict(), "cameras": mine,
                            "answers": [a.to_dict() for a in answers]})  # fmt: skip
                page.append(fr)
            return {"requests": out, "next_token": token}, {"count": len(out)}

        return self.unit.run(ctx, "footage.inbox", request, work)

    def _open_for_owner(
        self: FaceService, ctx: RequestContext, request_id: str
    ) -> tuple[FootageRequest, list[Camera]]:
        fr = self.store.get_footage_request(request_id)
        if fr.expires_at <= iso(self._clock_now()):
            raise FootageError("the footage request has expired", code="request_expired")
        cameras = [c for c in self.store.cameras(ctx.tenant_id) if fr.covers(c.lat, c.lon)]
        if not cameras:
            raise NotFoundError(f"footage request {request_id!r} not found")
        return fr, cameras

    def share_footage(
        self: FaceService,
        ctx: RequestContext,
        request_id: str,
        camera_id: str,
        clip: bytes | str | os.PathLike[str] | BinaryIO,
        *,
        clip_start: datetime | None = None,
    ) -> Governed[Share]:
        """Share a clip of one of the owner's cameras in the request's area. ``clip_start``
        is when its first frame was recorded (else the container's ``creation_time``); a clip
        entirely outside the request's time window is refused."""
        digest = _digest(clip)
        share_id = f"shr_{secrets.token_hex(8)}"
        spool = self._footage_spool() / f"{share_id}.video"
        declared = iso(clip_start) if clip_start and clip_start.tzinfo else None
        request = {"footage_request_id": request_id, "camera_id": camera_id,
                   "video_sha256": digest, "clip_start": declared}  # fmt: skip

        def prepare(_: Decision) -> str:
            fr, cameras = self._open_for_owner(ctx, request_id)
            if camera_id not in [c.camera_id for c in cameras]:
                raise NotFoundError(f"camera {camera_id!r} not found in the request's area")
            if clip_start is not None and clip_start.tzinfo is None:
                raise InvalidRequestError("clip_start needs a time zone, e.g. 2026-01-01T08:00Z")
            _spool(clip, spool)
            info = probe(spool, self.video_limits)
            start = clip_start or recorded_at(spool)
            if start is None:
                raise InvalidRequestError(
                    "say when the clip starts: clip_start (ISO 8601 with a zone); the file "
                    "carries no creation_time"
                )
            end = start + timedelta(milliseconds=info.duration_ms or 0)
            if end < _at(fr.start_at) or start > _at(fr.end_at):
                raise FootageError(
                    f"the clip ({iso(start)} to {iso(end)}) lies outside the request's time "
                    f"window ({fr.start_at} to {fr.end_at}): share footage of that window only",
                    code="outside_window",
                )
            return iso(start)

        def work(_: Decision, start: str) -> tuple[Share, dict[str, Any]]:
            now = iso(self._clock_now())
            share = Share(share_id, request_id, ctx.tenant_id, camera_id, "shared", digest,
                          spool.name, now, now, start)  # fmt: skip
            return self.store.add_share(share), {"share_id": share_id}

        try:
            return self.unit.run(ctx, "footage.share", request, work, prepare=prepare,
                                 writes=True)  # fmt: skip
        except BaseException:
            spool.unlink(missing_ok=True)
            raise

    def decline_footage(self: FaceService, ctx: RequestContext, request_id: str) -> Governed[Share]:
        def work(_: Decision) -> tuple[Share, dict[str, Any]]:
            self._open_for_owner(ctx, request_id)
            now = iso(self._clock_now())
            share = Share(f"shr_{secrets.token_hex(8)}", request_id, ctx.tenant_id, None,
                          "declined", None, None, now, now)  # fmt: skip
            return self.store.add_share(share), {"share_id": share.share_id}

        return self.unit.run(ctx, "footage.decline", {"footage_request_id": request_id}, work,
                             writes=True)  # fmt: skip

    def revoke_share(self: FaceService, ctx: RequestContext, share_id: str) -> Governed[Share]:
        def work(_: Decision) -> tuple[Share, dict[str, Any]]:
            share = self.store.get_share(share_id)
            if share.owner_tenant_id != ctx.tenant_id:
                raise NotFoundError(f"share {share_id!r} not found")
            if share.status != "shared":
                raise ConflictError(f"the share is {share.status}: it can no longer be revoked")
            return self.store.set_share_status(share_id, "revoked", at=iso(self._clock_now())), {
                "share_id": share_id
            }

        governed = self.unit.run(ctx, "footage.revoke", {"share_id": share_id}, work,
                                 writes=True)  # fmt: skip
        (self._footage_spool() / f"{share_id}.video").unlink(missing_ok=True)
        return governed

    def search_footage(
        self: FaceService,
        ctx: RequestContext,
        request_id: str,
        collection_id: str,
        *,
        threshold: float = DEFAULT_SEARCH_THRESHOLD,
        max_results: int = 10,
        sample_fps: float = 2.0,
        min_face_size: int = 40,
    ) -> Governed[list[VideoJob]]:
        """Search the clips shared for this request (one video job each), for its case."""
        try:
            fr = self.store.get_footage_request(request_id)
        except NotFoundError:
            fr = None
        request = {
            "footage_request_id": request_id, "collection_id": collection_id,
            "event_type": fr.event_type if fr else None, "threshold": threshold,
            "max_results": max_results, "sample_fps": sample_fps,
            "min_face_size": min_face_size, "search_mode": "exact",
        }  # fmt: skip

        def work(decision: Decision) -> tuple[list[VideoJob], dict[str, Any]]:
            if fr is None or fr.tenant_id != ctx.tenant_id:
                raise NotFoundError(f"footage request {request_id!r} not found")
            if ctx.case_ref != fr.case_ref:
                raise FootageError(
                    f"this footage was shared for case {fr.case_ref!r} only", code="wrong_case"
                )
            now = self._clock_now()
            if fr.expires_at <= iso(now):
                raise FootageError("the footage request has expired", code="request_expired")
            model = self.store.describe_collection(ctx.tenant_id, collection_id).model_id
            self._limits(decision, threshold, max_results, model)
            shared = [s for s in self.store.shares(request_id) if s.status == "shared"]
            if not shared:
                raise FootageError("no footage is shared for this request",
                                   code="no_shared_footage")  # fmt: skip
            jobs = []
            consumed.clear()
            for share in shared:
                job_id = f"vid_{secrets.token_hex(8)}"
                source = self._footage_spool() / (share.spool or "")
                target = self._spool_dir() / f"{job_id}.video"
                copies.append(target)
                shutil.copyfile(source, target)
                os.chmod(target, 0o600)
                job = VideoJob(
                    job_id=job_id, tenant_id=ctx.tenant_id, principal_id=ctx.principal_id,
                    collection_id=collection_id, status="queued", progress=0.0,
                    video_sha256=share.clip_sha256 or "", spool=target.name,
                    params={"threshold": threshold, "max_results": max_results,
                            "sample_fps": sample_fps, "min_face_size": min_face_size,
                            "search_mode": "exact", "operation": "footage.search",
                            "share_id": share.share_id,
                            "window_ms": _window_ms(fr, share.clip_start)},
                    context=_context_dict(ctx), decision=dataclasses.asdict(decision),
                    info=probe(target, self.video_limits).to_dict(), result=None,
                    error_code=None, error_message=None, lead_id=None, created_at=iso(now),
                    updated_at=iso(now), finished_at=None,
                )  # fmt: skip
                jobs.append(self.store.add_video_job(job))
                self.store.set_share_status(share.share_id, "searched", at=iso(now))
                consumed.append(source)
            return jobs, {"job_ids": [j.job_id for j in jobs], "count": len(jobs)}

        consumed: list[Path] = []
        copies: list[Path] = []
        try:
            governed = self.unit.run(ctx, "footage.search", request, work, writes=True)
        except BaseException:
            for copy in copies:
                copy.unlink(missing_ok=True)
            raise
        for source in consumed:  # the shared clips now live on as the jobs' spools
            source.unlink(missing_ok=True)
        return governed


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _window_ms(fr: FootageRequest, clip_start: str | None) -> list[int] | None:
    """The request's time window as offsets into the clip (ms since its first frame)."""
    if clip_start is None:  # a share made before clips declared their start
        return None
    start = _at(clip_start)
    first = (_at(fr.start_at) - start) / timedelta(milliseconds=1)
    last = (_at(fr.end_at) - start) / timedelta(milliseconds=1)
    return [max(0, int(first)), int(last)]


def _check_point(lat: float, lon: float) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidRequestError("lat must be in [-90, 90] and lon in [-180, 180]")


def _spool(source: bytes | str | os.PathLike[str] | BinaryIO, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        if isinstance(source, bytes):
            out.write(source)
        elif hasattr(source, "read"):
            source.seek(0)  # type: ignore[union-attr]
            shutil.copyfileobj(source, out, 1 << 20)  # type: ignore[arg-type]
        else:
            with open(source, "rb") as src:  # type: ignore[arg-type]
                shutil.copyfileobj(src, out, 1 << 20)


__all__ = ["SPOOL_DIR", "FootageError", "FootageOperations"]
