"""The managers' view of who is online: ``GET /api/prosumers/status``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common.clock import later
from tests.auth.conftest import NOW, Auth, bearer, make_settings, running_auth

STATUS = "/api/prosumers/status"
WINDOW_S = 900  # the default online_window_seconds


async def make_prosumer_user(
    auth: Auth, username: str = "ada", prosumer_ids: tuple[str, ...] = ("p-1",)
) -> str:
    """A registered user holding a prosumer privilege over each of ``prosumer_ids``."""
    clientid = str((await auth.register(username))["clientid"])
    response = await auth.client.put(
        f"/api/profiles/{clientid}",
        json={"username": username, "prosumers": [{"level": 1, "id": p} for p in prosumer_ids]},
        headers=await auth.as_admin(),
    )
    assert response.status_code == 200, response.text
    return clientid


async def status(auth: Auth) -> list[dict[str, Any]]:
    response = await auth.client.get(STATUS, headers=await auth.as_admin())
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def status_of(auth: Auth, clientid: str) -> dict[str, Any]:
    (row,) = [row for row in await status(auth) if row["clientid"] == clientid]
    return row


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


async def test_a_user_who_signed_in_is_online(auth: Auth):
    clientid = await make_prosumer_user(auth)
    await auth.sign_in()
    row = await status_of(auth, clientid)
    assert row == {
        "prosumer_id": "p-1",
        "clientid": clientid,
        "username": "ada",
        "online": True,
        "last_login": row["last_login"],
        "last_seen": row["last_seen"],
    }
    assert moment(row["last_login"]) == moment(row["last_seen"]) == NOW


async def test_a_registered_user_who_never_signed_in_is_offline(auth: Auth):
    clientid = await make_prosumer_user(auth)
    row = await status_of(auth, clientid)
    assert row["online"] is False and row["last_seen"] is None


async def test_a_user_is_offline_after_the_window_without_a_refresh(auth: Auth):
    clientid = await make_prosumer_user(auth)
    await auth.sign_in()
    auth.clock.advance(WINDOW_S + 1)
    row = await status_of(auth, clientid)
    assert row["online"] is False and moment(row["last_seen"]) == NOW


async def test_refreshing_keeps_a_user_online_and_updates_last_seen(auth: Auth):
    clientid = await make_prosumer_user(auth)
    tokens = await auth.sign_in()
    auth.clock.advance(600)
    assert (await auth.refresh(tokens["refresh_token"])).status_code == 200
    auth.clock.advance(600)
    row = await status_of(auth, clientid)
    assert row["online"] is True
    assert moment(row["last_seen"]) == later(NOW, 600)
    assert moment(row["last_login"]) == NOW


async def test_signing_out_makes_a_user_offline_at_once(auth: Auth):
    clientid = await make_prosumer_user(auth)
    tokens = await auth.sign_in()
    response = await auth.client.get("/logout", params={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    assert (await status_of(auth, clientid))["online"] is False


async def test_last_login_follows_each_sign_in(auth: Auth):
    clientid = await make_prosumer_user(auth)
    await auth.sign_in()
    auth.clock.advance(7200)
    await auth.sign_in()
    assert moment((await status_of(auth, clientid))["last_login"]) == auth.clock.now()


async def test_one_row_per_prosumer_privilege_and_none_for_other_profiles(auth: Auth):
    ada = await make_prosumer_user(auth, "ada", ("p-2", "p-1"))
    bob = await make_prosumer_user(auth, "bob", ("p-1",))
    await auth.register("carol")  # no prosumer privilege
    rows = [(row["prosumer_id"], row["clientid"]) for row in await status(auth)]
    assert rows == sorted([("p-1", ada), ("p-1", bob), ("p-2", ada)])


async def test_a_user_manager_may_read_the_status(auth: Auth):
    await auth.register("mia")
    manager = await auth.client.get("/api/profiles", headers=await auth.as_admin())
    (mia,) = [p["clientid"] for p in manager.json() if p["username"] == "mia"]
    await auth.make_manager(mia, "mia")
    tokens = await auth.sign_in("mia")
    response = await auth.client.get(STATUS, headers=bearer(tokens["access_token"]))
    assert response.status_code == 200


async def test_a_user_who_is_not_a_manager_is_refused(auth: Auth):
    await make_prosumer_user(auth)
    tokens = await auth.sign_in()
    response = await auth.client.get(STATUS, headers=bearer(tokens["access_token"]))
    assert response.status_code == 403


async def test_a_service_without_the_admin_scope_is_refused(auth: Auth):
    token = (await auth.service_token()).json()["access_token"]
    response = await auth.client.get(STATUS, headers=bearer(token))
    assert response.status_code == 403


async def test_no_token_is_refused(auth: Auth):
    response = await auth.client.get(STATUS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_the_online_window_is_a_setting(tmp_path):
    async with running_auth(make_settings(tmp_path, online_window_seconds=60)) as auth:
        clientid = await make_prosumer_user(auth)
        await auth.sign_in()
        auth.clock.advance(61)
        assert (await status_of(auth, clientid))["online"] is False
