"""Numpy halves of dlib's MMOD detector: the tiled image pyramid and the output decoding.

Mirrors, step for step, ``input_rgb_image_pyramid<pyramid_down<6>>::to_tensor`` (input.h),
``compute_tiled_image_pyramid_details`` / ``tiled_pyramid_to_image`` (image_pyramid.h),
``resize_image`` with bilinear interpolation (interpolation.h) and
``loss_mmod_::to_label`` / ``tensor_to_dets`` (loss.h), so that detections match dlib's.
Rectangles are dlib-style inclusive ``(left, top, right, bottom)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Rect = tuple[int, int, int, int]
DRect = tuple[float, float, float, float]


@dataclass(frozen=True)
class MmodConfig:
    """Everything about one MMOD model that the numpy side needs."""

    means: tuple[float, float, float]
    padding: int
    outer_padding: int
    pyramid_n: int  # pyramid_down<N>
    windows: tuple[tuple[int, int], ...]  # detector window (width, height) per output channel
    nms_iou: float
    nms_covered: float
    stride: int  # output cell -> input pixel: stride * p + offset
    offset: int


# --------------------------------------------------------------------------------------
# Pyramid


def pyramid_rects(nr: int, nc: int, cfg: MmodConfig) -> tuple[list[Rect], int, int]:
    """Where each pyramid level sits in the tiled image, and the tiled image size."""
    rate = (cfg.pyramid_n - 1.0) / cfg.pyramid_n
    pad, outer = cfg.padding, cfg.outer_padding
    if nr * nc == 0:
        return [], 0, 0
    sizes = [(nc, nr)]  # (width, height)
    while True:
        nr, nc = math.floor(rate * nr), math.floor(rate * nc)
        if nr * nc == 0 or nr < 5:
            break
        sizes.append((nc, nr))
    w0, h0 = sizes[0]
    total_height = sum(h + pad for _, h in sizes) - pad * 2
    height = 0
    prev_width = 0
    for w, h in sizes:
        if w <= w0 - prev_width - pad and (height - h0) * 2 >= (total_height - h0):
            break
        height += h + pad
        prev_width = w
    height -= pad
    out_nr, out_nc = height + outer * 2, w0 + outer * 2

    rects: list[Rect] = []
    y = outer
    i = 0
    while y < height + outer and i < len(sizes):
        w, h = sizes[i]
        rects.append((outer, y, outer + w - 1, y + h - 1))
        y += h + pad
        i += 1
    y -= pad
    while i < len(sizes):
        w, h = sizes[i]
        x1, y1 = outer + w0 - 1, y - 1
        rect = (x1 - w + 1, y1 - h + 1, x1, y1)
        if not _is_empty(_intersect(rects[0], rect)):
            break
        rects.append(rect)
        y -= h + pad
        i += 1
    return rects, out_nr, out_nc


def _bilinear_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights along one axis, accumulated like dlib's resize loop."""
    scale = (n_in - 1) / max(n_out - 1, 1)
    steps = np.full(n_out + 1, scale)
    steps[0] = -scale
    pos = np.cumsum(steps)[1:]  # -s + s + s ... summed in the same order as dlib
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, pos - lo


