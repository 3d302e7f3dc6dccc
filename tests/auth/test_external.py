"""Signing in with an external OpenID Connect issuer: a fake one on loopback, a browser here.

The browser is an httpx client that keeps cookies: requests to the suite's
issuer (``ISSUER``) go to the app in-process, those to the fake external issuer
over loopback. It starts at the suite's ``/authorize`` as the dashboard would,
and ends at the dashboard's redirect URI with a code.
"""

from __future__ import annotations

import hashlib
import html
import re
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.jwk import ECKey
from pydantic import ValidationError

from services.common.settings import AuthSettings
from tests.auth.conftest import (
    ISSUER,
    PASSWORD,
    REDIRECT_URI,
    Auth,
    authorize_params,
    csrf_token,
    make_settings,
    pkce_pair,
    redirect_query,
    running_auth,
)
from tests.auth.fake_external import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeExternalIssuer,
    serving_on_loopback,
)


@pytest.fixture(scope="module")
def served_issuer() -> Iterator[FakeExternalIssuer]:
    issuer = FakeExternalIssuer()
    with serving_on_loopback(issuer.app) as url:
        issuer.url = url
        yield issuer


@pytest.fixture
def external(served_issuer: FakeExternalIssuer) -> FakeExternalIssuer:
    served_issuer.reset()
    return served_issuer


def external_settings(data_dir: Path, issuer_url: str, **overrides: Any) -> AuthSettings:
    return make_settings(
        data_dir,
        oidc_issuer=issuer_url,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        **overrides,
    )


@pytest.fixture
async def auth(tmp_path: Path, external: FakeExternalIssuer) -> AsyncIterator[Auth]:
    async with running_auth(external_settings(tmp_path, external.url)) as running:
        yield running


