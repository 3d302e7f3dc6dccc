"""JSON routes: the caller's profile, direct creation, profile management, storage."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.auth.conftest import (
    NOW,
    Auth,
    bearer,
    make_profile,
    make_settings,
    running_auth,
)


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


async def test_login_answers_the_token_subjects_own_profile(auth: Auth):
    registered = await auth.register()
    await auth.register("bob")
    tokens = await auth.sign_in()
    response = await auth.client.get("/api/login", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    body = response.json()
    assert body["clientid"] == registered["clientid"] and body["username"] == "ada"


async def test_login_without_a_token_is_401_with_a_bearer_challenge(auth: Auth):
    response = await auth.client.get("/api/login")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_login_ignores_the_original_clientid_parameter(auth: Auth):
    await auth.create()
    response = await auth.client.get("/api/login", params={"clientid": "ada"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "authorization", ["Bearer not-a-jwt", "Basic YWRhOnB3", "Bearer a.b.c", "Bearer "]
)
async def test_login_with_an_invalid_authorization_is_401(auth: Auth, authorization: str):
    response = await auth.client.get("/api/login", headers={"Authorization": authorization})
    assert response.status_code == 401


async def test_login_with_an_expired_token_is_401(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    auth.clock.advance(600 + 31)
    response = await auth.client.get("/api/login", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_login_with_an_id_token_is_401(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    response = await auth.client.get("/api/login", headers=bearer(tokens["id_token"]))
    assert response.status_code == 401


async def test_login_with_a_service_token_is_403(auth: Auth):
    response = await auth.client.get("/api/login", headers=await auth.as_admin())
    assert response.status_code == 403


async def test_login_after_the_profile_is_gone_is_404(auth: Auth):
    profile = await auth.register()
    tokens = await auth.sign_in()
    await auth.client.delete(f"/api/profiles/{profile['clientid']}", headers=await auth.as_admin())
    response = await auth.client.get("/api/login", headers=bearer(tokens["access_token"]))
    assert response.status_code == 404


# -- POST /api/login (development only) ----------------------------------------------------------


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
    stored = await auth.client.get("/api/profiles/ada", headers=await auth.as_admin())
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
    assert (await auth.client.get("/api/profiles", headers=await auth.as_admin())).json() == []


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
    stored = await production.client.get("/api/profiles/bob", headers=await production.as_admin())
    assert stored.status_code == 404


async def test_create_is_refused_in_production_before_the_body_is_read(production: Auth):
    response = await production.client.post("/api/login", json={"username": 3})
    assert response.status_code == 403


async def test_a_manager_may_replace_a_profile_in_production(production: Auth):
    update = {"username": "Ada", "prosumers": [{"level": 1, "id": "p-9"}]}
    anonymous = await production.client.put("/api/profiles/ada", json=update)
    managed = await production.client.put(
        "/api/profiles/ada", json=update, headers=await production.as_admin()
    )
    assert (anonymous.status_code, managed.status_code) == (401, 200)


# -- /api/profiles -------------------------------------------------------------------------------


async def test_no_profiles_at_start(auth: Auth):
    response = await auth.client.get("/api/profiles", headers=await auth.as_admin())
    assert response.status_code == 200
    assert response.json() == []


async def test_profiles_lists_every_profile_to_a_manager(auth: Auth):
    await auth.create()
    await auth.create(clientid="bob", username="Bob")
    response = await auth.client.get("/api/profiles", headers=await auth.as_admin())
    assert sorted(p["clientid"] for p in response.json()) == ["ada", "bob"]


async def test_profiles_list_needs_a_token(auth: Auth):
    assert (await auth.client.get("/api/profiles")).status_code == 401


async def test_profiles_list_is_refused_to_a_user_without_manager_privilege(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    response = await auth.client.get("/api/profiles", headers=bearer(tokens["access_token"]))
    assert response.status_code == 403


async def test_profiles_list_is_allowed_to_a_user_with_a_level_2_manager_privilege(auth: Auth):
    profile = await auth.register()
    await auth.make_manager(profile["clientid"])
    tokens = await auth.sign_in()
    response = await auth.client.get("/api/profiles", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200


async def test_a_level_1_manager_privilege_does_not_make_a_manager(auth: Auth):
    profile = await auth.register()
    await auth.client.put(
        f"/api/profiles/{profile['clientid']}",
        json={"username": "ada", "managers": [{"level": 1, "id": "coal-1"}]},
        headers=await auth.as_admin(),
    )
    tokens = await auth.sign_in()
    response = await auth.client.get("/api/profiles", headers=bearer(tokens["access_token"]))
    assert response.status_code == 403


async def test_a_service_without_admin_scope_is_not_a_manager(auth: Auth):
    token = (await auth.service_token()).json()["access_token"]
    response = await auth.client.get("/api/profiles", headers=bearer(token))
    assert response.status_code == 403


async def test_one_profile_by_clientid(auth: Auth):
    created = await auth.create()
    response = await auth.client.get("/api/profiles/ada", headers=await auth.as_admin())
    assert response.status_code == 200
    assert response.json() == created


async def test_a_user_may_read_their_own_profile_but_not_another(auth: Auth):
    own = await auth.register()
    other = await auth.register("bob")
    headers = bearer((await auth.sign_in())["access_token"])
    mine = await auth.client.get(f"/api/profiles/{own['clientid']}", headers=headers)
    theirs = await auth.client.get(f"/api/profiles/{other['clientid']}", headers=headers)
    assert (mine.status_code, theirs.status_code) == (200, 403)


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PUT", {"username": "X"}), ("DELETE", None)]
)
async def test_unknown_profile_is_404(auth: Auth, method: str, body: object):
    response = await auth.client.request(
        method, "/api/profiles/nobody", json=body, headers=await auth.as_admin()
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_invalid_clientid_in_the_path_is_422(auth: Auth, method: str):
    response = await auth.client.request(
        method, f"/api/profiles/{'x' * 65}", json={"username": "X"}, headers=await auth.as_admin()
    )
    assert response.status_code == 422


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_changing_a_profile_needs_a_token(auth: Auth, method: str):
    created = await auth.create()
    response = await auth.client.request(method, "/api/profiles/ada", json={"username": "Eve"})
    assert response.status_code == 401
    stored = await auth.client.get("/api/profiles/ada", headers=await auth.as_admin())
    assert stored.json() == created


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_changing_a_profile_is_refused_to_a_plain_user(auth: Auth, method: str):
    own = await auth.register()
    headers = bearer((await auth.sign_in())["access_token"])
    update = {"username": "ada", "managers": [{"level": 9, "id": "coal-1"}]}
    response = await auth.client.request(
        method, f"/api/profiles/{own['clientid']}", json=update, headers=headers
    )
    assert response.status_code == 403


async def test_replace_sets_username_and_privileges_and_keeps_last_login(auth: Auth):
    await auth.create()
    auth.clock.advance(600)
    update = {"username": "Ada L.", "managers": [], "prosumers": [{"level": 3, "id": "p-9"}]}
    admin = await auth.as_admin()
    response = await auth.client.put("/api/profiles/ada", json=update, headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "Ada L." and body["managers"] == [] and body["consumers"] == []
    assert body["prosumers"] == [{"level": 3, "access": None, "id": "p-9"}]
    assert login_time(body) == NOW
    assert (await auth.client.get("/api/profiles/ada", headers=admin)).json() == body


async def test_replace_accepts_a_profile_as_it_was_answered(auth: Auth):
    created = await auth.create()
    changed = {**created, "consumers": ["c-3"]}
    response = await auth.client.put(
        "/api/profiles/ada", json=changed, headers=await auth.as_admin()
    )
    assert response.status_code == 200
    assert response.json() == changed


async def test_replace_with_another_clientid_in_the_body_is_422(auth: Auth):
    await auth.create()
    response = await auth.client.put(
        "/api/profiles/ada",
        json={"username": "Ada", "clientid": "bob"},
        headers=await auth.as_admin(),
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
    admin = await auth.as_admin()
    response = await auth.client.put("/api/profiles/ada", json=update, headers=admin)
    assert response.status_code == 422
    assert (await auth.client.get("/api/profiles/ada", headers=admin)).json() == created


async def test_replace_with_malformed_json_is_422(auth: Auth):
    await auth.create()
    response = await auth.client.put(
        "/api/profiles/ada",
        content=b"username=Eve",
        headers={"content-type": "application/json", **(await auth.as_admin())},
    )
    assert response.status_code == 422


async def test_new_privileges_reach_the_next_token(auth: Auth):
    profile = await auth.register()
    update = {
        "username": "ada",
        "managers": [{"level": 2, "id": "coal-1"}],
        "prosumers": [{"level": 1, "id": "p-7"}, {"level": 1, "id": "p-8"}],
    }
    await auth.client.put(
        f"/api/profiles/{profile['clientid']}", json=update, headers=await auth.as_admin()
    )
    tokens = await auth.sign_in()
    claims = (await auth.verify(tokens["access_token"])).claims
    assert (claims["gm_managers"], claims["gm_prosumers"]) == (["coal-1"], ["p-7", "p-8"])


async def test_delete_answers_the_profile_and_forgets_it(auth: Auth):
    created = await auth.create()
    admin = await auth.as_admin()
    response = await auth.client.delete("/api/profiles/ada", headers=admin)
    assert response.status_code == 200
    assert response.json() == created
    assert (await auth.client.get("/api/profiles/ada", headers=admin)).status_code == 404


async def test_deleting_a_users_profile_deletes_the_account_and_its_tokens(auth: Auth):
    profile = await auth.register()
    tokens = await auth.sign_in()
    await auth.client.delete(f"/api/profiles/{profile['clientid']}", headers=await auth.as_admin())
    assert (await auth.refresh(tokens["refresh_token"])).status_code == 400
    again = await auth.client.post(
        "/api/register", json={"username": "ada", "password": "another long password"}
    )
    assert again.status_code == 201


async def test_a_deleted_clientid_can_be_created_again(auth: Auth):
    await auth.create()
    await auth.client.delete("/api/profiles/ada", headers=await auth.as_admin())
    assert (await auth.client.post("/api/login", json=make_profile())).status_code == 201


# -- storage -------------------------------------------------------------------------------------


async def test_profiles_are_stored_and_reloaded_on_start(tmp_path):
    settings = make_settings(tmp_path)
    async with running_auth(settings) as auth:
        created = await auth.create()
    async with running_auth(settings) as auth:
        response = await auth.client.get("/api/profiles/ada", headers=await auth.as_admin())
    assert response.json() == created


async def test_an_instance_sees_only_the_profiles_of_its_name(tmp_path):
    async with running_auth(make_settings(tmp_path, name="north")) as auth:
        await auth.create()
    async with running_auth(make_settings(tmp_path, name="south")) as auth:
        response = await auth.client.get("/api/profiles", headers=await auth.as_admin())
        assert response.json() == []


async def test_auth_runs_no_tick_loop(auth: Auth):
    body = (await auth.client.get("/healthz")).json()
    assert body["service"] == "auth" and body["tick"] is None
