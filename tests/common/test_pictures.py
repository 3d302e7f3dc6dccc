"""Re-encoding, reading and storing uploaded pictures (``services.common.pictures``)."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from PIL import Image

from services.common.errors import InvalidInputError, PayloadTooLargeError, install_error_handlers
from services.common.pictures import (
    COLLECTION,
    Picture,
    delete_picture,
    load_picture,
    read_upload,
    reencode,
    save_picture,
)
from services.common.storage import Storage
from tests.common.images import (
    CAMERA_MAKE,
    NOT_IMAGES,
    PNG_COMMENT,
    image_bytes,
    make_jpeg,
    make_png,
    opened,
)

# -- reencode ------------------------------------------------------------------------------------


def test_a_transparent_png_stays_png_with_its_pixels_and_without_its_text():
    picture = reencode(make_png((40, 30), (200, 30, 30, 128)))

    assert (picture.content_type, picture.width, picture.height) == ("image/png", 40, 30)
    image = opened(picture.data)
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.getpixel((5, 5)) == (200, 30, 30, 128)
    assert PNG_COMMENT.encode() not in picture.data and not image.text


def test_an_opaque_png_becomes_a_jpeg():
    picture = reencode(make_png(color=(10, 20, 30, 255)))

    assert picture.content_type == "image/jpeg"
    assert opened(picture.data).format == "JPEG"


def test_a_jpeg_is_turned_upright_and_loses_its_exif():
    upload = make_jpeg((40, 20))
    assert CAMERA_MAKE.encode() in upload

    picture = reencode(upload)

    assert (picture.content_type, picture.width, picture.height) == ("image/jpeg", 20, 40)
    image = opened(picture.data)
    assert not image.getexif() and "exif" not in image.info
    assert b"Exif" not in picture.data and CAMERA_MAKE.encode() not in picture.data


def test_the_first_frame_of_an_animated_gif_is_kept():
    frames = [Image.new("P", (16, 16), index) for index in (1, 2, 3)]
    upload = image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])

    picture = reencode(upload)

    assert picture.content_type == "image/jpeg" and (picture.width, picture.height) == (16, 16)


def test_a_transparent_gif_becomes_a_png():
    upload = image_bytes(Image.new("P", (16, 16), 0), "GIF", transparency=0)

    assert reencode(upload).content_type == "image/png"


def test_a_webp_is_accepted():
    upload = image_bytes(Image.new("RGB", (32, 24), (1, 2, 3)), "WEBP")

    assert reencode(upload).content_type == "image/jpeg"


def test_a_16_bit_greyscale_png_keeps_its_grey():
    upload = image_bytes(Image.new("I;16", (8, 8), 32896), "PNG")  # 32896 / 257 = 128

    grey = opened(reencode(upload).data).getpixel((4, 4))

    assert isinstance(grey, int) and abs(grey - 128) <= 2


def test_the_longer_side_is_shrunk_to_max_side():
    picture = reencode(make_png((3000, 1500), (1, 2, 3, 255)))

    assert (picture.width, picture.height) == (2048, 1024)


def test_a_picture_that_encodes_too_large_is_shrunk_until_it_fits():
    noise = Image.frombytes("RGBA", (600, 600), os.urandom(600 * 600 * 4))
    upload = image_bytes(noise, "WEBP", quality=30)  # lossy: far smaller than as a PNG

    picture = reencode(upload, max_bytes=len(upload))

    assert picture.content_type == "image/png"
    assert len(picture.data) <= len(upload) and picture.width < 600


@pytest.mark.parametrize("name", NOT_IMAGES)
def test_anything_but_an_image_is_422(name: str):
    with pytest.raises(InvalidInputError):
        reencode(NOT_IMAGES[name]())


def test_a_bmp_is_not_accepted():
    with pytest.raises(InvalidInputError, match="not an image"):
        reencode(image_bytes(Image.new("RGB", (8, 8)), "BMP"))


def test_a_bomb_is_refused_even_when_pillow_would_not_check(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    with pytest.raises(InvalidInputError, match="pixels"):
        reencode(NOT_IMAGES["bomb-50000x50000"]())


def test_an_empty_upload_is_422():
    with pytest.raises(InvalidInputError, match="empty"):
        reencode(b"")


def test_more_than_max_bytes_is_413_before_decoding():
    with pytest.raises(PayloadTooLargeError):
        reencode(b"\x89PNG" + bytes(2_000_000))


# -- read_upload ---------------------------------------------------------------------------------


def upload_app(max_bytes: int) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.put("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await read_upload(request, max_bytes=max_bytes))}

    return app


async def put(max_bytes: int, **request: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=upload_app(max_bytes))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.put("/upload", **request)  # type: ignore[arg-type]


async def test_a_raw_body_is_the_upload():
    response = await put(100, content=b"x" * 100, headers={"Content-Type": "image/png"})

    assert response.json() == {"size": 100}


async def test_a_raw_body_over_the_limit_is_413():
    response = await put(100, content=b"x" * 101, headers={"Content-Type": "image/png"})

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_a_streamed_body_over_the_limit_is_413():
    async def chunks():
        for _ in range(5):
            yield b"x" * 40

    response = await put(100, content=chunks())

    assert response.status_code == 413


async def test_the_multipart_field_file_is_the_upload():
    response = await put(100, files={"file": ("house.png", b"y" * 60, "image/png")})

    assert response.json() == {"size": 60}


async def test_a_multipart_body_without_a_file_is_422():
    response = await put(100, data={"other": "value"}, files={"x": ("a.png", b"y", "image/png")})

    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "file"


async def test_a_malformed_multipart_body_is_422():
    headers = {"Content-Type": "multipart/form-data"}  # no boundary

    response = await put(100, content=b"--nothing--", headers=headers)

    assert response.status_code == 422


# -- storage -------------------------------------------------------------------------------------


async def test_a_picture_round_trips_through_storage(storage: Storage):
    picture = reencode(make_png())
    updated = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    await save_picture(storage, "house-1", picture, updated=updated)

    assert await load_picture(storage, "house-1") == Picture(
        picture.content_type, picture.data, picture.width, picture.height, updated
    )
    stored = await storage.get(COLLECTION, "house-1")
    assert stored is not None
    assert set(stored) >= {"content_type", "data_base64", "width", "height", "updated"}


async def test_a_deleted_picture_is_gone(storage: Storage):
    await save_picture(storage, "house-1", reencode(make_png()))

    assert await delete_picture(storage, "house-1") is True
    assert await load_picture(storage, "house-1") is None
    assert await delete_picture(storage, "house-1") is False


async def test_an_unreadable_picture_document_loads_as_none(storage: Storage):
    await storage.upsert(COLLECTION, {"id": "house-1", "content_type": "image/png"})

    assert await load_picture(storage, "house-1") is None


def test_pictures_decode_back_to_what_was_stored():
    picture = reencode(make_jpeg(exif=False))

    assert Image.open(io.BytesIO(picture.data)).size == (picture.width, picture.height)
