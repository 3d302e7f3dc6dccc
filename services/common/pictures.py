"""Pictures uploaded by users: read with a size limit, decoded, re-encoded, stored, served.

Nothing a client sends is stored as sent. ``reencode`` decodes the upload with
Pillow (JPEG, PNG, WebP or GIF; a GIF's or animation's first frame), turns it
upright by its EXIF orientation, shrinks it to at most ``max_side`` pixels a
side and writes fresh pixels: JPEG for pictures without transparency, PNG for
those with. Metadata (EXIF with its GPS position, ICC profiles, text chunks)
does not survive, and neither does anything hidden in the file (HTML, scripts,
polyglots). It is CPU work: callers run it with ``asyncio.to_thread``.

Pictures are documents in the ``pictures`` collection, keyed by their owner
(a member id, a user's clientid): ``{content_type, data_base64, width, height,
updated}``.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from PIL import Image, ImageOps
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from services.common.errors import AppError, InvalidInputError, PayloadTooLargeError
from services.common.storage import Storage

log = logging.getLogger(__name__)

COLLECTION = "pictures"
MAX_BYTES = 2_000_000
"""Largest upload, and largest stored picture, in bytes."""
MAX_PIXELS = 16_000_000
"""Most pixels an upload may decode to: a bigger one is refused before it is decoded."""
MAX_SIDE = 2048
"""Longest side of a stored picture, pixels."""
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
JPEG_QUALITY = 85
MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room for the multipart boundaries and part headers around an upload of ``MAX_BYTES``."""
FILE_FIELD = "file"
CACHE_CONTROL = "private, max-age=60"

NOT_AN_IMAGE = "the upload is not an image (JPEG, PNG, WebP or GIF)"


@dataclass(frozen=True)
class Picture:
    """A re-encoded picture, ready to be stored or served."""

    content_type: str
    """``image/jpeg`` or ``image/png``."""
    data: bytes
    width: int
    """Pixels."""
    height: int
    """Pixels."""
    updated: datetime | None = None
    """When it was stored (None until it is)."""


class PictureInfo(BaseModel):
    """A stored picture, without its bytes."""

    content_type: str = Field(description="image/jpeg, or image/png for transparent pictures")
    width: int = Field(description="pixels")
    height: int = Field(description="pixels")
    size_bytes: int
    updated: datetime | None

    @classmethod
    def of(cls, picture: Picture) -> PictureInfo:
        return cls(
            content_type=picture.content_type,
            width=picture.width,
            height=picture.height,
            size_bytes=len(picture.data),
            updated=picture.updated,
        )


# -- re-encoding ---------------------------------------------------------------------------------


def reencode(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_side: int = MAX_SIDE,
) -> Picture:
    """``data`` decoded and written anew; 413 over ``max_bytes``, 422 if it is not an image.

    Pictures of more than ``max_pixels`` are refused (422) from their header,
    before their pixels are decoded: a small file can claim a huge image.
    """
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"the picture is {len(data)} bytes; at most {max_bytes}")
    if not data:
        raise InvalidInputError("the picture is empty")
    try:
        image = _decoded(data, max_pixels, max_side)
    except AppError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # The warning is an error where warnings are (tests): the same refusal.
        raise InvalidInputError(f"the picture has more than {max_pixels} pixels") from None
    except Exception as exc:
        # Pillow's decoders answer hostile input with all kinds of exceptions
        # (OSError, SyntaxError, ValueError, struct.error, ...): all mean "not an image".
        log.info("refused an upload that is not an image: %s: %s", type(exc).__name__, exc)
        raise InvalidInputError(NOT_AN_IMAGE) from None
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return _encoded(_flattened(image), max_bytes)


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise InvalidInputError(
            f"the picture is {width}x{height} pixels; at most {max_pixels} pixels in all"
        )


def _decoded(data: bytes, max_pixels: int, max_side: int) -> Image.Image:
    """The upright first frame of the picture in ``data``, fully decoded."""
    # Pillow refuses bombs itself only beyond Image.MAX_IMAGE_PIXELS (and only
    # when nobody has set that to None): the size is checked here from the
    # header, with this service's own, lower limit, before any pixel is decoded.
    with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as probe:
        _check_pixels(probe.size, max_pixels)
        probe.verify()
    # verify() leaves the image unusable: decode from a fresh start.
    with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
        _check_pixels(image.size, max_pixels)
        if image.format == "JPEG":
            # Let the JPEG decoder scale down by 2, 4 or 8 while decoding when the
            # picture is that much larger than what is kept.
            image.draft(None, (max_side, max_side))
        image.load()
        upright = ImageOps.exif_transpose(image)  # a copy, rotated if EXIF says so
    assert upright is not None
    return upright


