"""Safe image intake: any supported input becomes an upright RGB uint8 array, or an ImageError.

Why a module of its own: every front end (library, CLI, HTTP) takes untrusted bytes. Pillow
decodes lazily, so the pixel limit is checked from the header before any pixel is decoded, which
refuses decompression bombs cheaply; truncated files raise instead of returning half an image.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from faceledger.errors import ImageError

DEFAULT_MAX_PIXELS = 40_000_000
"""Images above this many pixels are refused before decoding (40 MP; a 1080p frame is 2 MP)."""

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
"""Formats accepted (multi-picture JPEGs from phones open as JPEG, first picture)."""

ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | np.ndarray

# Truncated files must fail loudly, never decode half a face.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """Decoded pixels plus what was learned on the way (for audit records and JSON output)."""

    pixels: np.ndarray
    """H×W×3 uint8 RGB, EXIF orientation applied: the image as a person sees it."""
    format: str | None
    original_mode: str | None
    exif_orientation: int | None

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def load_image(source: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode ``source`` (path, bytes, binary file object or RGB array) into upright RGB pixels.

    Raises ImageError naming the problem: empty input, not an image, unsupported format,
    too many pixels, truncated or corrupt data.
    """
    if isinstance(source, np.ndarray):
        return LoadedImage(_array_to_rgb(source, max_pixels), None, None, None)
    data = _read_bytes(source)
    if not data:
        raise ImageError("empty input: no bytes to decode", code="empty_image")
    return _decode(data, max_pixels)


def load_pixels(source: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Shortcut for ``load_image(...).pixels``."""
    return load_image(source, max_pixels=max_pixels).pixels


def image_size(data: bytes | np.ndarray) -> tuple[int, int]:
    """Width and height of the image as a person sees it (EXIF orientation applied), read from
    the header without decoding pixels; an array's own shape. ImageError if the header does not
    parse."""
    if isinstance(data, np.ndarray):
        return int(data.shape[1]), int(data.shape[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(bytes(data)), formats=SUPPORTED_FORMATS)
            width, height = img.size
            orientation = img.getexif().get(0x0112) if hasattr(img, "getexif") else None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError) as exc:  # fmt: skip
        raise ImageError(f"cannot read the image header: {exc}", code="corrupt_image") from exc
    if orientation in (5, 6, 7, 8):  # rotated by 90 or 270 degrees
        width, height = height, width
    return int(width), int(height)


def describe_source(source: ImageInput) -> str:
    """A short label for messages: the path, or the kind of object."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    if isinstance(source, np.ndarray):
        return f"array{tuple(source.shape)}"
    if isinstance(source, bytes | bytearray | memoryview):
        return f"<{len(source)} bytes>"
    return getattr(source, "name", "<file object>")


def _read_bytes(source: ImageInput) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise ImageError(f"no such file: {path}", code="file_not_found")
        if path.is_dir():
            raise ImageError(f"is a directory, not an image: {path}", code="not_an_image")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read {path}: {exc.strerror}", code="unreadable") from exc
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            raise ImageError("file object is in text mode; open it with 'rb'", code="not_an_image")
        return bytes(data)
    raise ImageError(
        f"unsupported input type {type(source).__name__}: give a path, bytes, a binary file "
        "or an RGB numpy array",
        code="unsupported_input",
    )


def _decode(data: bytes, max_pixels: int) -> LoadedImage:
    try:
        with warnings.catch_warnings():
            # Pillow warns (or raises) about large images by its own limit; ours is checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except UnidentifiedImageError as exc:
        raise ImageError(
            "not a supported image (JPEG, PNG, WebP, BMP, TIFF or GIF expected)",
            code="not_an_image",
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large: {exc}", code="image_too_large") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"corrupt image header: {exc}", code="corrupt_image") from exc

    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageError("image has no pixels", code="corrupt_image")
    if width * height > max_pixels:
        raise ImageError(
            f"image too large: {width}x{height} = {width * height:,} pixels exceeds the limit of "
            f"{max_pixels:,}",
            code="image_too_large",
        )
    fmt = img.format
    mode = img.mode
    try:
        img.seek(0)  # GIF, multi-page TIFF, MPO: the first frame
        orientation = img.getexif().get(0x0112) if hasattr(img, "getexif") else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
            upright = ImageOps.exif_transpose(img) or img
            rgb = _to_rgb(upright)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large: {exc}", code="image_too_large") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"truncated or corrupt {fmt} data: {exc}", code="corrupt_image") from exc
    pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    return LoadedImage(pixels, fmt, mode, int(orientation) if orientation else None)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any mode to RGB; transparency is composited on white, as a viewer shows it."""
    if img.mode == "RGB":
        return img
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "RGBa"):
        img = img.convert("RGBA")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(scaled.astype(np.uint8), "L").convert("RGB")
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _array_to_rgb(arr: np.ndarray, max_pixels: int) -> np.ndarray:
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageError(
            f"array of shape {arr.shape} is not an image: expected H×W, H×W×3 (RGB) or H×W×4",
            code="not_an_image",
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError("array image has no pixels", code="empty_image")
    if arr.shape[0] * arr.shape[1] > max_pixels:
        raise ImageError(
            f"image too large: {arr.shape[1]}x{arr.shape[0]} exceeds the limit of {max_pixels:,}",
            code="image_too_large",
        )
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr[:, :, :3])
