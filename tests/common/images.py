"""Small real images made with Pillow, and files that only pretend to be images."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

from PIL import Image, PngImagePlugin

EXIF_ORIENTATION = 0x0112
EXIF_MAKE = 0x010F
EXIF_GPS_IFD = 0x8825
ROTATED_90 = 6
"""EXIF orientation: the stored pixels must be turned 90° clockwise to be upright."""
CAMERA_MAKE = "TattletaleCam"
PNG_COMMENT = "secret comment in a tEXt chunk"


def image_bytes(image: Image.Image, format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def make_png(
    size: tuple[int, int] = (40, 30),
    color: tuple[int, ...] = (200, 30, 30, 128),
    mode: str = "RGBA",
) -> bytes:
    """A PNG (half-transparent red by default) carrying a text chunk, which must not survive."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", PNG_COMMENT)
    return image_bytes(Image.new(mode, size, color), "PNG", pnginfo=info)


def make_jpeg(size: tuple[int, int] = (40, 20), *, exif: bool = True) -> bytes:
    """A green JPEG; with EXIF saying the camera, a GPS block and a 90° rotation."""
    tags = Image.Exif()
    if exif:
        tags[EXIF_ORIENTATION] = ROTATED_90
        tags[EXIF_MAKE] = CAMERA_MAKE
        tags.get_ifd(EXIF_GPS_IFD).update({1: "N", 2: (59.0, 19.0, 42.0)})
    return image_bytes(Image.new("RGB", size, (20, 180, 40)), "JPEG", exif=tags.tobytes())


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` RGB pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + _chunk(b"IEND", b"")
    )


def zero_png(width: int, height: int) -> bytes:
    """A real black greyscale PNG: a few kB on disk, ``width * height`` pixels decoded."""
    return image_bytes(Image.new("L", (width, height)), "PNG")


def truncated_png() -> bytes:
    """A real PNG cut off halfway through its pixel data."""
    data = image_bytes(Image.effect_noise((64, 64), 50).convert("RGB"), "PNG")
    return data[: len(data) // 2]


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
TEXT = b"This is a text file, not a picture.\n"

NOT_IMAGES: dict[str, Callable[[], bytes]] = {
    "text": lambda: TEXT,
    "truncated-png": truncated_png,
    "html-named-png": lambda: HTML,
    "bomb-50000x50000": lambda: png_claiming(50_000, 50_000),
    "too-many-pixels": lambda: zero_png(5000, 4000),
}
"""Builders of uploads that must be refused with 422, by name."""


def opened(data: bytes) -> Image.Image:
    """The image in ``data``, fully decoded."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
