"""Accounts: registration (API and page), password change, deletion, login throttling."""

from __future__ import annotations

import pytest

from tests.auth.conftest import (
    PASSWORD,
    Auth,
    authorize_params,
    bearer,
    csrf_token,
    pkce_pair,
    redirect_query,
)

NEW_PASSWORD = "a brand new passphrase"

# -- POST /api/register --------------------------------------------------------------------------


async def test_registration_answers_a_profile_without_privileges(auth: Auth):
    response = await auth.client.post(
        "/api/register", json={"username": "ada", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "ada" and len(body["clientid"]) == 32
    assert (body["managers"], body["prosumers"], body["consumers"]) == ([], [], [])


async def test_registration_never_answers_the_password_or_its_hash(auth: Auth):
    response = await auth.client.post(
        "/api/register", json={"username": "ada", "password": PASSWORD}
    )
    assert "password" not in response.text and "argon2" not in response.text


async def test_a_taken_username_is_409_whatever_its_case(auth: Auth):
    await auth.register("ada")
    response = await auth.client.post(
        "/api/register", json={"username": "ADA", "password": "another password"}
    )
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


async def test_a_password_shorter_than_10_characters_is_422(auth: Auth):
    response = await auth.client.post(
        "/api/register", json={"username": "ada", "password": "short-pw1"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "password"
    again = await auth.client.post("/api/register", json={"username": "ada", "password": PASSWORD})
    assert again.status_code == 201


async def test_the_username_as_password_is_422(auth: Auth):
    response = await auth.client.post(
        "/api/register", json={"username": "adalovelace", "password": "AdaLovelace"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "a", "password": PASSWORD}, "username"),
        ({"username": "has space", "password": PASSWORD}, "username"),
        ({"username": "x" * 65, "password": PASSWORD}, "username"),
        ({"username": "ada", "password": "x" * 257}, "password"),
        ({"username": "ada"}, "password"),
        ({"password": PASSWORD}, "username"),
        ({"username": "ada", "password": PASSWORD, "role": "admin"}, "role"),
    ],
)
async def test_a_bad_registration_is_422_naming_the_field(auth: Auth, body: dict, field: str):
    response = await auth.client.post("/api/register", json=body)
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["detail"]]


async def test_a_registered_user_signs_in_with_their_password(auth: Auth):
    profile = await auth.register()
    tokens = await auth.sign_in()
    assert (await auth.verify(tokens["access_token"])).claims["sub"] == profile["clientid"]


async def test_usernames_sign_in_whatever_their_case(auth: Auth):
    await auth.register("Ada")
    tokens = await auth.sign_in("ADA")
    assert tokens["access_token"]


# -- GET/POST /register (the page) ---------------------------------------------------------------


async def test_the_registration_page_is_a_form(auth: Auth):
    response = await auth.client.get("/register")
    assert response.status_code == 200
    assert 'name="password_confirm"' in response.text and csrf_token(response)


async def registration_form(auth: Auth, params: dict | None = None, **fields: str) -> dict:
    page = await auth.client.get("/register", params=params or {})
    form = {**(params or {}), "csrf_token": csrf_token(page)}
    return form | {"username": "ada", "password": PASSWORD, "password_confirm": PASSWORD} | fields


async def test_the_registration_form_creates_an_account(auth: Auth):
    response = await auth.client.post("/register", data=await registration_form(auth))
    assert response.status_code == 201 and "Welcome" in response.text
    assert (await auth.sign_in())["access_token"]


async def test_registering_during_a_sign_in_resumes_it_signed_in(auth: Auth):
    verifier, challenge = pkce_pair()
    params = authorize_params(challenge)
    response = await auth.client.post("/register", data=await registration_form(auth, params))
    assert response.status_code == 303
    assert response.headers["location"].startswith("http://127.0.0.1:8001/authorize?")
    resumed = await auth.client.get("/authorize", params=params)
    tokens = await auth.exchange(redirect_query(resumed)["code"], verifier)
    assert tokens.status_code == 200


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"password_confirm": "something else"}, 422, "differ"),
        ({"password": "short", "password_confirm": "short"}, 422, "password"),
        ({"username": "a b"}, 422, "username"),
    ],
)
async def test_a_bad_registration_form_is_shown_again_with_the_reason(
    auth: Auth, fields: dict, status: int, message: str
):
    response = await auth.client.post("/register", data=await registration_form(auth, **fields))
    assert response.status_code == status
    assert message in response.text and 'name="password_confirm"' in response.text


async def test_a_taken_username_in_the_form_is_409(auth: Auth):
    await auth.register()
    response = await auth.client.post("/register", data=await registration_form(auth))
    assert response.status_code == 409 and "taken" in response.text


async def test_a_registration_form_without_its_token_is_refused(auth: Auth):
    form = await registration_form(auth)
    del form["csrf_token"]
    response = await auth.client.post("/register", data=form)
    assert response.status_code == 403
    again = await auth.client.post("/api/register", json={"username": "ada", "password": PASSWORD})
    assert again.status_code == 201  # nothing was created


# -- POST /api/account/password ------------------------------------------------------------------


async def change_password(auth: Auth, token: str, old: str, new: str = NEW_PASSWORD):
    return await auth.client.post(
        "/api/account/password",
        json={"old_password": old, "new_password": new},
        headers=bearer(token),
    )


