"""An auth app served in-process with a fake clock, and the steps of a sign-in as helpers."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import KeySet

from services.auth.main import create_app
from services.common.clock import FakeClock
from services.common.settings import AuthSettings
from tests.conftest import serving

NOW = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
ISSUER = "http://127.0.0.1:8001"
DASHBOARD = "gridmarket-dashboard"
REDIRECT_URI = "http://127.0.0.1:8000/callback"
PASSWORD = "correct horse battery"
ADMIN_SECRET = "an-admin-secret-for-tests"
PROSUMER_SECRET = "a-prosumer-secret-for-tests"
SERVICE_CLIENTS = {
    "prosumer": {"secret": PROSUMER_SECRET, "scopes": ["grid.push"]},
    "market": {"secret": "a-market-secret-for-tests", "scopes": ["grid.poll"]},
    "admin": {"secret": ADMIN_SECRET, "scopes": ["admin"]},
}
CHEAP_HASHING = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 8,
    "password_hash_parallelism": 1,
}


def make_profile(**overrides: Any) -> dict[str, Any]:
    """A profile as ``POST /api/login`` takes it."""
    profile: dict[str, Any] = {
        "username": "Ada",
        "clientid": "ada",
        "managers": [{"level": 2, "access": "control", "id": "coal-1"}],
        "prosumers": [{"level": 1, "id": "p-7"}],
        "consumers": ["c-1", "c-2"],
    }
    profile.update(overrides)
    return profile


def make_settings(data_dir: Path, **overrides: Any) -> AuthSettings:
    """Development settings with cheap password hashing (tests hash many passwords)."""
    fields: dict[str, Any] = {"data_dir": data_dir, "service_clients": SERVICE_CLIENTS}
    fields |= CHEAP_HASHING
    fields |= overrides
    return AuthSettings(**fields)


def production_settings(data_dir: Path, **overrides: Any) -> AuthSettings:
    return AuthSettings(
        data_dir=data_dir,
        environment="production",
        secret_key="not-the-default-secret",
        client_secret="not-the-default-client-secret",
        service_clients=SERVICE_CLIENTS,
        **overrides,
    )


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(challenge: str, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "response_type": "code",
        "client_id": DASHBOARD,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile gridmarket",
        "state": "state-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "nonce": "nonce-456",
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


def redirect_query(response: httpx.Response) -> dict[str, str]:
    """The query parameters of a redirect's Location, one value each."""
    assert response.status_code == 303, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {key: values[0] for key, values in query.items()}


def csrf_token(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Auth:
    client: httpx.AsyncClient
    clock: FakeClock
    app: FastAPI

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    async def create(self, **overrides: Any) -> dict[str, Any]:
        """A profile without an account, through the development-only ``POST /api/login``."""
        response = await self.client.post("/api/login", json=make_profile(**overrides))
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def register(self, username: str = "ada", password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post(
            "/api/register", json={"username": username, "password": password}
        )
        assert response.status_code == 201, response.text
        profile: dict[str, Any] = response.json()
        return profile

    async def submit_login(
        self, params: dict[str, Any], username: str = "ada", password: str = PASSWORD
    ) -> httpx.Response:
        """GET the login page, then POST its form with these credentials."""
        page = await self.client.get("/authorize", params=params)
        assert page.status_code == 200, page.text
        form = {**params, "csrf_token": csrf_token(page)}
        form |= {"username": username, "password": password}
        return await self.client.post("/authorize", data=form)

    async def code(
        self, username: str = "ada", password: str = PASSWORD, **overrides: Any
    ) -> tuple[str, str]:
        """A fresh sign-in (no login cookie) up to the code: answers (code, verifier)."""
        self.client.cookies.clear()
        verifier, challenge = pkce_pair()
        response = await self.submit_login(
            authorize_params(challenge, **overrides), username, password
        )
        query = redirect_query(response)
        assert "code" in query, query
        return query["code"], verifier

    async def exchange(self, code: str, verifier: str, /, **overrides: Any) -> httpx.Response:
        """Exchange a code at /token; an override of None leaves the field out."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": DASHBOARD,
            "code_verifier": verifier,
        }
        form |= overrides
        data = {key: value for key, value in form.items() if value is not None}
        return await self.client.post("/token", data=data)

    async def sign_in(self, username: str = "ada", password: str = PASSWORD) -> dict[str, Any]:
        """The whole code flow: the token response."""
        code, verifier = await self.code(username, password)
        response = await self.exchange(code, verifier)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.client.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": DASHBOARD,
            },
        )

    async def service_token(
        self, client_id: str = "prosumer", secret: str = PROSUMER_SECRET, **extra: str
    ) -> httpx.Response:
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **extra,
        }
        return await self.client.post("/token", data=form)

    async def admin_token(self) -> str:
        response = await self.service_token("admin", ADMIN_SECRET)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def as_admin(self) -> dict[str, str]:
        """Headers of an admin client's request."""
        return bearer(await self.admin_token())

    async def make_manager(self, clientid: str, username: str = "ada") -> None:
        """Give a user a manager privilege at level 2, as an admin client."""
        response = await self.client.put(
            f"/api/profiles/{clientid}",
            json={"username": username, "managers": [{"level": 2, "id": "coal-1"}]},
            headers=await self.as_admin(),
        )
        assert response.status_code == 200, response.text

    async def key_set(self) -> KeySet:
        response = await self.client.get("/jwks.json")
        assert response.status_code == 200
        return KeySet.import_key_set(response.json())

    async def verify(self, token: str, **expected: Any) -> jwt.Token:
        """The token, checked as a resource server would, against the published JWKS."""
        decoded = jwt.decode(token, await self.key_set(), algorithms=["ES256"])
        claims = {name: {"essential": True, "value": value} for name, value in expected.items()}
        jwt.JWTClaimsRegistry(now=self.now(), leeway=30, **claims).validate(decoded.claims)
        return decoded


@asynccontextmanager
async def running_auth(
    settings: AuthSettings, clock: FakeClock | None = None
) -> AsyncIterator[Auth]:
    clock = clock or FakeClock(NOW)
    app = create_app(settings, clock=clock)
    async with serving(app) as client:
        yield Auth(client, clock, app)


@pytest.fixture
async def auth(tmp_path: Path) -> AsyncIterator[Auth]:
    async with running_auth(make_settings(tmp_path)) as running:
        yield running


@pytest.fixture
async def production(tmp_path: Path) -> AsyncIterator[Auth]:
    """The auth app in production mode, with one profile ('ada') already stored."""
    async with running_auth(make_settings(tmp_path)) as running:
        await running.create()
    async with running_auth(production_settings(tmp_path)) as running:
        yield running
