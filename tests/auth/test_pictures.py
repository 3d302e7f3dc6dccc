"""Profile pictures: ``/api/account/picture`` and ``GET /api/profiles/{clientid}/picture``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.common.pictures import COLLECTION
from tests.auth.conftest import Auth, bearer
from tests.common.images import CAMERA_MAKE, NOT_IMAGES, make_jpeg, make_png, opened

OWN = "/api/account/picture"


async def user(auth: Auth, username: str = "ada") -> tuple[str, dict[str, str]]:
    """A registered, signed-in user: their clientid and the headers of their requests."""
    profile = await auth.register(username)
    tokens = await auth.sign_in(username)
    return profile["clientid"], bearer(tokens["access_token"])


async def stored(auth: Auth, clientid: str) -> dict[str, Any] | None:
    return await auth.app.state.runtime.storage.get(COLLECTION, clientid)


async def put_picture(auth: Auth, headers: dict[str, str], data: bytes) -> httpx.Response:
    return await auth.client.put(OWN, content=data, headers={**headers, "Content-Type": "image/*"})


# -- the caller's own picture --------------------------------------------------------------------


async def test_a_png_round_trips_as_a_re_encoded_png(auth: Auth) -> None:
    _, headers = await user(auth)
    upload = make_png((40, 30))

    response = await put_picture(auth, headers, upload)

    assert response.status_code == 200, response.text
    assert response.json()["content_type"] == "image/png"
    picture = await auth.client.get(OWN, headers=headers)
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/png"
    assert picture.headers["cache-control"] == "private, max-age=60"
    assert picture.headers["x-content-type-options"] == "nosniff"
    assert picture.content != upload and opened(picture.content).size == (40, 30)


async def test_a_jpeg_sent_as_multipart_comes_back_without_its_exif(auth: Auth) -> None:
    _, headers = await user(auth)
    upload = ("me.jpg", make_jpeg((40, 20)), "image/jpeg")

    response = await auth.client.put(OWN, files={"file": upload}, headers=headers)

    assert response.status_code == 200, response.text
    picture = await auth.client.get(OWN, headers=headers)
    assert picture.headers["content-type"] == "image/jpeg"
    assert CAMERA_MAKE.encode() not in picture.content and not opened(picture.content).getexif()


@pytest.mark.parametrize("name", ["text", "html-named-png", "bomb-50000x50000"])
async def test_anything_but_an_image_is_422_and_stores_nothing(auth: Auth, name: str) -> None:
    clientid, headers = await user(auth)

    response = await put_picture(auth, headers, NOT_IMAGES[name]())

    assert response.status_code == 422
    assert await stored(auth, clientid) is None


async def test_an_upload_over_the_size_limit_is_413_and_stores_nothing(auth: Auth) -> None:
    clientid, headers = await user(auth)

    response = await put_picture(auth, headers, bytes(2_000_001))

    assert response.status_code == 413
    assert await stored(auth, clientid) is None


async def test_without_a_picture_get_and_delete_are_404(auth: Auth) -> None:
    _, headers = await user(auth)

    assert (await auth.client.get(OWN, headers=headers)).status_code == 404
    assert (await auth.client.delete(OWN, headers=headers)).status_code == 404


async def test_a_deleted_picture_is_gone(auth: Auth) -> None:
    clientid, headers = await user(auth)
    await put_picture(auth, headers, make_png())

    response = await auth.client.delete(OWN, headers=headers)

    assert response.status_code == 204
    assert await stored(auth, clientid) is None
    assert (await auth.client.get(OWN, headers=headers)).status_code == 404


async def test_a_deleted_account_has_no_picture_to_serve(auth: Auth) -> None:
    clientid, headers = await user(auth)
    await put_picture(auth, headers, make_png())
    await auth.client.delete("/api/account", headers=headers)
    manager_id, manager = await user(auth, "boss")
    await auth.make_manager(manager_id, "boss")

    response = await auth.client.get(f"/api/profiles/{clientid}/picture", headers=manager)

    assert response.status_code == 404
    assert await stored(auth, clientid) is None


# -- access --------------------------------------------------------------------------------------

OWN_ROUTES = [("PUT", {"content": make_png()}), ("GET", {}), ("DELETE", {})]
OWN_IDS = [method for method, _ in OWN_ROUTES]


@pytest.mark.parametrize(("method", "options"), OWN_ROUTES, ids=OWN_IDS)
async def test_no_token_is_401(auth: Auth, method: str, options: dict[str, Any]) -> None:
    response = await auth.client.request(method, OWN, **options)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_no_token_is_401_for_a_profiles_picture(auth: Auth) -> None:
    clientid, _ = await user(auth)

    response = await auth.client.get(f"/api/profiles/{clientid}/picture")

    assert response.status_code == 401


@pytest.mark.parametrize(("method", "options"), OWN_ROUTES, ids=OWN_IDS)
async def test_a_service_has_no_picture(auth: Auth, method: str, options: dict[str, Any]) -> None:
    headers = await auth.as_admin()

    response = await auth.client.request(method, OWN, headers=headers, **options)

    assert response.status_code == 403


async def test_the_owner_reads_their_picture_by_clientid(auth: Auth) -> None:
    clientid, headers = await user(auth)
    await put_picture(auth, headers, make_png())

    response = await auth.client.get(f"/api/profiles/{clientid}/picture", headers=headers)

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"


async def test_a_manager_reads_anyones_picture(auth: Auth) -> None:
    clientid, headers = await user(auth)
    await put_picture(auth, headers, make_png())
    manager_id, manager = await user(auth, "boss")
    await auth.make_manager(manager_id, "boss")

    response = await auth.client.get(f"/api/profiles/{clientid}/picture", headers=manager)

    assert response.status_code == 200


async def test_another_user_may_not_read_a_picture_and_changes_nothing(auth: Auth) -> None:
    clientid, headers = await user(auth)
    await put_picture(auth, headers, make_png())
    before = await stored(auth, clientid)
    _, stranger = await user(auth, "eve")

    response = await auth.client.get(f"/api/profiles/{clientid}/picture", headers=stranger)

    assert response.status_code == 403
    assert await stored(auth, clientid) == before


async def test_a_managers_own_picture_is_the_one_managers_see(auth: Auth) -> None:
    manager_id, manager = await user(auth, "boss")
    await auth.make_manager(manager_id, "boss")
    await put_picture(auth, manager, make_jpeg())

    response = await auth.client.get(f"/api/profiles/{manager_id}/picture", headers=manager)

    assert response.headers["content-type"] == "image/jpeg"


async def test_an_unknown_profile_is_404_for_a_manager(auth: Auth) -> None:
    manager_id, manager = await user(auth, "boss")
    await auth.make_manager(manager_id, "boss")

    response = await auth.client.get("/api/profiles/nobody/picture", headers=manager)

    assert response.status_code == 404


async def test_a_malformed_clientid_is_422(auth: Auth) -> None:
    _, headers = await user(auth)

    response = await auth.client.get("/api/profiles/not%20valid/picture", headers=headers)

    assert response.status_code == 422