async def test_a_password_change_revokes_every_refresh_token(auth: Auth):
    await auth.register()
    first = await auth.sign_in()
    second = await auth.sign_in()
    response = await change_password(auth, first["access_token"], PASSWORD)
    assert response.status_code == 200
    assert (await auth.refresh(first["refresh_token"])).status_code == 400
    assert (await auth.refresh(second["refresh_token"])).status_code == 400


async def test_after_a_password_change_only_the_new_password_opens(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    await change_password(auth, tokens["access_token"], PASSWORD)
    _, challenge = pkce_pair()
    auth.client.cookies.clear()
    old = await auth.submit_login(authorize_params(challenge), password=PASSWORD)
    assert old.status_code == 400
    assert (await auth.sign_in(password=NEW_PASSWORD))["access_token"]


async def test_a_password_change_ends_the_login_session(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()  # leaves the login cookie
    await change_password(auth, tokens["access_token"], PASSWORD)
    _, challenge = pkce_pair()
    response = await auth.client.get("/authorize", params=authorize_params(challenge))
    assert response.status_code == 200 and 'name="password"' in response.text


async def test_a_wrong_old_password_is_403_and_changes_nothing(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    response = await change_password(auth, tokens["access_token"], "not my password")
    assert response.status_code == 403
    assert (await auth.refresh(tokens["refresh_token"])).status_code == 200


@pytest.mark.parametrize("new", ["too-short", PASSWORD])
async def test_an_unacceptable_new_password_is_422(auth: Auth, new: str):
    await auth.register()
    tokens = await auth.sign_in()
    response = await change_password(auth, tokens["access_token"], PASSWORD, new)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "new_password"


async def test_a_password_change_needs_a_users_token(auth: Auth):
    anonymous = await auth.client.post(
        "/api/account/password", json={"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    service = await change_password(auth, await auth.admin_token(), PASSWORD)
    assert (anonymous.status_code, service.status_code) == (401, 403)


async def test_wrong_old_passwords_are_throttled(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    for _ in range(5):
        await change_password(auth, tokens["access_token"], "not my password")
    response = await change_password(auth, tokens["access_token"], PASSWORD)
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0


# -- DELETE /api/account -------------------------------------------------------------------------


async def test_deleting_the_account_revokes_its_tokens_and_forgets_it(auth: Auth):
    profile = await auth.register()
    tokens = await auth.sign_in()
    response = await auth.client.delete("/api/account", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200 and response.json()["clientid"] == profile["clientid"]
    assert (await auth.refresh(tokens["refresh_token"])).status_code == 400
    admin = await auth.as_admin()
    stored = await auth.client.get(f"/api/profiles/{profile['clientid']}", headers=admin)
    assert stored.status_code == 404
    _, challenge = pkce_pair()
    auth.client.cookies.clear()
    assert (await auth.submit_login(authorize_params(challenge))).status_code == 400


async def test_deleting_an_account_leaves_other_users_untouched(auth: Auth):
    await auth.register()
    bob = await auth.register("bob")
    legacy = await auth.create(clientid="carol", username="Carol")
    bobs = await auth.sign_in("bob")
    adas = await auth.sign_in()
    await auth.client.delete("/api/account", headers=bearer(adas["access_token"]))
    admin = await auth.as_admin()
    profiles = (await auth.client.get("/api/profiles", headers=admin)).json()
    assert sorted(p["clientid"] for p in profiles) == sorted([bob["clientid"], "carol"])
    assert legacy in profiles
    assert (await auth.refresh(bobs["refresh_token"])).status_code == 200


async def test_account_deletion_needs_a_token(auth: Auth):
    assert (await auth.client.delete("/api/account")).status_code == 401


# -- login throttling ----------------------------------------------------------------------------


async def attempt(auth: Auth, username: str, password: str):
    _, challenge = pkce_pair()
    auth.client.cookies.clear()
    return await auth.submit_login(authorize_params(challenge), username, password)


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(auth: Auth):
    await auth.register()
    wrong_password = await attempt(auth, "ada", "not my password")
    unknown_user = await attempt(auth, "nobody", PASSWORD)
    assert wrong_password.status_code == unknown_user.status_code == 400
    assert "invalid username or password" in wrong_password.text
    assert "invalid username or password" in unknown_user.text


async def test_after_five_failures_even_the_right_password_is_refused(auth: Auth):
    await auth.register()
    for _ in range(5):
        assert (await attempt(auth, "ada", "not my password")).status_code == 400
    refused = await attempt(auth, "ada", PASSWORD)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 300
    assert "location" not in refused.headers


async def test_an_unknown_user_is_throttled_alike(auth: Auth):
    for _ in range(5):
        await attempt(auth, "nobody", "not my password")
    assert (await attempt(auth, "nobody", "not my password")).status_code == 429


async def test_the_right_password_works_once_the_window_has_passed(auth: Auth):
    await auth.register()
    for _ in range(5):
        await attempt(auth, "ada", "not my password")
    auth.clock.advance(301)
    response = await attempt(auth, "ada", PASSWORD)
    assert response.status_code == 303 and "code" in redirect_query(response)


async def test_throttling_one_account_leaves_another_alone(auth: Auth):
    await auth.register()
    await auth.register("bob")
    for _ in range(5):
        await attempt(auth, "ada", "not my password")
    assert (await attempt(auth, "bob", PASSWORD)).status_code == 303


async def test_an_address_is_throttled_after_twenty_failures_over_many_accounts(auth: Auth):
    await auth.register()
    for n in range(20):
        await attempt(auth, f"guess{n}", "not my password")
    assert (await attempt(auth, "ada", PASSWORD)).status_code == 429
