"""The issuer's protocol: discovery, keys, code + PKCE, tokens, refresh, revocation, logout."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError

from tests.auth.conftest import (
    ADMIN_SECRET,
    DASHBOARD,
    ISSUER,
    PROSUMER_SECRET,
    REDIRECT_URI,
    Auth,
    authorize_params,
    bearer,
    csrf_token,
    make_settings,
    pkce_pair,
    redirect_query,
    running_auth,
)

# -- discovery and keys --------------------------------------------------------------------------


async def test_discovery_names_the_endpoints_and_what_they_support(auth: Auth):
    response = await auth.client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    document = response.json()
    assert document["issuer"] == ISSUER
    assert {name: document[name] for name in document if name.endswith("_endpoint")} == {
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "revocation_endpoint": f"{ISSUER}/revoke",
        "end_session_endpoint": f"{ISSUER}/logout",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
    }
    assert document["jwks_uri"] == f"{ISSUER}/jwks.json"
    assert document["response_types_supported"] == ["code"]
    assert document["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
    ]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["ES256"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_post",
        "client_secret_basic",
        "none",
    }


async def test_discovery_follows_the_issuer_url_setting(tmp_path):
    settings = make_settings(tmp_path, issuer_url="https://id.example.org/")
    async with running_auth(settings) as auth:
        document = (await auth.client.get("/.well-known/openid-configuration")).json()
    assert document["issuer"] == "https://id.example.org"
    assert document["token_endpoint"] == "https://id.example.org/token"


async def test_jwks_publishes_the_current_and_the_next_public_p256_key(auth: Auth):
    response = await auth.client.get("/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 2 and keys[0]["kid"] != keys[1]["kid"]
    for key in keys:
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
        assert key["kid"] and {"x", "y"} <= set(key)
        assert "d" not in key


async def test_the_signing_key_survives_a_restart(tmp_path):
    settings = make_settings(tmp_path)
    async with running_auth(settings) as auth:
        await auth.register()
        tokens = await auth.sign_in()
        before = (await auth.client.get("/jwks.json")).json()
    async with running_auth(settings) as auth:
        assert (await auth.client.get("/jwks.json")).json() == before
        response = await auth.client.get("/api/login", headers=bearer(tokens["access_token"]))
        assert response.status_code == 200


async def test_the_private_key_is_stored_sealed(tmp_path):
    async with running_auth(make_settings(tmp_path)):
        pass
    stored = (tmp_path / "auth-default.sqlite3").read_bytes()
    assert b'"d"' not in stored and b"sealed" in stored


# -- code flow with PKCE -------------------------------------------------------------------------


async def test_authorize_shows_a_login_form_that_carries_the_request(auth: Auth):
    _, challenge = pkce_pair()
    response = await auth.client.get("/authorize", params=authorize_params(challenge))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'name="password"' in response.text and challenge in response.text
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert csrf_token(response) == response.cookies["gm_csrf"]


async def test_code_flow_end_to_end_gives_tokens_that_verify_against_the_jwks(auth: Auth):
    profile = await auth.register()
    verifier, challenge = pkce_pair()
    submitted = await auth.submit_login(authorize_params(challenge))
    location = urlsplit(submitted.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = redirect_query(submitted)
    assert query["state"] == "state-123" and query["iss"] == ISSUER
    response = await auth.exchange(query["code"], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 600
    assert tokens["scope"] == "openid profile gridmarket" and tokens["refresh_token"]
    subject = profile["clientid"]

    access = await auth.verify(tokens["access_token"], iss=ISSUER, aud="gridmarket", sub=subject)
    assert access.header["typ"] == "at+jwt" and access.header["alg"] == "ES256"
    assert access.header["kid"] == (await auth.client.get("/jwks.json")).json()["keys"][0]["kid"]
    claims = access.claims
    assert claims["client_id"] == DASHBOARD and claims["scope"] == "openid profile gridmarket"
    assert claims["iat"] == auth.now() and claims["exp"] == auth.now() + 600
    assert claims["jti"] and claims["gm_prosumers"] == [] and claims["gm_managers"] == []

    identity = await auth.verify(tokens["id_token"], iss=ISSUER, aud=DASHBOARD, sub=subject)
    assert identity.claims["nonce"] == "nonce-456"
    assert identity.claims["auth_time"] == auth.now()
    assert identity.claims["exp"] == auth.now() + 600
    assert identity.claims["preferred_username"] == "ada"


async def test_a_token_signed_by_another_key_does_not_verify(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    header, payload, signature = tokens["access_token"].split(".")
    forged = ".".join([header, payload, base64.urlsafe_b64encode(b"x" * 64).decode().rstrip("=")])
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, await auth.key_set(), algorithms=["ES256"])


async def test_the_access_token_expires_after_ten_minutes(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    auth.clock.advance(600 + 31)
    with pytest.raises(ExpiredTokenError):
        await auth.verify(tokens["access_token"])


async def test_a_wrong_verifier_is_refused(auth: Auth):
    await auth.register()
    code, _ = await auth.code()
    other_verifier, _ = pkce_pair()
    response = await auth.exchange(code, other_verifier)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_grant" and "code_verifier" in body["error_description"]


async def test_a_code_works_once(auth: Auth):
    await auth.register()
    code, verifier = await auth.code()
    first = await auth.exchange(code, verifier)
    second = await auth.exchange(code, verifier)
    assert first.status_code == 200
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"


async def test_a_reused_code_revokes_the_tokens_it_gave(auth: Auth):
    await auth.register()
    code, verifier = await auth.code()
    tokens = (await auth.exchange(code, verifier)).json()
    await auth.exchange(code, verifier)
    response = await auth.refresh(tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_a_code_expires_after_60_seconds(auth: Auth):
    await auth.register()
    code, verifier = await auth.code()
    auth.clock.advance(61)
    response = await auth.exchange(code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "override",
    [
        {"redirect_uri": "http://localhost:8000/callback"},
        {"client_id": "prosumer", "client_secret": PROSUMER_SECRET},
    ],
)
async def test_a_code_is_bound_to_its_client_and_redirect_uri(auth: Auth, override: dict):
    await auth.register()
    code, verifier = await auth.code()
    response = await auth.exchange(code, verifier, **override)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_grant", "unauthorized_client")


@pytest.mark.parametrize("missing", ["code", "redirect_uri", "code_verifier"])
async def test_an_exchange_without_a_required_field_is_invalid_request(auth: Auth, missing: str):
    await auth.register()
    code, verifier = await auth.code()
    response = await auth.exchange(code, verifier, **{missing: None})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_a_code_from_a_sign_in_that_has_ended_is_refused(auth: Auth):
    await auth.register()
    code, verifier = await auth.code()
    await auth.client.get("/logout")
    response = await auth.exchange(code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_an_unknown_redirect_uri_gets_a_page_not_a_redirect(auth: Auth):
    _, challenge = pkce_pair()
    params = authorize_params(challenge, redirect_uri="https://evil.example/callback")
    response = await auth.client.get("/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri" in response.text


async def test_an_unknown_client_gets_a_page_not_a_redirect(auth: Auth):
    _, challenge = pkce_pair()
    response = await auth.client.get(
        "/authorize", params=authorize_params(challenge, client_id="stranger")
    )
    assert response.status_code == 400 and "location" not in response.headers


async def test_a_post_with_an_unknown_redirect_uri_is_not_redirected(auth: Auth):
    await auth.register()
    _, challenge = pkce_pair()
    page = await auth.client.get("/authorize", params=authorize_params(challenge))
    form = authorize_params(challenge, redirect_uri="https://evil.example/callback")
    form |= {"csrf_token": csrf_token(page), "username": "ada", "password": "x" * 12}
    response = await auth.client.post("/authorize", data=form)
    assert response.status_code == 400 and "location" not in response.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid email"}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
    ],
)
async def test_a_bad_request_from_a_known_client_is_refused_by_redirect(
    auth: Auth, overrides: dict, error: str
):
    _, challenge = pkce_pair()
    response = await auth.client.get("/authorize", params=authorize_params(challenge, **overrides))
    query = redirect_query(response)
    assert query["error"] == error and query["state"] == "state-123"
    assert response.headers["location"].startswith(REDIRECT_URI)


async def test_a_repeated_parameter_is_refused(auth: Auth):
    _, challenge = pkce_pair()
    params = list(authorize_params(challenge).items()) + [("scope", "openid")]
    response = await auth.client.get("/authorize", params=params)
    assert redirect_query(response)["error"] == "invalid_request"


async def test_a_signed_in_browser_gets_a_code_without_the_form(auth: Auth):
    await auth.register()
    await auth.code()  # leaves the login cookie
    verifier, challenge = pkce_pair()
    response = await auth.client.get("/authorize", params=authorize_params(challenge))
    tokens = await auth.exchange(redirect_query(response)["code"], verifier)
    assert tokens.status_code == 200


async def test_prompt_login_shows_the_form_even_when_signed_in(auth: Auth):
    await auth.register()
    await auth.code()
    _, challenge = pkce_pair()
    response = await auth.client.get(
        "/authorize", params=authorize_params(challenge, prompt="login")
    )
    assert response.status_code == 200 and 'name="password"' in response.text


async def test_prompt_none_without_a_session_answers_login_required(auth: Auth):
    _, challenge = pkce_pair()
    response = await auth.client.get(
        "/authorize", params=authorize_params(challenge, prompt="none")
    )
    assert redirect_query(response)["error"] == "login_required"


async def test_a_login_form_posted_from_elsewhere_is_refused(auth: Auth):
    await auth.register()
    _, challenge = pkce_pair()
    form = authorize_params(challenge) | {"username": "ada", "password": "correct horse battery"}
    without_token = await auth.client.post("/authorize", data=form)
    page = await auth.client.get("/authorize", params=authorize_params(challenge))
    other_origin = await auth.client.post(
        "/authorize",
        data=form | {"csrf_token": csrf_token(page)},
        headers={"Origin": "https://evil.example"},
    )
    assert (without_token.status_code, other_origin.status_code) == (403, 403)


async def test_a_login_form_from_the_issuer_origin_is_accepted(auth: Auth):
    await auth.register()
    _, challenge = pkce_pair()
    page = await auth.client.get("/authorize", params=authorize_params(challenge))
    form = authorize_params(challenge) | {
        "csrf_token": csrf_token(page),
        "username": "ada",
        "password": "correct horse battery",
    }
    response = await auth.client.post("/authorize", data=form, headers={"Origin": ISSUER})
    assert response.status_code == 303


async def test_signing_in_sets_an_http_only_lax_session_cookie(auth: Auth):
    await auth.register()
    _, challenge = pkce_pair()
    response = await auth.submit_login(authorize_params(challenge))
    cookie = next(c for c in response.headers.get_list("set-cookie") if "gm_session" in c)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie


async def test_signing_in_records_last_login(auth: Auth):
    profile = await auth.register()
    auth.clock.advance(3600)
    tokens = await auth.sign_in()
    own = await auth.client.get("/api/login", headers=bearer(tokens["access_token"]))
    assert own.json()["last_login"] != profile["last_login"]


# -- refresh tokens ------------------------------------------------------------------------------


async def test_a_refresh_gives_new_tokens_and_a_new_refresh_token(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    auth.clock.advance(300)
    response = await auth.refresh(tokens["refresh_token"])
    assert response.status_code == 200
    renewed = response.json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    claims = (await auth.verify(renewed["access_token"])).claims
    assert claims["iat"] == auth.now()
    assert "nonce" not in (await auth.verify(renewed["id_token"])).claims


async def test_a_used_refresh_token_is_refused(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    await auth.refresh(tokens["refresh_token"])
    response = await auth.refresh(tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_reusing_a_refresh_token_revokes_its_whole_family(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    renewed = (await auth.refresh(tokens["refresh_token"])).json()
    await auth.refresh(tokens["refresh_token"])  # the copy comes back
    response = await auth.refresh(renewed["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_reuse_revokes_only_that_family(auth: Auth):
    await auth.register()
    first = await auth.sign_in()
    second = await auth.sign_in()
    await auth.refresh(first["refresh_token"])
    await auth.refresh(first["refresh_token"])
    assert (await auth.refresh(second["refresh_token"])).status_code == 200


async def test_a_refresh_token_expires_after_14_days(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    auth.clock.advance(14 * 86_400 + 1)
    assert (await auth.refresh(tokens["refresh_token"])).status_code == 400


async def test_a_refresh_may_narrow_the_scope_but_not_widen_it(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    form = {"grant_type": "refresh_token", "client_id": DASHBOARD}
    narrowed = await auth.client.post(
        "/token", data=form | {"refresh_token": tokens["refresh_token"], "scope": "gridmarket"}
    )
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "gridmarket"
    assert "id_token" not in narrowed.json()
    widened = await auth.client.post(
        "/token",
        data=form | {"refresh_token": narrowed.json()["refresh_token"], "scope": "admin"},
    )
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_scope"


async def test_a_refresh_asking_too_much_keeps_the_refresh_token_usable(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    refused = await auth.client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "client_id": DASHBOARD,
            "refresh_token": tokens["refresh_token"],
            "scope": "admin",
        },
    )
    assert refused.status_code == 400
    assert (await auth.refresh(tokens["refresh_token"])).status_code == 200


async def test_refresh_carries_privileges_granted_since(auth: Auth):
    profile = await auth.register()
    tokens = await auth.sign_in()
    await auth.make_manager(profile["clientid"])
    renewed = (await auth.refresh(tokens["refresh_token"])).json()
    assert (await auth.verify(renewed["access_token"])).claims["gm_managers"] == ["coal-1"]


async def test_an_unknown_refresh_token_is_refused(auth: Auth):
    response = await auth.refresh("not-a-token")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


# -- client credentials --------------------------------------------------------------------------


async def test_a_service_with_the_right_secret_gets_a_token_with_its_scopes(auth: Auth):
    response = await auth.service_token()
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "grid.push" and "refresh_token" not in body and "id_token" not in body
    claims = (await auth.verify(body["access_token"], iss=ISSUER, aud="gridmarket")).claims
    assert claims["sub"] == "prosumer" and claims["client_id"] == "prosumer"
    assert claims["scope"] == "grid.push" and claims["exp"] == auth.now() + 600
    assert "gm_prosumers" not in claims and "gm_managers" not in claims


async def test_a_service_may_authenticate_with_http_basic(auth: Auth):
    credentials = base64.b64encode(f"prosumer:{PROSUMER_SECRET}".encode()).decode()
    response = await auth.client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 200 and response.json()["scope"] == "grid.push"


async def test_a_wrong_secret_is_401_invalid_client(auth: Auth):
    response = await auth.service_token(secret="wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_a_wrong_basic_secret_is_401_with_a_basic_challenge(auth: Auth):
    credentials = base64.b64encode(b"prosumer:wrong").decode()
    response = await auth.client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("client_id", "secret"), [("stranger", "whatever"), ("prosumer", None), (DASHBOARD, "x")]
)
async def test_unknown_or_unauthenticated_clients_are_invalid_client(
    auth: Auth, client_id: str, secret: str | None
):
    form = {"grant_type": "client_credentials", "client_id": client_id}
    if secret is not None:
        form["client_secret"] = secret
    response = await auth.client.post("/token", data=form)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_a_service_may_ask_for_a_subset_of_its_scopes_only(auth: Auth):
    allowed = await auth.service_token(scope="grid.push")
    refused = await auth.service_token(scope="grid.push grid.poll")
    assert allowed.status_code == 200
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


async def test_the_dashboard_may_not_use_client_credentials(auth: Auth):
    response = await auth.client.post(
        "/token", data={"grant_type": "client_credentials", "client_id": DASHBOARD}
    )
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


async def test_development_service_clients_have_secrets_derived_from_secret_key(tmp_path):
    from services.common.security import derive_client_secret

    settings = make_settings(tmp_path, service_clients=None)
    async with running_auth(settings) as auth:
        secret = derive_client_secret("change-me", "market")
        response = await auth.service_token("market", secret)
    assert response.status_code == 200 and response.json()["scope"] == "grid.poll"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "implicit"}, "unsupported_grant_type"),
    ],
)
async def test_token_requests_without_a_supported_grant_are_refused(
    auth: Auth, form: dict, error: str
):
    response = await auth.client.post("/token", data={"client_id": DASHBOARD, **form})
    assert response.status_code == 400 and response.json()["error"] == error


async def test_a_json_token_request_is_refused_as_oauth_says(auth: Auth):
    response = await auth.client.post(
        "/token", json={"grant_type": "client_credentials", "client_id": "prosumer"}
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_two_client_authentication_methods_at_once_are_refused(auth: Auth):
    credentials = base64.b64encode(f"prosumer:{PROSUMER_SECRET}".encode()).decode()
    response = await auth.client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_secret": PROSUMER_SECRET},
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


# -- key rotation --------------------------------------------------------------------------------


async def kids(auth: Auth) -> list[str]:
    return [key["kid"] for key in (await auth.client.get("/jwks.json")).json()["keys"]]


async def test_rotation_keeps_tokens_issued_before_it_valid(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    old_kid, next_kid = await kids(auth)
    assert jwt.decode(tokens["access_token"], await auth.key_set()).header["kid"] == old_kid
    response = await auth.client.post("/api/keys/rotate", headers=await auth.as_admin())
    assert response.status_code == 200
    rotation = response.json()
    assert rotation["kid"] == next_kid  # published before it signs
    assert rotation["published"] == await kids(auth)
    new_next = rotation["published"][1]
    assert rotation["published"] == [next_kid, new_next, old_kid]
    await auth.verify(tokens["access_token"])  # against the new JWKS
    own = await auth.client.get("/api/login", headers=bearer(tokens["access_token"]))
    assert own.status_code == 200
    renewed = (await auth.refresh(tokens["refresh_token"])).json()
    renewed_header = jwt.decode(renewed["access_token"], await auth.key_set()).header
    assert renewed_header["kid"] == next_kid


async def test_a_retired_key_leaves_the_jwks_once_its_tokens_expired(auth: Auth):
    old_kid = (await kids(auth))[0]
    await auth.client.post("/api/keys/rotate", headers=await auth.as_admin())
    auth.clock.advance(600 + 30 - 1)
    assert old_kid in await kids(auth)
    auth.clock.advance(1)
    assert old_kid not in await kids(auth) and len(await kids(auth)) == 2


async def test_rotation_is_kept_across_a_restart(tmp_path):
    settings = make_settings(tmp_path)
    async with running_auth(settings) as auth:
        rotation = (
            await auth.client.post("/api/keys/rotate", headers=await auth.as_admin())
        ).json()
    async with running_auth(settings) as auth:
        token = (await auth.service_token()).json()["access_token"]
        kids = [key["kid"] for key in (await auth.client.get("/jwks.json")).json()["keys"]]
        assert jwt.decode(token, await auth.key_set()).header["kid"] == rotation["kid"]
    assert kids == rotation["published"]


async def test_a_manager_user_may_rotate_keys(auth: Auth):
    profile = await auth.register()
    await auth.make_manager(profile["clientid"])
    tokens = await auth.sign_in()
    response = await auth.client.post("/api/keys/rotate", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200


async def test_rotation_is_refused_without_a_token_and_to_a_plain_user(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    before = await kids(auth)
    anonymous = await auth.client.post("/api/keys/rotate")
    plain = await auth.client.post("/api/keys/rotate", headers=bearer(tokens["access_token"]))
    assert (anonymous.status_code, plain.status_code) == (401, 403)
    assert await kids(auth) == before


# -- revocation and logout -----------------------------------------------------------------------


async def test_revoking_a_refresh_token_ends_its_family(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    response = await auth.client.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": DASHBOARD}
    )
    assert response.status_code == 200
    assert (await auth.refresh(tokens["refresh_token"])).status_code == 400


async def test_revoking_an_unknown_token_answers_200(auth: Auth):
    response = await auth.client.post("/revoke", data={"token": "nothing", "client_id": DASHBOARD})
    assert response.status_code == 200


async def test_another_client_cannot_revoke_a_users_token(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    await auth.client.post(
        "/revoke",
        data={
            "token": tokens["refresh_token"],
            "client_id": "admin",
            "client_secret": ADMIN_SECRET,
        },
    )
    assert (await auth.refresh(tokens["refresh_token"])).status_code == 200


async def test_revocation_needs_client_authentication(auth: Auth):
    response = await auth.client.post("/revoke", data={"token": "x", "client_id": "prosumer"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_logout_revokes_the_sessions_tokens_and_clears_the_cookie(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    response = await auth.client.get("/logout")
    assert response.status_code == 200 and "signed out" in response.text
    assert any(
        "gm_session" in c and "Max-Age=0" in c for c in response.headers.get_list("set-cookie")
    )
    assert (await auth.refresh(tokens["refresh_token"])).status_code == 400
    _, challenge = pkce_pair()
    again = await auth.client.get("/authorize", params=authorize_params(challenge))
    assert again.status_code == 200 and 'name="password"' in again.text


async def test_logout_redirects_only_to_a_registered_uri(auth: Auth):
    registered = await auth.client.get(
        "/logout",
        params={"post_logout_redirect_uri": "http://127.0.0.1:8000/", "state": "s1"},
    )
    unregistered = await auth.client.get(
        "/logout", params={"post_logout_redirect_uri": "https://evil.example/"}
    )
    assert registered.status_code == 303
    assert registered.headers["location"] == "http://127.0.0.1:8000/?state=s1"
    assert unregistered.status_code == 400 and "location" not in unregistered.headers


async def test_logout_with_an_id_token_hint_ends_that_session(auth: Auth):
    await auth.register()
    tokens = await auth.sign_in()
    auth.client.cookies.clear()
    auth.clock.advance(3600)  # the hint may have expired
    response = await auth.client.post("/logout", data={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    assert (await auth.refresh(tokens["refresh_token"])).status_code == 400


async def test_logout_leaves_other_sessions_alone(auth: Auth):
    await auth.register()
    await auth.register("bob")
    bobs = await auth.sign_in("bob")
    auth.client.cookies.clear()
    await auth.sign_in()
    await auth.client.get("/logout")
    assert (await auth.refresh(bobs["refresh_token"])).status_code == 200


# -- userinfo ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_userinfo_answers_the_callers_profile_with_sub(auth: Auth, method: str):
    profile = await auth.register()
    tokens = await auth.sign_in()
    response = await auth.client.request(
        method, "/userinfo", headers=bearer(tokens["access_token"])
    )
    assert response.status_code == 200
    body = response.json()
    assert body["sub"] == profile["clientid"] == body["clientid"]
    assert body["preferred_username"] == "ada" and body["managers"] == []


async def test_userinfo_without_a_token_is_401(auth: Auth):
    response = await auth.client.get("/userinfo")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
