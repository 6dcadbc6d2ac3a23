"""Image intake: every supported format and mode decodes upright; every bad input fails clearly."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from faceledger import ImageError, load_image
from faceledger.images import load_pixels
from testdata import CONGRESS, encode, rgb

PORTRAIT = CONGRESS / "029701.jpg"


@pytest.fixture(scope="module")
def portrait() -> Image.Image:
    return Image.open(PORTRAIT).convert("RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_supported_formats_decode_to_rgb(portrait: Image.Image, fmt: str) -> None:
    loaded = load_image(encode(portrait, fmt))
    assert loaded.pixels.dtype == np.uint8
    assert loaded.pixels.shape == (portrait.height, portrait.width, 3)
    assert loaded.format == fmt


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "RGBA", "LA", "I;16", "1"])
def test_modes_are_converted(portrait: Image.Image, mode: str) -> None:
    img = portrait.convert(mode) if mode != "I;16" else portrait.convert("L").convert("I;16")
    fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    pixels = load_pixels(encode(img, fmt))
    assert pixels.shape == (portrait.height, portrait.width, 3)


def test_alpha_is_composited_on_white() -> None:
    transparent = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    assert (load_pixels(encode(transparent, "PNG")) == 255).all()


def test_gif_first_frame_is_used() -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    pixels = load_pixels(buf.getvalue())
    assert pixels[8, 8, 0] > 200 and pixels[8, 8, 2] < 50


def test_exif_orientation_is_applied(portrait: Image.Image) -> None:
    # Stored rotated; orientation 6 tells a viewer to rotate 90° clockwise back to upright.
    stored = portrait.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    loaded = load_image(encode(stored, "JPEG", exif=exif, quality=95))
    assert loaded.exif_orientation == 6
    assert loaded.pixels.shape[:2] == (portrait.height, portrait.width)
    diff = np.abs(loaded.pixels.astype(int) - np.asarray(portrait).astype(int)).mean()
    assert diff < 8


def test_inputs_path_bytes_file_and_array_agree() -> None:
    from_path = load_pixels(PORTRAIT)
    assert (load_pixels(str(PORTRAIT)) == from_path).all()
    assert (load_pixels(PORTRAIT.read_bytes()) == from_path).all()
    with PORTRAIT.open("rb") as fh:
        assert (load_pixels(fh) == from_path).all()
    assert (load_pixels(rgb(PORTRAIT)) == from_path).all()
    gray = rgb(PORTRAIT)[:, :, 0]
    assert load_pixels(gray).shape == from_path.shape


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width×height but carries one tiny IDAT: a decompression bomb shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_image"),
        (b"hello, this is text and not an image\n" * 10, "not_an_image"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "not_an_image"),
        (PORTRAIT.read_bytes()[:3000], "corrupt_image"),
        (PORTRAIT.read_bytes()[:200] + bytes(range(256)) * 20, "corrupt_image"),
        (_png_header_only(50_000, 50_000), "image_too_large"),
        (_png_header_only(100, 100), "corrupt_image"),
    ],
    ids=["empty", "text", "pdf", "truncated-jpeg", "corrupt-jpeg", "png-bomb", "png-no-data"],
)
def test_bad_bytes_raise_one_clear_error(data: bytes, code: str) -> None:
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert info.value.code == code
    assert str(info.value) and "\n" not in str(info.value)


def test_pixel_limit_is_configurable(portrait: Image.Image) -> None:
    data = encode(portrait, "PNG")
    with pytest.raises(ImageError, match="too large"):
        load_image(data, max_pixels=portrait.width * portrait.height - 1)
    assert load_image(data, max_pixels=portrait.width * portrait.height).width == portrait.width


def test_bad_sources(tmp_path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="unsupported input"):
        load_image(12345)  # type: ignore[arg-type]
    text = tmp_path / "t.txt"
    text.write_text("x")
    with text.open() as fh, pytest.raises(ImageError, match="text mode"):
        load_image(fh)  # type: ignore[arg-type]
    with pytest.raises(ImageError, match="not an image"):
        load_image(np.zeros((10, 10, 7), dtype=np.uint8))
    with pytest.raises(ImageError, match="no pixels"):
        load_image(np.zeros((0, 10, 3), dtype=np.uint8))
