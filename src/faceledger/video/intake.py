"""Safe video intake: a stored video becomes upright RGB frames sampled at a fixed rate, or a
:class:`~faceledger.errors.VideoError` with a stable code, as ``images.py`` does for images.

PyAV (FFmpeg in its wheel) reads MP4 and MOV (``mov,mp4,...`` demuxer) and MKV and WebM
(``matroska,webm``), with whatever video codecs the wheel decodes (H.264, HEVC, VP8, VP9, AV1
through dav1d, MPEG-4...). :func:`probe` reads the container header and checks every limit
(file size, duration, resolution, frame count, bit rate) before a single frame is decoded;
:func:`sample_frames` then decodes, applies the display-matrix rotation a phone wrote, and keeps
one frame per sampling interval. A file that ends before the duration its header announces is
``truncated_video``; data the decoder refuses is ``corrupt_video``. The limits hold during
decoding too (a header may lie).

Codes: ``file_not_found``, ``empty_video``, ``not_a_video``, ``unsupported_video``,
``no_video_stream``, ``corrupt_video``, ``truncated_video``, ``video_too_large`` (file size),
``video_too_long`` (duration or frame count), ``video_resolution_too_high``,
``video_bitrate_too_high``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from faceledger.errors import VideoError

VideoInput = str | os.PathLike[str] | bytes

DEMUXERS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4/mov", "matroska,webm": "mkv/webm"}
"""The containers accepted (FFmpeg demuxer name → what we call it)."""

DEFAULT_SAMPLE_FPS = 2.0


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """What a video may be at most; checked from the header before decoding, and again while
    decoding. The defaults take an hour of 4K at 60 frames per second."""

    max_bytes: int = 2 * 1024**3
    max_duration_s: float = 3600.0
    max_pixels: int = 3840 * 2160
    max_frames: int = 3600 * 60
    max_bitrate: int = 100_000_000
    """Bits per second (file size over duration when the header does not say)."""


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the header says: the coded frame size (a display-matrix rotation, which FFmpeg
    exposes per frame, is applied to the frames themselves)."""

    container: str
    codec: str
    width: int
    height: int
    duration_ms: int | None
    frame_rate: float | None
    frame_count: int | None
    bit_rate: int | None
    rotation: int
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled frame: its index among samples, its time since the start, its pixels."""

    index: int
    timestamp_ms: int
    pixels: np.ndarray
    """H×W×3 uint8 RGB, upright."""


def probe(source: VideoInput, limits: VideoLimits | None = None) -> VideoInfo:
    """Read the header of ``source`` and check it against ``limits``; no frame is decoded."""
    limits = limits or VideoLimits()
    size = _size(source)
    if size == 0:
        raise VideoError("empty input: no bytes to decode", code="empty_video")
    if size > limits.max_bytes:
        raise VideoError(
            f"video file too large: {size:,} bytes exceeds the limit of {limits.max_bytes:,}; "
            "cut it into shorter clips",
            code="video_too_large",
        )
    with _open(source) as container:
        return _check(_info(container, size), limits)


def recorded_at(source: VideoInput) -> datetime | None:
    """When the first frame was recorded, from the container's ``creation_time`` tag (MP4, MOV,
    MKV write it when the camera sets it); None when absent or unreadable."""
    with _open(source) as container:
        tags = dict(container.metadata or {})
        for stream in container.streams.video[:1]:
            tags = {**dict(stream.metadata or {}), **tags}
    value = tags.get("creation_time")
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def sample_frames(
    source: VideoInput,
    *,
    fps: float = DEFAULT_SAMPLE_FPS,
    limits: VideoLimits | None = None,
    window_ms: tuple[int, int] | None = None,
) -> Iterator[Sample]:
    """Upright RGB frames of ``source``, one per ``1/fps`` seconds (the first frame at or after
    each sampling time). Probes and checks the limits first (:func:`probe`)."""
    if not 0.01 <= fps <= 60:
        raise VideoError("sample rate must be between 0.01 and 60 frames per second",
                         code="invalid_request")  # fmt: skip
    limits = limits or VideoLimits()
    info = probe(source, limits)
    interval = 1.0 / fps
    with _open(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = _seconds(stream.start_time, stream.time_base) or 0.0
        frame_step = 1.0 / info.frame_rate if info.frame_rate else 0.0
        next_t, index, decoded, last_t = 0.0, 0, 0, None
        try:
            for frame in container.decode(stream):
                decoded += 1
                if decoded > limits.max_frames:
                    raise VideoError(
                        f"video too long: more than {limits.max_frames:,} frames",
                        code="video_too_long",
                    )
                t = (frame.time if frame.time is not None else decoded * frame_step) - start
                if t / 1.0 > limits.max_duration_s + 1:
                    raise VideoError(
                        f"video too long: it runs past the limit of {limits.max_duration_s:g} s",
                        code="video_too_long",
                    )
                last_t = t
                if t + frame_step / 2 < next_t:
                    continue
                if frame.width * frame.height > limits.max_pixels:
                    raise VideoError(
                        f"video resolution too high: a {frame.width}x{frame.height} frame "
                        f"exceeds the limit of {limits.max_pixels:,} pixels",
                        code="video_resolution_too_high",
                    )
                ms = max(0, round(t * 1000))
                if window_ms is not None and ms > window_ms[1]:
                    return  # past the window: nothing after it is decoded or searched
                if window_ms is None or ms >= window_ms[0]:
                    yield Sample(index, ms, _upright(frame))
                    index += 1
                while next_t <= t + frame_step / 2:
                    next_t += interval
        except VideoError:
            raise
        except Exception as exc:  # noqa: BLE001 - FFmpeg's errors, whatever their class
            if _is_av_error(exc):
                raise VideoError(
                    f"corrupt video data after {decoded} frames: {exc}", code="corrupt_video"
                ) from exc
            raise
    if decoded == 0:
        raise VideoError("no frame could be decoded: the video is corrupt or truncated",
                         code="corrupt_video")  # fmt: skip
    if info.duration_ms and last_t is not None:
        missing = info.duration_ms / 1000 - (last_t + frame_step)
        if missing > max(0.5, 3 * frame_step):
            raise VideoError(
                f"truncated video: frames end at {last_t:.2f} s of the "
                f"{info.duration_ms / 1000:.2f} s its header announces; upload the complete file",
                code="truncated_video",
            )


# --------------------------------------------------------------------------------- internals
def _size(source: VideoInput) -> int:
    if isinstance(source, bytes | bytearray | memoryview):
        return len(source)
    if not isinstance(source, str | os.PathLike):
        raise VideoError(
            f"unsupported input type {type(source).__name__}: give a path or bytes",
            code="unsupported_input",
        )
    path = Path(source)
    if not path.exists():
        raise VideoError(f"no such file: {path}", code="file_not_found")
    if not path.is_file():
        raise VideoError(f"not a file: {path}", code="not_a_video")
    return path.stat().st_size


class _open:
    """``av.open`` with its errors turned into VideoError."""

    def __init__(self, source: VideoInput) -> None:
        self.source = source
        self.container: Any = None

    def __enter__(self) -> Any:
        try:
            import av
        except ImportError as exc:
            raise VideoError(
                "video support needs PyAV: pip install 'faceledger[video]'",
                code="unsupported_video",
            ) from exc

        src = io.BytesIO(bytes(self.source)) if isinstance(self.source, bytes) else self.source
        try:
            self.container = av.open(src, mode="r")  # type: ignore[arg-type]
        except av.error.InvalidDataError as exc:
            raise VideoError(
                "not a readable video (MP4, MOV, MKV or WebM expected); if it is one, the "
                "file is corrupt or truncated: upload the complete file",
                code="corrupt_video" if _looks_like_video(self.source) else "not_a_video",
            ) from exc
        except Exception as exc:  # noqa: BLE001
            if _is_av_error(exc):
                raise VideoError(f"cannot open the video: {exc}", code="corrupt_video") from exc
            raise
        fmt = self.container.format.name
        if fmt not in DEMUXERS:
            self.container.close()
            raise VideoError(
                f"unsupported container {fmt!r}: MP4, MOV, MKV or WebM expected",
                code="not_a_video" if "image" in fmt or "pipe" in fmt else "unsupported_video",
            )
        return self.container

    def __exit__(self, *exc: object) -> None:
        if self.container is not None:
            self.container.close()


def _info(container: Any, size: int) -> VideoInfo:
    if not container.streams.video:
        raise VideoError("the file holds no video stream", code="no_video_stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None or not ctx.codec or ctx.name is None:
        raise VideoError("the video codec is not one this build decodes", code="unsupported_video")
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    if width <= 0 or height <= 0:
        raise VideoError("the video header has no frame size: corrupt or unsupported",
                         code="corrupt_video")  # fmt: skip
    duration = _seconds(stream.duration, stream.time_base)
    if duration is None and container.duration:
        duration = container.duration / 1_000_000
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    frame_rate = float(rate) if rate else None
    frames = int(stream.frames or 0) or (
        int(round(duration * frame_rate)) if duration and frame_rate else None
    )
    bit_rate = int(container.bit_rate or 0) or (int(size * 8 / duration) if duration else None)
    rotation = _stream_rotation(stream)
    if rotation % 180:
        width, height = height, width
    return VideoInfo(
        container=DEMUXERS[container.format.name],
        codec=getattr(ctx.codec, "canonical_name", None) or ctx.name, width=width, height=height,
        duration_ms=round(duration * 1000) if duration else None, frame_rate=frame_rate,
        frame_count=frames, bit_rate=bit_rate, rotation=rotation, size_bytes=size,
    )  # fmt: skip


def _check(info: VideoInfo, limits: VideoLimits) -> VideoInfo:
    if info.width * info.height > limits.max_pixels:
        raise VideoError(
            f"video resolution too high: {info.width}x{info.height} exceeds the limit of "
            f"{limits.max_pixels:,} pixels; scale it down",
            code="video_resolution_too_high",
        )
    if info.duration_ms is not None and info.duration_ms > limits.max_duration_s * 1000:
        raise VideoError(
            f"video too long: {info.duration_ms / 1000:.1f} s exceeds the limit of "
            f"{limits.max_duration_s:g} s; cut it into shorter clips",
            code="video_too_long",
        )
    if info.frame_count is not None and info.frame_count > limits.max_frames:
        raise VideoError(
            f"video too long: {info.frame_count:,} frames exceed the limit of "
            f"{limits.max_frames:,}",
            code="video_too_long",
        )
    if info.bit_rate is not None and info.bit_rate > limits.max_bitrate:
        raise VideoError(
            f"video bit rate too high: {info.bit_rate:,} bit/s exceeds the limit of "
            f"{limits.max_bitrate:,}; re-encode it",
            code="video_bitrate_too_high",
        )
    return info


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _stream_rotation(stream: Any) -> int:
    """Counter-clockwise display rotation in degrees from the old ``rotate`` tag; the display
    matrix of newer files is read from each decoded frame (``frame.rotation``)."""
    value = 0
    rotate = stream.metadata.get("rotate") if stream.metadata else None
    if rotate:
        try:
            value = -int(float(rotate))  # the old tag is clockwise
        except ValueError:
            value = 0
    return _normalize(value)


def _normalize(degrees: float) -> int:
    return int(round(degrees / 90.0)) % 4 * 90


def _upright(frame: Any) -> np.ndarray:
    pixels = frame.to_ndarray(format="rgb24")
    turns = _normalize(getattr(frame, "rotation", 0) or 0) // 90
    if turns:
        pixels = np.rot90(pixels, k=turns)
    return np.ascontiguousarray(pixels)


def _looks_like_video(source: VideoInput) -> bool:
    """An MP4/MOV (``ftyp`` box) or Matroska/WebM (EBML magic) header."""
    if isinstance(source, bytes):
        head = source[:16]
    else:
        with open(source, "rb") as f:
            head = f.read(16)
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") or head[:4] == (
        b"\x1a\x45\xdf\xa3"
    )


def _is_av_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("av")
