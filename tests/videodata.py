"""Synthetic test footage: public-domain portraits moving over a background, encoded with PyAV at
test time (nothing stored in the repository), entering and leaving at known times.

``clip(path, appearances, ...)`` writes a video; each :class:`Appearance` is one portrait on
screen from ``enter`` to ``leave`` seconds, sliding horizontally. ``truncated`` and ``corrupted``
make broken copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Appearance:
    portrait: Path
    enter: float
    leave: float
    x0: int = 100
    """Left edge when it enters; it slides right by ``speed`` pixels per second."""
    y: int = 60
    speed: float = 40.0
    scale: float = 1.5


def background(width: int, height: int) -> np.ndarray:
    """A textured, static backdrop (gradient and stripes: not a flat colour)."""
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    r = 70 + 60 * x + 0 * y
    g = 90 + 40 * y + 0 * x
    b = 110 + 30 * np.sin(12 * x + 0 * y)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def frame_at(t: float, base: np.ndarray, appearances: list[Appearance], cache: dict) -> np.ndarray:
    canvas = Image.fromarray(base)
    for a in appearances:
        if a.enter <= t < a.leave:
            img = cache.get(a)
            if img is None:
                src = Image.open(a.portrait).convert("RGB")
                img = cache[a] = src.resize((int(src.width * a.scale), int(src.height * a.scale)))
            canvas.paste(img, (int(a.x0 + a.speed * (t - a.enter)), a.y))
    return np.asarray(canvas)


def clip(
    path: Path,
    appearances: list[Appearance],
    *,
    seconds: float = 4.0,
    size: tuple[int, int] = (640, 360),
    fps: int = 10,
    codec: str = "libx264",
    rotation: int = 0,
    options: dict[str, str] | None = None,
    recorded: str | None = None,
) -> Path:
    """Encode the scene; ``rotation``: frames stored turned clockwise by that many degrees with
    a display matrix that turns them back (as phones write portrait video); ``recorded``: the
    container's ``creation_time`` (ISO 8601), as a camera writes it."""
    import av

    width, height = size
    base = background(width, height)
    cache: dict = {}
    with av.open(str(path), mode="w") as out:
        if recorded:
            out.metadata["creation_time"] = recorded
        stream = out.add_stream(codec, rate=fps)
        turns = rotation // 90
        stream.width, stream.height = (height, width) if turns % 2 else (width, height)
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "20", **(options or {})}
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(int(seconds * fps)):
            pixels = frame_at(i / fps, base, appearances, cache)
            if turns:
                pixels = np.ascontiguousarray(np.rot90(pixels, k=-turns))
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def truncated(path: Path, dest: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest


def corrupted(path: Path, dest: Path) -> Path:
    """The header kept, the middle of the data overwritten with noise."""
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(7)
    start, end = len(data) // 4, len(data) * 3 // 4
    data[start:end] = rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
    dest.write_bytes(bytes(data))
    return dest
