"""Where a sampled frame can hold a face the tracker does not know yet: what changed.

Face detection (dlib's HOG) gives the same answer on the same pixels. So on footage from a
fixed camera, the parts of a sample that did not change since the previous sample, and hold no
tracked face, cannot hold a new face: a face there would have been there before, found then
(it is a track, searched again in its region) or not found (and not found again). The frame is
cut into cells of 64 pixels; a cell is *live* when enough of its pixels changed (on a
grey-level image 8 times smaller, which averages sensor noise away) or when a track is expected
there; touching live cells are grouped into rectangles, each searched with a margin of 48
pixels, and nothing else is.
A full frame is searched on the first sample, every ``full_every`` samples, and whenever most
of the frame changed (a moving camera, a light switched on).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from faceledger.engine.types import BoundingBox

SCALE = 8
"""The change map is 1/8 of the frame on each side."""
CELL = 8
"""Cell side on the change map: 64 pixels of the frame."""
CHANGE = 12.0
"""Grey levels (0-255) a pixel must change by to count as changed."""
MIN_CHANGED = 2
"""Changed map pixels (of 64) that make a cell live."""
MARGIN = 48
"""Pixels added around each searched rectangle (a face whole, with the context its aligned
chip needs)."""
MOST = 0.6
"""Share of live cells above which the whole frame is searched."""

Region = tuple[int, int, int, int]
"""left, top, right, bottom in frame pixels."""


def change_map(pixels: np.ndarray) -> np.ndarray:
    """A grey image 1/8 the size of ``pixels`` (the mean of 2x2 of every fourth pixel)."""
    g = pixels[::4, ::4, 1].astype(np.float32)
    h, w = (g.shape[0] // 2) * 2, (g.shape[1] // 2) * 2
    g = g[:h, :w]
    return (g[0::2, 0::2] + g[1::2, 0::2] + g[0::2, 1::2] + g[1::2, 1::2]) / 4


def live_regions(
    previous: np.ndarray | None,
    current: np.ndarray,
    expected: Iterable[BoundingBox],
    frame_shape: tuple[int, ...],
) -> list[Region] | None:
    """Rectangles of the frame to search; None: search the whole frame."""
    if previous is None or previous.shape != current.shape:
        return None
    rows, cols = -(-current.shape[0] // CELL), -(-current.shape[1] // CELL)
    changed = np.abs(current - previous) > CHANGE
    padded = np.zeros((rows * CELL, cols * CELL), dtype=bool)
    padded[: changed.shape[0], : changed.shape[1]] = changed
    live = padded.reshape(rows, CELL, cols, CELL).sum(axis=(1, 3)) >= MIN_CHANGED
    side = CELL * SCALE
    for box in expected:
        grow_w, grow_h = box.width // 4, box.height // 4
        c0, c1 = max(0, (box.left - grow_w) // side), min(cols - 1, (box.right + grow_w) // side)
        r0, r1 = max(0, (box.top - grow_h) // side), min(rows - 1, (box.bottom + grow_h) // side)
        if c0 <= c1 and r0 <= r1:
            live[r0 : r1 + 1, c0 : c1 + 1] = True
    if not live.any():
        return []
    if live.mean() > MOST:
        return None
    height, width = frame_shape[:2]
    return [
        (max(0, c0 * side - MARGIN), max(0, r0 * side - MARGIN),
         min(width, (c1 + 1) * side + MARGIN), min(height, (r1 + 1) * side + MARGIN))
        for r0, c0, r1, c1 in _components(live)
    ]  # fmt: skip


def _components(grid: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (row0, col0, row1, col1) of the 8-connected groups of True cells."""
    seen = np.zeros_like(grid)
    out = []
    rows, cols = grid.shape
    for r in range(rows):
        for c in range(cols):
            if not grid[r, c] or seen[r, c]:
                continue
            stack, box = [(r, c)], [r, c, r, c]
            seen[r, c] = True
            while stack:
                y, x = stack.pop()
                box = [min(box[0], y), min(box[1], x), max(box[2], y), max(box[3], x)]
                for ny, nx in ((y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
                    if 0 <= ny < rows and 0 <= nx < cols and grid[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
            out.append((box[0], box[1], box[2], box[3]))
    return out
