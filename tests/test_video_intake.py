"""Video intake: containers and codecs the PyAV wheel decodes, rotation, limits checked from the
header before decoding, and one clear error per broken file (synthetic clips made here)."""

from __future__ import annotations

import pytest

pytest.importorskip("av")

from faceledger.errors import VideoError  # noqa: E402
from faceledger.video.intake import VideoLimits, probe, sample_frames  # noqa: E402
from testdata import PORTRAITS, encode, rgb  # noqa: E402
from videodata import Appearance, clip, corrupted, truncated  # noqa: E402


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    out = tmp_path_factory.mktemp("video") / "a.mp4"
    return clip(out, [Appearance(PORTRAITS[0], 1.0, 3.0)], seconds=4, size=(320, 240))


@pytest.mark.parametrize(
    ("name", "codec"),
    [("a.mp4", "libx264"), ("a.mov", "libx264"), ("a.mkv", "libx264"), ("a.webm", "libvpx-vp9"),
     ("b.mp4", "hevc"), ("b.mkv", "mpeg4"), ("c.mkv", "libsvtav1")],
)  # fmt: skip
def test_containers_and_codecs_sample_at_the_asked_rate(tmp_path, name, codec) -> None:
    path = clip(tmp_path / name, [], seconds=2, size=(160, 120), codec=codec)
    info = probe(path)
    assert (info.width, info.height, info.duration_ms) == (160, 120, 2000)
    assert info.codec == {"libx264": "h264", "libvpx-vp9": "vp9", "libsvtav1": "av1"}.get(
        codec, codec
    )
    assert info.frame_rate == 10 and info.size_bytes == path.stat().st_size
    stamps = [s.timestamp_ms for s in sample_frames(path, fps=2)]
    assert stamps == [0, 500, 1000, 1500]
    assert [s.timestamp_ms for s in sample_frames(path, fps=5)] == list(range(0, 2000, 200))


def test_display_rotation_is_applied_to_frames(tmp_path, engine) -> None:
    path = clip(tmp_path / "r.mp4", [Appearance(PORTRAITS[0], 0.0, 1.0, x0=40, speed=0,
                                                scale=1.8)],
                seconds=1, size=(480, 640), rotation=90)  # fmt: skip
    sample = next(sample_frames(path))
    assert sample.pixels.shape == (640, 480, 3), "stored 640x480 sideways, shown upright"
    assert len(engine.detect_pixels(sample.pixels)) == 1, "the face is upright again"


def test_limits_are_checked_from_the_header(mp4) -> None:
    cases = {
        "video_too_large": VideoLimits(max_bytes=1000),
        "video_too_long": VideoLimits(max_duration_s=3),
        "video_resolution_too_high": VideoLimits(max_pixels=320 * 200),
        "video_bitrate_too_high": VideoLimits(max_bitrate=10_000),
    }
    for code, limits in cases.items():
        with pytest.raises(VideoError) as info:
            probe(mp4, limits)
        assert info.value.code == code, (code, str(info.value))
    with pytest.raises(VideoError) as frames:
        probe(mp4, VideoLimits(max_frames=39))
    assert frames.value.code == "video_too_long" and "39" in str(frames.value)


def test_broken_files_give_one_clear_error(tmp_path, mp4) -> None:
    webm = clip(tmp_path / "w.webm", [], seconds=4, size=(160, 120), codec="libvpx-vp9")
    expected = {
        truncated(mp4, tmp_path / "t.mp4"): "corrupt_video",  # no index at the end: unreadable
        truncated(webm, tmp_path / "t.webm", 0.5): "truncated_video",
        corrupted(mp4, tmp_path / "c.mp4"): "corrupt_video",
        tmp_path / "empty.mp4": "empty_video",
        tmp_path / "photo.mp4": "not_a_video",
        tmp_path / "missing.mp4": "file_not_found",
    }
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "photo.mp4").write_bytes(encode(rgb(PORTRAITS[0])))
    for path, code in expected.items():
        with pytest.raises(VideoError) as info:
            list(sample_frames(path))
        assert info.value.code == code, (path.name, info.value.code, str(info.value))
    with pytest.raises(VideoError) as text:
        list(sample_frames(b"just some text, not a video at all"))
    assert text.value.code == "not_a_video" and "MP4, MOV, MKV or WebM" in str(text.value)
