"""Auth routes: the caller's profile, creation, management, and every refusal."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.auth.conftest import NOW, Auth, make_profile, make_settings, running_auth


def expected(**overrides: object) -> dict[str, object]:
    """A profile as the service answers it after ``POST /api/login`` of ``make_profile``."""
    profile = make_profile(**overrides)
    profile["prosumers"] = [{"access": None, **p} for p in profile["prosumers"]]
    profile["managers"] = [{"access": None, **p} for p in profile["managers"]]
    profile.setdefault("last_login", None)
    return profile


def login_time(profile: dict) -> datetime:
    return datetime.fromisoformat(profile["last_login"])


# -- GET /api/login ------------------------------------------------------------------------------


async def test_login_answers_the_profile_named_by_the_query(auth: Auth):
    created = await auth.create()
    response = await auth.client.get("/api/login", params={"clientid": "ada"})
    assert response.status_code == 200
    assert response.json() == created


async def test_login_answers_the_profile_named_by_the_header(auth: Auth):
    await auth.create()
    response = await auth.client.get("/api/login", headers={"X-Client-Id": "ada"})
    assert response.status_code == 200
    assert response.json()["username"] == "Ada"


async def test_login_accepts_query_and_header_that_agree(auth: Auth):
    await auth.create()
    response = await auth.client.get(
        "/api/login", params={"clientid": "ada"}, headers={"X-Client-Id": "ada"}
    )
    assert response.status_code == 200


async def test_login_with_query_and_header_that_disagree_is_422(auth: Auth):
    response = await auth.client.get(
        "/api/login", params={"clientid": "ada"}, headers={"X-Client-Id": "bob"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "clientid"


async def test_login_without_a_caller_is_401_and_says_how_to_name_one(auth: Auth):
    response = await auth.client.get("/api/login")
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "unauthorized"
    assert "X-Client-Id" in body["detail"] and "token" in body["detail"]


async def test_login_of_an_unknown_caller_is_404(auth: Auth):
    response = await auth.client.get("/api/login", params={"clientid": "nobody"})
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "no profile 'nobody'"}


@pytest.mark.parametrize("clientid", ["has space", "x" * 65, "a/b"])
async def test_login_with_an_invalid_clientid_is_422(auth: Auth, clientid: str):
    response = await auth.client.get("/api/login", params={"clientid": clientid})
    assert response.status_code == 422


async def test_login_does_not_change_last_login_until_tokens_exist(auth: Auth):
    await auth.create()
    auth.clock.advance(3600)
    response = await auth.client.get("/api/login", params={"clientid": "ada"})
    assert login_time(response.json()) == NOW


# -- POST /api/login -----------------------------------------------------------------------------


async def test_create_answers_the_profile_with_last_login_now(auth: Auth):
    response = await auth.client.post("/api/login", json=make_profile())
    assert response.status_code == 201
    body = response.json()
    assert login_time(body) == NOW
    assert body == expected(last_login=body["last_login"])


async def test_create_ignores_a_last_login_in_the_request(auth: Auth):
    created = await auth.create(last_login="2001-01-01T00:00:00Z")
    assert login_time(created) == NOW


async def test_create_with_only_username_and_clientid_has_no_privileges(auth: Auth):
    response = await auth.client.post("/api/login", json={"username": "Bob", "clientid": "bob"})
    assert response.status_code == 201
    body = response.json()
    assert (body["managers"], body["prosumers"], body["consumers"]) == ([], [], [])


async def test_create_of_an_existing_clientid_is_409_and_keeps_the_first(auth: Auth):
    await auth.create()
    response = await auth.client.post("/api/login", json=make_profile(username="Impostor"))
    assert response.status_code == 409
    assert response.json() == {"error": "conflict", "detail": "profile 'ada' exists"}
    stored = await auth.client.get("/api/profiles/ada")
    assert stored.json()["username"] == "Ada"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"managers": [{"level": -1, "id": "coal-1"}]}, "managers.0.level"),
        ({"managers": [{"level": "2", "id": "coal-1"}]}, "managers.0.level"),
        ({"managers": [{"level": 1.5, "id": "coal-1"}]}, "managers.0.level"),
        ({"managers": [{"level": True, "id": "coal-1"}]}, "managers.0.level"),
        ({"managers": [{"id": "coal-1"}]}, "managers.0.level"),
        ({"prosumers": [{"level": 1, "id": ""}]}, "prosumers.0.id"),
        ({"prosumers": [{"level": 1, "id": "x" * 65}]}, "prosumers.0.id"),
        ({"prosumers": [{"level": 1, "id": "p 1"}]}, "prosumers.0.id"),
        ({"prosumers": [{"level": 1, "id": "p1", "access": ""}]}, "prosumers.0.access"),
        ({"prosumers": [{"level": 1, "id": "p1", "admin": True}]}, "prosumers.0.admin"),
        ({"prosumers": [{"level": 1, "id": "p1"}, {"level": 2, "id": "p1"}]}, "prosumers"),
        ({"prosumers": {"level": 1, "id": "p1"}}, "prosumers"),
        ({"consumers": [1]}, "consumers.0"),
        ({"consumers": "c-1"}, "consumers"),
        ({"consumers": ["c-1", "c-1"]}, "consumers"),
        ({"username": ""}, "username"),
        ({"username": "   "}, "username"),
        ({"username": "x" * 65}, "username"),
        ({"username": "line\nbreak"}, "username"),
        ({"username": None}, "username"),
        ({"clientid": ""}, "clientid"),
        ({"clientid": "x" * 65}, "clientid"),
        ({"clientid": "a b"}, "clientid"),
        ({"last_login": "yesterday"}, "last_login"),
        ({"role": "admin"}, "role"),
    ],
)
async def test_create_with_a_bad_shape_is_422_naming_the_field(
    auth: Auth, overrides: dict, field: str
):
    response = await auth.client.post("/api/login", json=make_profile(**overrides))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    assert field in [error["field"] for error in body["detail"]]
    assert (await auth.client.get("/api/profiles")).json() == []


@pytest.mark.parametrize("missing", ["username", "clientid"])
async def test_create_without_a_required_field_is_422(auth: Auth, missing: str):
    profile = make_profile()
    del profile[missing]
    response = await auth.client.post("/api/login", json=profile)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == missing


async def test_create_with_malformed_json_is_422(auth: Auth):
    response = await auth.client.post(
        "/api/login", content=b'{"username": "Ada",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


async def test_create_trims_the_username(auth: Auth):
    created = await auth.create(username="  Ada Lovelace ")
    assert created["username"] == "Ada Lovelace"


# -- production ----------------------------------------------------------------------------------


async def test_create_is_refused_in_production(production: Auth):
    response = await production.client.post("/api/login", json=make_profile(clientid="bob"))
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "forbidden" and "production" in body["detail"]
    assert (await production.client.get("/api/profiles/bob")).status_code == 404


async def test_create_is_refused_in_production_before_the_body_is_read(production: Auth):
    response = await production.client.post("/api/login", json={"username": 3})
    assert response.status_code == 403


async def test_replace_and_delete_are_refused_in_production(production: Auth):
    update = await production.client.put("/api/profiles/ada", json={"username": "Eve"})
    delete = await production.client.delete("/api/profiles/ada")
    assert (update.status_code, delete.status_code) == (403, 403)
    assert (await production.client.get("/api/profiles/ada")).json()["username"] == "Ada"


async def test_login_still_answers_in_production(production: Auth):
    response = await production.client.get("/api/login", params={"clientid": "ada"})
    assert response.status_code == 200


# -- /api/profiles -------------------------------------------------------------------------------


async def test_no_profiles_at_start(auth: Auth):
    response = await auth.client.get("/api/profiles")
    assert response.status_code == 200
    assert response.json() == []


async def test_profiles_lists_every_profile(auth: Auth):
    await auth.create()
    await auth.create(clientid="bob", username="Bob")
    response = await auth.client.get("/api/profiles")
    assert sorted(p["clientid"] for p in response.json()) == ["ada", "bob"]


async def test_one_profile_by_clientid(auth: Auth):
    created = await auth.create()
    response = await auth.client.get("/api/profiles/ada")
    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PUT", {"username": "X"}), ("DELETE", None)]
)
async def test_unknown_profile_is_404(auth: Auth, method: str, body: object):
    response = await auth.client.request(method, "/api/profiles/nobody", json=body)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_invalid_clientid_in_the_path_is_422(auth: Auth, method: str):
    response = await auth.client.request(
        method, f"/api/profiles/{'x' * 65}", json={"username": "X"}
    )
    assert response.status_code == 422


async def test_replace_sets_username_and_privileges_and_keeps_last_login(auth: Auth):
    await auth.create()
    auth.clock.advance(600)
    update = {"username": "Ada L.", "managers": [], "prosumers": [{"level": 3, "id": "p-9"}]}
    response = await auth.client.put("/api/profiles/ada", json=update)
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "Ada L." and body["managers"] == [] and body["consumers"] == []
    assert body["prosumers"] == [{"level": 3, "access": None, "id": "p-9"}]
    assert login_time(body) == NOW
    assert (await auth.client.get("/api/profiles/ada")).json() == body


async def test_replace_accepts_a_profile_as_it_was_answered(auth: Auth):
    created = await auth.create()
    changed = {**created, "consumers": ["c-3"]}
    response = await auth.client.put("/api/profiles/ada", json=changed)
    assert response.status_code == 200
    assert response.json() == changed


async def test_replace_with_another_clientid_in_the_body_is_422(auth: Auth):
    await auth.create()
    response = await auth.client.put(
        "/api/profiles/ada", json={"username": "Ada", "clientid": "bob"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "clientid"


@pytest.mark.parametrize(
    "update",
    [
        {},
        {"username": ""},
        {"username": "Ada", "managers": [{"level": -2, "id": "coal-1"}]},
        {"username": "Ada", "consumers": [None]},
        {"username": "Ada", "level": 9},
    ],
)
async def test_replace_with_a_bad_shape_is_422_and_changes_nothing(auth: Auth, update: dict):
    created = await auth.create()
    response = await auth.client.put("/api/profiles/ada", json=update)
    assert response.status_code == 422
    assert (await auth.client.get("/api/profiles/ada")).json() == created


async def test_replace_with_malformed_json_is_422(auth: Auth):
    await auth.create()
    response = await auth.client.put(
        "/api/profiles/ada", content=b"username=Eve", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_delete_answers_the_profile_and_forgets_it(auth: Auth):
    created = await auth.create()
    response = await auth.client.delete("/api/profiles/ada")
    assert response.status_code == 200
    assert response.json() == created
    assert (await auth.client.get("/api/login", params={"clientid": "ada"})).status_code == 404


async def test_a_deleted_clientid_can_be_created_again(auth: Auth):
    await auth.create()
    await auth.client.delete("/api/profiles/ada")
    assert (await auth.client.post("/api/login", json=make_profile())).status_code == 201


# -- storage -------------------------------------------------------------------------------------


async def test_profiles_are_stored_and_reloaded_on_start(tmp_path):
    settings = make_settings(tmp_path)
    async with running_auth(settings) as auth:
        created = await auth.create()
    async with running_auth(settings) as auth:
        response = await auth.client.get("/api/login", params={"clientid": "ada"})
    assert response.json() == created


async def test_an_instance_sees_only_the_profiles_of_its_name(tmp_path):
    async with running_auth(make_settings(tmp_path, name="north")) as auth:
        await auth.create()
    async with running_auth(make_settings(tmp_path, name="south")) as auth:
        assert (await auth.client.get("/api/profiles")).json() == []


async def test_auth_runs_no_tick_loop(auth: Auth):
    body = (await auth.client.get("/healthz")).json()
    assert body["service"] == "auth" and body["tick"] is None
