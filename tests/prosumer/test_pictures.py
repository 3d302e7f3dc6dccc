"""House pictures: ``PUT``/``GET``/``DELETE /api/members/{id}/picture``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.common.pictures import COLLECTION
from tests.common.images import (
    CAMERA_MAKE,
    HTML,
    NOT_IMAGES,
    PNG_COMMENT,
    make_jpeg,
    make_png,
    opened,
)
from tests.prosumer.fakes import Harness

HOUSE = "house"
PICTURE = f"/api/members/{HOUSE}/picture"


@pytest.fixture
async def house(prosumer: Harness) -> Harness:
    """The service with one member, ``house``, without a picture."""
    await prosumer.create(id=HOUSE)
    return prosumer


async def stored(prosumer: Harness, member_id: str = HOUSE) -> dict[str, Any] | None:
    return await prosumer.service.runtime.storage.get(COLLECTION, member_id)


async def put_png(prosumer: Harness, data: bytes | None = None) -> httpx.Response:
    headers = {"Content-Type": "image/png"}
    return await prosumer.client.put(PICTURE, content=data or make_png(), headers=headers)


def household(prosumer: Harness, member_id: str = HOUSE) -> str:
    return prosumer.issuer.user_token("owner", prosumers=[member_id])


# -- round trips ---------------------------------------------------------------------------------


async def test_a_png_with_transparency_comes_back_as_a_re_encoded_png(house: Harness) -> None:
    upload = make_png((40, 30), (200, 30, 30, 128))

    response = await put_png(house, upload)

    assert response.status_code == 200, response.text
    info = response.json()
    assert (info["content_type"], info["width"], info["height"]) == ("image/png", 40, 30)
    picture = await house.client.get(PICTURE)
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/png"
    assert picture.content != upload and PNG_COMMENT.encode() not in picture.content
    assert opened(picture.content).getpixel((0, 0)) == (200, 30, 30, 128)


async def test_a_jpeg_sent_as_multipart_comes_back_upright_without_its_exif(
    house: Harness,
) -> None:
    upload = make_jpeg((40, 20))

    response = await house.client.put(PICTURE, files={"file": ("house.jpg", upload, "image/jpeg")})

    assert response.status_code == 200, response.text
    picture = await house.client.get(PICTURE)
    assert picture.headers["content-type"] == "image/jpeg"
    image = opened(picture.content)
    assert image.format == "JPEG" and image.size == (20, 40)
    assert not image.getexif() and CAMERA_MAKE.encode() not in picture.content


async def test_a_picture_is_served_privately_cached_and_never_sniffed(house: Harness) -> None:
    await put_png(house)

    response = await house.client.get(PICTURE)

    assert response.headers["cache-control"] == "private, max-age=60"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_new_picture_replaces_the_old(house: Harness) -> None:
    await put_png(house)

    await house.client.put(PICTURE, content=make_jpeg(), headers={"Content-Type": "image/jpeg"})

    assert (await house.client.get(PICTURE)).headers["content-type"] == "image/jpeg"


async def test_the_household_may_set_and_read_its_own_picture(house: Harness) -> None:
    own = household(house)

    put = await house.call("PUT", PICTURE, own, content=make_png())
    get = await house.call("GET", PICTURE, own)

    assert (put.status_code, get.status_code) == (200, 200)


# -- refused uploads -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NOT_IMAGES)
async def test_anything_but_an_image_is_422_and_stores_nothing(house: Harness, name: str) -> None:
    response = await put_png(house, NOT_IMAGES[name]())

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert await stored(house) is None


async def test_html_in_a_file_named_png_is_422(house: Harness) -> None:
    response = await house.client.put(PICTURE, files={"file": ("house.png", HTML, "image/png")})

    assert response.status_code == 422
    assert await stored(house) is None


async def test_a_refused_upload_keeps_the_picture_there_was(house: Harness) -> None:
    await put_png(house)
    before = await stored(house)

    await put_png(house, NOT_IMAGES["text"]())

    assert await stored(house) == before


async def test_an_upload_over_the_size_limit_is_413_and_stores_nothing(house: Harness) -> None:
    response = await put_png(house, b"\x89PNG" + bytes(2_000_000))

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert await stored(house) is None


async def test_a_multipart_upload_over_the_size_limit_is_413(house: Harness) -> None:
    big = ("house.png", b"\x89PNG" + bytes(2_000_000), "image/png")

    response = await house.client.put(PICTURE, files={"file": big})

    assert response.status_code == 413
    assert await stored(house) is None


async def test_a_multipart_body_without_the_file_field_is_422(house: Harness) -> None:
    response = await house.client.put(
        PICTURE, files={"picture": ("house.png", make_png(), "image/png")}
    )

    assert response.status_code == 422
    assert await stored(house) is None


# -- access --------------------------------------------------------------------------------------

ROUTES = [("PUT", {"content": make_png()}), ("GET", {}), ("DELETE", {})]
ROUTE_IDS = [method for method, _ in ROUTES]


@pytest.mark.parametrize(("method", "request_options"), ROUTES, ids=ROUTE_IDS)
async def test_no_token_is_401_and_changes_nothing(
    house: Harness, method: str, request_options: dict[str, Any]
) -> None:
    await put_png(house)
    before = await stored(house)

    response = await house.call(method, PICTURE, None, **request_options)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await stored(house) == before


@pytest.mark.parametrize(("method", "request_options"), ROUTES, ids=ROUTE_IDS)
async def test_another_household_is_403_and_changes_nothing(
    house: Harness, method: str, request_options: dict[str, Any]
) -> None:
    await put_png(house)
    before = await stored(house)
    neighbour = household(house, "other-house")

    response = await house.call(method, PICTURE, neighbour, **request_options)

    assert response.status_code == 403
    assert await stored(house) == before


# -- missing -------------------------------------------------------------------------------------


async def test_a_member_without_a_picture_is_404(house: Harness) -> None:
    response = await house.client.get(PICTURE)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
async def test_an_unknown_member_is_404(house: Harness, method: str) -> None:
    response = await house.client.request(method, "/api/members/nobody/picture", content=b"x")

    assert response.status_code == 404
    assert await stored(house, "nobody") is None


async def test_a_deleted_picture_is_404_and_deleting_it_again_too(house: Harness) -> None:
    await put_png(house)

    deleted = await house.client.delete(PICTURE)

    assert deleted.status_code == 204
    assert (await house.client.get(PICTURE)).status_code == 404
    assert (await house.client.delete(PICTURE)).status_code == 404
    assert await stored(house) is None


async def test_deleting_the_member_deletes_its_picture(house: Harness) -> None:
    await put_png(house)

    await house.client.delete(f"/api/members/{HOUSE}")

    assert await stored(house) is None
    await house.create(id=HOUSE)
    assert (await house.client.get(PICTURE)).status_code == 404