@asynccontextmanager
async def browser(auth: Auth) -> AsyncIterator[httpx.AsyncClient]:
    """A browser: the suite's issuer in-process, anything else (the fake) over loopback."""
    transport = httpx.ASGITransport(app=auth.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(base_url=ISSUER, mounts={ISSUER: transport}) as client:
        yield client


def expected_clientid(issuer: str, sub: str) -> str:
    return "ext-" + hashlib.sha256(f"{issuer}|{sub}".encode()).hexdigest()[:32]


def external_link(page: httpx.Response) -> str:
    match = re.search(r'href="(login/external\?[^"]+)"', page.text)
    assert match, page.text
    return "/" + html.unescape(match.group(1))


async def to_external_issuer(client: httpx.AsyncClient) -> tuple[httpx.Response, str]:
    """The dashboard's sign-in, up to the redirect to the external issuer; and the verifier."""
    verifier, challenge = pkce_pair()
    page = await client.get("/authorize", params=authorize_params(challenge))
    assert page.status_code == 200, page.text
    start = await client.get(external_link(page))
    assert start.status_code == 302, start.text
    return start, verifier


async def external_round_trip(client: httpx.AsyncClient) -> tuple[httpx.Response, str]:
    """Out to the external issuer and back: the callback's answer, and the PKCE verifier."""
    start, verifier = await to_external_issuer(client)
    approved = await client.get(start.headers["location"])
    assert approved.status_code == 302, approved.text
    assert approved.headers["location"].startswith(f"{ISSUER}/login/external/callback?")
    return await client.get(approved.headers["location"]), verifier


async def signed_in_subject(auth: Auth) -> str:
    """A whole external sign-in in a fresh browser; the subject of the suite's access token."""
    async with browser(auth) as client:
        answer, verifier = await external_round_trip(client)
    query = redirect_query(answer)
    assert answer.headers["location"].startswith(f"{REDIRECT_URI}?")
    assert query["state"] == "state-123" and query["iss"] == ISSUER
    tokens = await auth.exchange(query["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    decoded = await auth.verify(tokens.json()["access_token"], iss=ISSUER, aud="gridmarket")
    return str(decoded.claims["sub"])


async def external_profiles(auth: Auth) -> list[dict[str, Any]]:
    response = await auth.client.get("/api/profiles", headers=await auth.as_admin())
    assert response.status_code == 200
    return [p for p in response.json() if str(p["clientid"]).startswith("ext-")]


# -- the sign-in ---------------------------------------------------------------------------------


async def test_the_login_page_offers_the_external_issuer(auth: Auth, external):
    _, challenge = pkce_pair()
    page = await auth.client.get("/authorize", params=authorize_params(challenge))
    host = urlsplit(external.url).netloc
    assert f"Sign in with {host}" in page.text
    assert 'name="password"' in page.text  # local accounts still sign in too


async def test_an_external_sign_in_ends_at_the_dashboard_with_a_code_for_the_mapped_profile(
    auth: Auth, external
):
    subject = await signed_in_subject(auth)
    assert subject == expected_clientid(external.url, "00u1ada")
    profile = await auth.client.get(f"/api/profiles/{subject}", headers=await auth.as_admin())
    assert profile.json()["username"] == "ada@example.org"
    assert profile.json()["managers"] == [] and profile.json()["prosumers"] == []


async def test_the_external_issuer_is_asked_for_code_pkce_and_a_nonce(auth: Auth, external):
    async with browser(auth) as client:
        start, _ = await to_external_issuer(client)
    location = start.headers["location"]
    assert location.startswith(f"{external.url}/authorize?")
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["redirect_uri"] == f"{ISSUER}/login/external/callback"
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert query["scope"] == "openid profile email"


async def test_a_second_external_sign_in_maps_to_the_same_profile(auth: Auth, external):
    first = await signed_in_subject(auth)
    second = await signed_in_subject(auth)
    assert first == second
    assert [p["clientid"] for p in await external_profiles(auth)] == [first]


async def test_an_external_sign_in_records_the_login(auth: Auth, external):
    subject = await signed_in_subject(auth)
    auth.clock.advance(3600)
    await signed_in_subject(auth)
    profile = await auth.client.get(f"/api/profiles/{subject}", headers=await auth.as_admin())
    last_login = datetime.fromisoformat(profile.json()["last_login"])
    assert last_login == auth.clock.now()


async def test_another_external_user_gets_another_profile(auth: Auth, external):
    first = await signed_in_subject(auth)
    external.user = {"sub": "00u2bob", "name": "Bob Åström"}
    second = await signed_in_subject(auth)
    assert second == expected_clientid(external.url, "00u2bob") != first
    names = {p["clientid"]: p["username"] for p in await external_profiles(auth)}
    assert names[second] == "Bob_Astrom"


async def test_an_external_username_taken_here_is_numbered(auth: Auth, external):
    await auth.register("ada@example.org")
    subject = await signed_in_subject(auth)
    profile = await auth.client.get(f"/api/profiles/{subject}", headers=await auth.as_admin())
    assert profile.json()["username"] == "ada@example.org-2"


async def test_an_external_users_name_cannot_be_registered_locally(auth: Auth, external):
    await signed_in_subject(auth)
    response = await auth.client.post(
        "/api/register", json={"username": "ADA@example.org", "password": PASSWORD}
    )
    assert response.status_code == 409


async def test_a_deleted_external_user_signs_in_again_as_a_new_profile(auth: Auth, external):
    subject = await signed_in_subject(auth)
    deleted = await auth.client.delete(f"/api/profiles/{subject}", headers=await auth.as_admin())
    assert deleted.status_code == 200
    assert await signed_in_subject(auth) == subject
    assert [p["username"] for p in await external_profiles(auth)] == ["ada@example.org"]


async def test_an_external_user_is_listed_with_the_prosumers_status(auth: Auth, external):
    subject = await signed_in_subject(auth)
    await auth.client.put(
        f"/api/profiles/{subject}",
        json={"username": "ada@example.org", "prosumers": [{"level": 1, "id": "p-1"}]},
        headers=await auth.as_admin(),
    )
    status = await auth.client.get("/api/prosumers/status", headers=await auth.as_admin())
    assert [(row["clientid"], row["online"]) for row in status.json()] == [(subject, True)]


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "claim"),
    [({"aud": "another-client"}, "aud"), ({"nonce": "a-replayed-nonce"}, "nonce")],
    ids=["wrong audience", "wrong nonce"],
)
async def test_a_bad_id_token_is_refused_with_a_page_and_no_profile(
    auth: Auth, external, overrides, claim
):
    external.id_token_overrides = overrides
    async with browser(auth) as client:
        answer, _ = await external_round_trip(client)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "could not be verified" in answer.text and claim in answer.text
    assert "Nobody was signed in" in answer.text
    assert "gm_session" not in answer.cookies
    assert await external_profiles(auth) == []


async def test_an_id_token_signed_by_another_key_is_refused(auth: Auth, external):
    external.forging_key = ECKey.generate_key("P-256", parameters={"kid": external.key.kid})
    async with browser(auth) as client:
        answer, _ = await external_round_trip(client)
    assert answer.status_code == 400 and "could not be verified" in answer.text
    assert await external_profiles(auth) == []


async def test_a_callback_without_a_sign_in_started_in_this_browser_is_refused(auth: Auth):
    async with browser(auth) as client:
        start, _ = await to_external_issuer(client)
        approved = await client.get(start.headers["location"])
    async with browser(auth) as stranger:
        answer = await stranger.get(approved.headers["location"])
    assert answer.status_code == 400
    assert "not started in this browser" in answer.text
    assert await external_profiles(auth) == []


async def test_a_refusal_by_the_external_issuer_is_shown(auth: Auth):
    async with browser(auth) as client:
        start, _ = await to_external_issuer(client)
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        answer = await client.get(
            "/login/external/callback",
            params={"error": "access_denied", "error_description": "not today", "state": state},
        )
    assert answer.status_code == 400
    assert "access_denied" in answer.text and "not today" in answer.text


async def test_an_external_sign_in_needs_a_valid_authorization_request(auth: Auth):
    async with browser(auth) as client:
        answer = await client.get("/login/external", params={"client_id": "stranger"})
    assert answer.status_code == 400 and "unknown client" in answer.text


async def test_an_unreachable_external_issuer_is_a_page_not_a_crash(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with running_auth(external_settings(tmp_path, closed)) as auth:
        async with browser(auth) as client:
            _, challenge = pkce_pair()
            answer = await client.get("/login/external", params=authorize_params(challenge))
    assert answer.status_code == 502 and "cannot be reached" in answer.text


# -- oidc_only, and no external issuer -----------------------------------------------------------


@pytest.fixture
async def external_only(tmp_path: Path, external: FakeExternalIssuer) -> AsyncIterator[Auth]:
    settings = external_settings(tmp_path, external.url, oidc_only=True)
    async with running_auth(settings) as running:
        yield running


async def test_oidc_only_goes_straight_to_the_external_issuer(external_only: Auth, external):
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    answer = await external_only.client.get("/authorize", params=params)
    location = answer.headers["location"]
    assert answer.status_code == 303 and location.startswith(f"{ISSUER}/login/external?")
    assert parse_qs(urlsplit(location).query)["code_challenge"] == [challenge]


async def test_oidc_only_still_signs_in_through_the_external_issuer(external_only: Auth, external):
    verifier, challenge = pkce_pair()
    async with browser(external_only) as client:
        answer = await client.get("/authorize", params=authorize_params(challenge))
        while answer.status_code in (302, 303) and not answer.headers["location"].startswith(
            REDIRECT_URI
        ):
            answer = await client.get(answer.headers["location"])
    tokens = await external_only.exchange(redirect_query(answer)["code"], verifier)
    assert tokens.status_code == 200, tokens.text


async def test_oidc_only_refuses_local_passwords_and_registration(external_only: Auth):
    response = await external_only.client.post(
        "/api/register", json={"username": "ada", "password": PASSWORD}
    )
    assert response.status_code == 403
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    page = await external_only.client.get("/register")
    form = {**params, "csrf_token": csrf_token(page), "username": "ada", "password": PASSWORD}
    login = await external_only.client.post("/authorize", data=form)
    assert login.status_code == 403 and "external issuer" in login.text


async def test_without_an_external_issuer_there_is_no_external_sign_in(tmp_path):
    async with running_auth(make_settings(tmp_path)) as auth:
        _, challenge = pkce_pair()
        page = await auth.client.get("/authorize", params=authorize_params(challenge))
        assert "Sign in with" not in page.text
        for path in ("/login/external", "/login/external/callback"):
            answer = await auth.client.get(path, params=authorize_params(challenge))
            assert answer.status_code == 404 and "No external issuer" in answer.text


# -- settings ------------------------------------------------------------------------------------


def test_an_external_issuer_needs_its_client_id_and_secret(tmp_path):
    with pytest.raises(ValidationError, match="oidc_client_id and oidc_client_secret"):
        make_settings(tmp_path, oidc_issuer="https://id.example.org")


def test_oidc_only_needs_an_external_issuer(tmp_path):
    with pytest.raises(ValidationError, match="oidc_only needs oidc_issuer"):
        make_settings(tmp_path, oidc_only=True)


def test_the_external_scopes_must_include_openid(tmp_path):
    with pytest.raises(ValidationError, match="openid"):
        external_settings(tmp_path, "https://id.example.org", oidc_scopes="profile email")


def test_an_external_issuer_over_plain_http_is_refused_in_production(tmp_path):
    with pytest.raises(ValidationError, match="https"):
        AuthSettings(
            data_dir=tmp_path,
            environment="production",
            secret_key="not-the-default-secret",
            client_secret="not-the-default-client-secret",
            service_clients={"admin": {"secret": "a-long-enough-secret", "scopes": ["admin"]}},
            oidc_issuer="http://id.example.org",
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
        )


def test_the_external_issuer_is_read_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTH_OIDC_ISSUER", "https://dev-1.okta.com/oauth2/default/")
    monkeypatch.setenv("AUTH_OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AUTH_OIDC_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("AUTH_OIDC_SCOPES", "openid email")
    settings = AuthSettings(data_dir=tmp_path)
    assert settings.oidc_issuer == "https://dev-1.okta.com/oauth2/default"
    assert settings.oidc_scopes == "openid email" and settings.oidc_only is False