def resize_bilinear(src: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """dlib's ``resize_image(..., interpolate_bilinear)`` on a (C, H, W) float32 plane stack.

    Interpolates along x first and then along y, the same order as dlib's formula
    ``(1-tb)*((1-lr)*tl + lr*tr) + tb*((1-lr)*bl + lr*br)``, in float32 like dlib's
    SIMD float path.
    """
    top, bottom, tb = _bilinear_axis(src.shape[1], out_h)
    left, right, lr = _bilinear_axis(src.shape[2], out_w)
    # Gather whole columns (as contiguous rows of a transposed copy), which numpy does far
    # faster than element-wise fancy indexing along the last axis.
    cols = np.ascontiguousarray(src.transpose(2, 0, 1))  # (W, C, H)
    lr32 = lr.astype(np.float32)[:, None, None]
    horiz = cols[left]
    horiz *= 1 - lr32
    tmp = cols[right]
    tmp *= lr32
    horiz += tmp  # (out_w, C, H)
    rows = np.ascontiguousarray(horiz.transpose(2, 1, 0))  # (H, C, out_w)
    tb32 = tb.astype(np.float32)[:, None, None]
    out = rows[top]
    out *= 1 - tb32
    tmp = rows[bottom]
    tmp *= tb32
    out += tmp  # (out_h, C, out_w)
    return out.transpose(1, 0, 2)


def build_tiled_pyramid(rgb: np.ndarray, cfg: MmodConfig) -> tuple[np.ndarray, list[Rect]]:
    """The normalised (1, 3, NR, NC) input tensor dlib builds, plus the level rectangles.

    Levels are resampled from the previous level in float, in normalised space, with the
    gaps left at 0 (the mean colour), as the tensor-based pyramid in input.h does.
    """
    nr, nc = rgb.shape[:2]
    rects, out_nr, out_nc = pyramid_rects(nr, nc, cfg)
    data = np.zeros((3, out_nr, out_nc), dtype=np.float32)
    if not rects:
        return data[None], rects
    means = np.asarray(cfg.means, dtype=np.float32)
    norm = (rgb.astype(np.float32) - means) * np.float32(1.0 / 256.0)
    l0, t0, r0, b0 = rects[0]
    data[:, t0 : b0 + 1, l0 : r0 + 1] = norm.transpose(2, 0, 1)
    for prev, cur in zip(rects, rects[1:], strict=False):
        pl, pt, pr, pb = prev
        cl, ct, cr, cb = cur
        src = data[:, pt : pb + 1, pl : pr + 1]
        data[:, ct : cb + 1, cl : cr + 1] = resize_bilinear(src, cb - ct + 1, cr - cl + 1)
    return data[None], rects


# --------------------------------------------------------------------------------------
# Rectangles (dlib semantics: inclusive corners, empty when left > right or top > bottom)


def _is_empty(r: Rect) -> bool:
    return r[0] > r[2] or r[1] > r[3]


def _area(r: Rect) -> int:
    return 0 if _is_empty(r) else (r[2] - r[0] + 1) * (r[3] - r[1] + 1)


def _intersect(a: Rect, b: Rect) -> Rect:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def _bounding(a: Rect, b: Rect) -> Rect:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _round(v: float) -> int:
    return math.floor(v + 0.5)


def to_rect(d: DRect) -> Rect:
    """drectangle -> rectangle conversion (round each edge half up)."""
    return (_round(d[0]), _round(d[1]), _round(d[2]), _round(d[3]))


def boxes_overlap(a: Rect, b: Rect, iou_thresh: float, covered_thresh: float) -> bool:
    """dlib's ``test_box_overlap``; note "outer" is the bounding box of both, not the union."""
    inner = _area(_intersect(a, b))
    if inner == 0:
        return False
    outer = _area(_bounding(a, b))
    return (
        inner / outer > iou_thresh
        or inner / _area(a) > covered_thresh
        or inner / _area(b) > covered_thresh
    )


def _nearest_rect(rects: list[Rect], x: int, y: int) -> int:
    best, best_dist = 0, math.inf
    for i, (left, top, right, bottom) in enumerate(rects):
        if left <= x <= right and top <= y <= bottom:
            return i
        nx = min(max(x, left), right)
        ny = min(max(y, top), bottom)
        dist = math.hypot(nx - x, ny - y)
        if dist < best_dist:
            best, best_dist = i, dist
    return best


def tiled_pyramid_to_image(rects: list[Rect], d: DRect, pyramid_n: int) -> DRect:
    """Map a rectangle in the tiled tensor back into the original image."""
    cx, cy = _round((d[0] + d[2]) / 2.0), _round((d[1] + d[3]) / 2.0)
    level = _nearest_rect(rects, cx, cy)
    ox, oy = rects[level][0], rects[level][1]
    pts = [d[0] - ox, d[1] - oy, d[2] - ox, d[3] - oy]
    ratio = pyramid_n / (pyramid_n - 1.0)
    for _ in range(level):
        pts = [p * ratio + 0.3 for p in pts]
    return (min(pts[0], pts[2]), min(pts[1], pts[3]), max(pts[0], pts[2]), max(pts[1], pts[3]))


def decode_detections(
    scores: np.ndarray,
    rects: list[Rect],
    cfg: MmodConfig,
    adjust_threshold: float = 0.0,
) -> list[tuple[Rect, float]]:
    """``loss_mmod_::to_label`` for one sample: threshold, map to the image, sort, NMS."""
    if scores.ndim == 4:
        scores = scores[0]
    if not rects:
        return []
    ks, rs, cs = np.nonzero(scores > adjust_threshold)  # row-major, like dlib's scan
    dets: list[tuple[float, DRect]] = []
    for k, r, c in zip(ks.tolist(), rs.tolist(), cs.tolist(), strict=True):
        px, py = cfg.stride * c + cfg.offset, cfg.stride * r + cfg.offset
        w, h = cfg.windows[k]
        hw, hh = (w - 1) / 2.0, (h - 1) / 2.0
        tensor_rect = (px - hw, py - hh, px + hw, py + hh)
        image_rect = tiled_pyramid_to_image(rects, tensor_rect, cfg.pyramid_n)
        dets.append((float(scores[k, r, c]), image_rect))
    order = sorted(range(len(dets)), key=lambda i: dets[i][0], reverse=True)
    kept: list[tuple[Rect, float]] = []
    for i in order:
        score, drect = dets[i]
        rect = to_rect(drect)
        if any(boxes_overlap(k, rect, cfg.nms_iou, cfg.nms_covered) for k, _ in kept):
            continue
        kept.append((rect, score))
    return kept


# --------------------------------------------------------------------------------------
# Upsampling (pyramid_up with pyramid_down<2>), used when upsample > 0


def pyramid_up_2(rgb: np.ndarray) -> np.ndarray:
    """dlib's ``pyramid_up(img, pyramid_down<2>)`` on an (H, W, 3) uint8 image.

    The output size is that of ``rect_up(get_rect(img))`` (corners (p + (1.25, 0.75)) * 2,
    rounded), i.e. (2H+1, 2W+2), filled by a bilinear resize of the whole image computed in
    double and truncated to uint8 like dlib's RGB resize path.  (Found to reproduce dlib's
    detections on upsampled images; dlib's Python wheel does not expose pyramid_up.)
    """
    h, w = rgb.shape[:2]
    right, bottom = _round((w - 1 + 1.25) * 2), _round((h - 1 + 0.75) * 2)
    top, bot, tb = _bilinear_axis(h, bottom + 1)
    left, rgt, lr = _bilinear_axis(w, right + 1)
    img = rgb.astype(np.float64)
    lr_ = lr[None, :, None]
    upper = (1 - lr_) * img[top][:, left] + lr_ * img[top][:, rgt]
    lower = (1 - lr_) * img[bot][:, left] + lr_ * img[bot][:, rgt]
    tb_ = tb[:, None, None]
    out = (1 - tb_) * upper + tb_ * lower
    return np.clip(np.floor(out), 0, 255).astype(np.uint8)


def rect_down_2(rect: Rect, levels: int) -> Rect:
    """``pyramid_down<2>::rect_down(rect, levels)``: p/2 - (1.25, 0.75) per level, rounded."""
    pts = [float(v) for v in rect]
    for _ in range(levels):
        pts = [pts[0] / 2 - 1.25, pts[1] / 2 - 0.75, pts[2] / 2 - 1.25, pts[3] / 2 - 0.75]
    return to_rect((pts[0], pts[1], pts[2], pts[3]))
