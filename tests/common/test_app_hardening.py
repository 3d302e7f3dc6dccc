"""Every service app: CORS for the dashboard only, security headers on every response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query

from services.common.app import (
    API_CONTENT_SECURITY_POLICY,
    DOCS_CONTENT_SECURITY_POLICY,
    create_service_app,
)
from services.common.settings import ManagerSettings
from tests.conftest import serving

DASHBOARD = "http://127.0.0.1:8000"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": API_CONTENT_SECURITY_POLICY,
    "cross-origin-resource-policy": "same-site",
}


def make_app(**kwargs: Any) -> FastAPI:
    router = APIRouter()

    @router.get("/things")
    async def things(limit: Annotated[int, Query(ge=1)] = 10) -> dict[str, int]:
        return {"limit": limit}

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("bug")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = SimpleNamespace(verifier=None)
        yield

    return create_service_app(
        title="t", description="t", lifespan=lifespan, routers=[router], **kwargs
    )


@asynccontextmanager
async def client_of(**kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(make_app(**kwargs)) as client:
        yield client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(settings=ManagerSettings()) as client:
        yield client


def assert_hardened(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert "strict-transport-security" not in response.headers


@pytest.mark.parametrize(
    ("path", "status"),
    [("/things", 200), ("/nowhere", 404), ("/things?limit=0", 422), ("/crash", 500)],
)
async def test_every_response_carries_the_security_headers(client, path, status):
    response = await client.get(path)
    assert response.status_code == status
    assert_hardened(response)


async def test_a_method_not_allowed_carries_them_too(client):
    response = await client.delete("/things")
    assert response.status_code == 405
    assert_hardened(response)


async def test_hsts_is_sent_only_in_production():
    settings = ManagerSettings(
        environment="production", secret_key="real", client_secret="registered"
    )
    async with client_of(settings=settings) as client:
        response = await client.get("/things")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_a_service_rendering_html_sets_its_own_policy():
    policy = "default-src 'self'; frame-ancestors 'none'"
    async with client_of(content_security_policy=policy) as client:
        response = await client.get("/things")
    assert response.headers["content-security-policy"] == policy


async def test_the_docs_pages_may_load_their_scripts(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == DOCS_CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"


async def test_without_settings_the_dashboard_origins_are_allowed():
    async with client_of() as client:
        response = await client.get("/things", headers={"Origin": DASHBOARD})
    assert response.headers["access-control-allow-origin"] == DASHBOARD
    assert_hardened(response)


def preflight(origin: str, method: str = "POST", headers: str = "authorization") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


@pytest.mark.parametrize("origin", [DASHBOARD, "http://localhost:8000"])
async def test_a_preflight_from_the_dashboard_is_allowed(client, origin):
    response = await client.options("/things", headers=preflight(origin))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert_hardened(response)


async def test_a_stream_reconnecting_with_its_last_event_id_is_allowed(client):
    headers = preflight(DASHBOARD, "GET", "authorization, last-event-id")
    response = await client.options("/things", headers=headers)
    assert response.status_code == 200
    assert "Last-Event-ID" in response.headers["access-control-allow-headers"]


async def test_a_preflight_from_another_origin_is_refused(client):
    response = await client.options("/things", headers=preflight("https://evil.example"))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    assert_hardened(response)


async def test_a_preflight_for_another_method_is_refused(client):
    response = await client.options("/things", headers=preflight(DASHBOARD, method="PATCH"))
    assert response.status_code == 400


async def test_a_simple_request_from_another_origin_gets_no_cors_grant(client):
    response = await client.get("/things", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_the_configured_origins_replace_the_defaults():
    settings = ManagerSettings(cors_origins=["https://grid.example.org"])
    async with client_of(settings=settings) as client:
        allowed = await client.options("/things", headers=preflight("https://grid.example.org"))
        refused = await client.options("/things", headers=preflight(DASHBOARD))
    assert allowed.status_code == 200 and refused.status_code == 400
