"""Stored-video face search: safe intake (``intake``), face tracks (``tracks``), the pipeline
(``search``) and the job worker (``jobs``). The governed service is ``service.video``."""

from faceledger.video.intake import (
    DEFAULT_SAMPLE_FPS,
    Sample,
    VideoInfo,
    VideoLimits,
    probe,
    sample_frames,
)

__all__ = ["DEFAULT_SAMPLE_FPS", "Sample", "VideoInfo", "VideoLimits", "probe", "sample_frames"]
