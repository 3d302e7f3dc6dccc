"""Every mutating route of every service, read from the apps' own OpenAPI, refuses strangers.

For each POST, PUT and DELETE a service publishes: no token is a 401; an
expired, wrong-audience, forged (signed by another key, claiming to be a
manager) or unsigned token is a 401; a valid token without the privilege is a
403; and in none of these cases does anything stored change. A route added
later is covered without a new test; one meant to be open must be named in
``OPEN`` with the reason.
"""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import GenerationMode

from services.common.security import derive_client_secret
from services.common.settings import (
    DEFAULT_SECRET,
    AuthSettings,
    ManagerSettings,
    MarketSettings,
    ProsumerSettings,
    ServiceSettings,
    SimulationSettings,
    WeatherSettings,
)
from services.serve import SERVICES
from tests.common.fake_issuer import FakeIssuer, ManualClock
from tests.conftest import serving

SETTINGS: dict[str, type[ServiceSettings]] = {
    "auth": AuthSettings,
    "manager": ManagerSettings,
    "prosumer": ProsumerSettings,
    "market": MarketSettings,
    "simulation": SimulationSettings,
    "weather": WeatherSettings,
}

OPEN = {
    ("auth", "POST", "/token"): "the token endpoint authenticates clients itself",
    ("auth", "POST", "/authorize"): "the login form: credentials, not a token",
    ("auth", "POST", "/register"): "anyone may register; a new profile has no privilege",
    ("auth", "POST", "/api/register"): "the same, as JSON",
    ("auth", "POST", "/revoke"): "RFC 7009: the refresh token is the credential",
    ("auth", "POST", "/logout"): "ends the caller's own session (cookie or id_token_hint)",
    ("auth", "GET", "/logout"): "the same",
    ("auth", "POST", "/userinfo"): "checks the bearer token itself",
    ("auth", "POST", "/api/login"): "the original's direct creation: development mode only",
    ("weather", "POST", "/api/weather/batch"): "a read of public data, by POST for its size",
}
SELF = {
    ("auth", "POST", "/api/account/password"),
    ("auth", "DELETE", "/api/account"),
}
"""Routes any signed-in user may call on their own account: a service token is the stranger."""

MUTATING = ("POST", "PUT", "DELETE")


def mutating_routes() -> list[tuple[str, str, str]]:
    routes = []
    for service in SERVICES:
        app = __import__(f"services.{service}.main", fromlist=["create_app"]).create_app(
            SETTINGS[service]()
        )
        for path, methods in app.openapi()["paths"].items():
            for method in methods:
                key = (service, method.upper(), path)
                if key[1] in MUTATING and key not in OPEN:
                    routes.append(key)
    return routes


ROUTES = mutating_routes()


def stored_rows(path: Path) -> list[tuple[Any, ...]]:
    """Everything the service has stored, in a fixed order."""
    with sqlite3.connect(path) as db:
        documents = db.execute("SELECT collection, id, body FROM documents ORDER BY 1, 2")
        series = db.execute("SELECT series, t, body FROM series ORDER BY 1, 2, rowid")
        return [*documents.fetchall(), *series.fetchall()]


def example_request(app: Any, method: str, path: str) -> dict[str, Any]:
    """A request the route's schema accepts, so that only the credentials are wrong."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    operation = schema[path][method.upper()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = operation.as_strategy(generation_mode=GenerationMode.POSITIVE).example()
    url = path
    for name, value in (case.path_parameters or {}).items():
        url = url.replace("{" + name + "}", httpx.URL(f"/{value}").raw_path.decode()[1:])
    request: dict[str, Any] = {"url": url, "params": case.query or None}
    body = case.body
    if not isinstance(body, schemathesis.core.NotSet):
        if case.media_type == "application/x-www-form-urlencoded":
            request["data"] = body
        else:
            request["json"] = body
    return request


@asynccontextmanager
async def running(service: str, tmp_path: Path, issuer: FakeIssuer) -> AsyncIterator[Any]:
    settings = SETTINGS[service](data_dir=tmp_path, tick_seconds=3600, name="access")
    app = __import__(f"services.{service}.main", fromlist=["create_app"]).create_app(settings)
    async with serving(app) as client:
        if service != "auth":  # auth checks tokens with its own keys
            app.state.runtime.verifier = issuer.verifier()
        yield app, client, settings.sqlite_path


async def stranger_token(service: str, client: httpx.AsyncClient, issuer: FakeIssuer) -> str:
    """A valid token that holds no privilege over anything."""
    if service != "auth":
        return issuer.user_token("nobody")
    response = await client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "market",
            "client_secret": derive_client_secret(DEFAULT_SECRET, "market"),
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bad_tokens(issuer: FakeIssuer, clock: ManualClock) -> dict[str, str]:
    now = clock()
    manager = {"managers": ["coal-1"], "prosumers": ["house-01"]}
    return {
        "expired": issuer.user_token("ada", iat=int(now) - 7200, exp=int(now) - 3600, **manager),
        "wrong audience": issuer.user_token("ada", aud="another-api", **manager),
        "forged": issuer.sign(issuer.user_claims("ada", **manager), key=issuer.stranger_key()),
        "unsigned": issuer.unsigned(issuer.user_claims("ada", **manager)),
    }


@pytest.mark.parametrize(("service", "method", "path"), ROUTES, ids=[" ".join(r) for r in ROUTES])
async def test_strangers_are_refused_and_change_nothing(
    tmp_path: Path, service: str, method: str, path: str
) -> None:
    clock = ManualClock()
    issuer = FakeIssuer(clock=clock)
    async with running(service, tmp_path, issuer) as (app, client, database):
        request = example_request(app, method, path)
        stranger = await stranger_token(service, client, issuer)
        before = stored_rows(database)

        response = await client.request(method, **request)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")

        for reason, token in bad_tokens(issuer, clock).items():
            headers = {"Authorization": f"Bearer {token}"}
            response = await client.request(method, headers=headers, **request)
            assert response.status_code == 401, f"{reason}: {response.text}"

        headers = {"Authorization": f"Bearer {stranger}"}
        response = await client.request(method, headers=headers, **request)
        assert response.status_code == 403, response.text

        assert stored_rows(database) == before