def _flattened(image: Image.Image) -> Image.Image:
    """RGB or greyscale pixels, or RGBA when some pixel is not opaque."""
    if image.mode.startswith("I"):
        # 16-bit greyscale PNG: converting straight to 8 bits would clip it to white.
        image = image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    grey = image.mode in ("1", "L", "LA")
    if image.has_transparency_data:
        image = image.convert("RGBA")
        if image.getchannel("A").getextrema() != (255, 255):
            return image
    return image.convert("L" if grey else "RGB")


def _encoded(image: Image.Image, max_bytes: int) -> Picture:
    """``image`` as JPEG, or PNG with transparency, shrunk until it fits ``max_bytes``."""
    # Fresh pixels only: nothing of the upload's metadata can ride along.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    transparent = clean.mode == "RGBA"
    for _ in range(8):
        buffer = io.BytesIO()
        if transparent:
            clean.save(buffer, "PNG")
        else:
            clean.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
        data = buffer.getvalue()
        if len(data) <= max_bytes:
            return Picture(
                content_type="image/png" if transparent else "image/jpeg",
                data=data,
                width=clean.width,
                height=clean.height,
            )
        # Noise compresses badly: a 2 MB WebP can become a far larger PNG.
        smaller = (max(1, clean.width * 3 // 4), max(1, clean.height * 3 // 4))
        clean = clean.resize(smaller, Image.Resampling.LANCZOS)
    raise PayloadTooLargeError(f"the picture does not fit in {max_bytes} bytes")


# -- uploads -------------------------------------------------------------------------------------


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"a JPEG, PNG, WebP or GIF of at most {MAX_BYTES} bytes",
        "content": {
            "image/*": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                    "required": [FILE_FIELD],
                }
            },
        },
    }
}
"""``openapi_extra`` of a route that takes ``read_upload``'s body."""

PICTURE_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the picture",
        "content": {"image/jpeg": {}, "image/png": {}},
    }
}
"""``responses=`` entry of a route that answers ``picture_response``."""


async def read_upload(request: Request, *, max_bytes: int = MAX_BYTES) -> bytes:
    """The uploaded file: the raw body, or the multipart field ``file``; 413 if too large.

    The body is read as it arrives and refused as soon as it passes the limit
    (or at once when its Content-Length does), never held whole beyond it.
    Whatever the declared content type, the bytes are only trusted once
    ``reencode`` has decoded them.
    """
    content_type = request.headers.get("content-type", "").lower()
    multipart = content_type.startswith("multipart/form-data")
    limit = max_bytes + MULTIPART_OVERHEAD_BYTES if multipart else max_bytes
    body = await _body_within(request, limit)
    if not multipart:
        return body
    return await _file_field(request, body)


async def _body_within(request: Request, limit: int) -> bytes:
    too_large = PayloadTooLargeError(f"the upload is larger than {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _file_field(request: Request, body: bytes) -> bytes:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInputError(f"malformed multipart body: {exc.message}") from None
    try:
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise InvalidInputError(
                f"the multipart body needs a file in the field '{FILE_FIELD}'",
                detail=[{"field": FILE_FIELD, "message": "a file is required"}],
            )
        return await upload.read()
    finally:
        await form.close()


def picture_response(picture: Picture) -> Response:
    """The picture's bytes with its content type, cacheable by the caller's browser only."""
    return Response(
        content=picture.data,
        media_type=picture.content_type,
        headers={"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"},
    )


# -- storage -------------------------------------------------------------------------------------


async def save_picture(
    storage: Storage, key: str, picture: Picture, *, updated: datetime | None = None
) -> Picture:
    """Store ``picture`` as ``key``'s, replacing any; answers it with its ``updated`` time."""
    stored = replace(picture, updated=updated or datetime.now(UTC))
    assert stored.updated is not None
    await storage.upsert(
        COLLECTION,
        {
            "id": key,
            "content_type": stored.content_type,
            "data_base64": base64.b64encode(stored.data).decode("ascii"),
            "width": stored.width,
            "height": stored.height,
            "updated": stored.updated.isoformat(),
        },
    )
    return stored


async def load_picture(storage: Storage, key: str) -> Picture | None:
    """``key``'s picture, or None (also when its document is unreadable)."""
    document = await storage.get(COLLECTION, key)
    if document is None:
        return None
    try:
        return Picture(
            content_type=str(document["content_type"]),
            data=base64.b64decode(document["data_base64"], validate=True),
            width=int(document["width"]),
            height=int(document["height"]),
            updated=datetime.fromisoformat(document["updated"]),
        )
    except (KeyError, TypeError, ValueError) as exc:  # binascii.Error is a ValueError
        log.warning("unreadable picture %r: %s", key, exc)
        return None


async def delete_picture(storage: Storage, key: str) -> bool:
    """Remove ``key``'s picture; False if there was none."""
    return await storage.delete(COLLECTION, key)
