"""The one error shape, and settings with per-service prefixes."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field, ValidationError

from services.common.errors import ConflictError, NotFoundError, install_error_handlers
from services.common.settings import ManagerSettings, ProsumerSettings


class Thing(BaseModel):
    ratio: float = Field(ge=0, le=1)


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/missing")
    async def missing() -> None:
        raise NotFoundError("no member 'x'")

    @app.post("/things")
    async def create(thing: Thing) -> Thing:
        raise ConflictError("member 'x' exists")

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("bug")

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_not_found_is_404_with_error_and_detail(client):
    response = await client.get("/missing")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "no member 'x'"}


async def test_conflict_is_409(client):
    response = await client.post("/things", json={"ratio": 0.5})
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


async def test_wrong_types_are_422_naming_the_field(client):
    response = await client.post("/things", json={"ratio": 2})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["detail"][0]["field"] == "ratio"


async def test_malformed_json_is_422_not_500(client):
    response = await client.post(
        "/things", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


async def test_unknown_route_is_404_in_the_same_shape(client):
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_a_bug_is_a_500_without_internals(client):
    response = await client.get("/crash")
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "detail": "internal server error"}


def test_settings_read_their_own_prefix_and_shared_variables(monkeypatch):
    monkeypatch.setenv("MANAGER_PORT", "9100")
    monkeypatch.setenv("NAME", "north")
    monkeypatch.setenv("PROSUMER_NAME", "south")
    monkeypatch.setenv("MONGODB_URI", "mongodb://db:27017")
    manager, prosumer = ManagerSettings(), ProsumerSettings()
    assert manager.listen_port == 9100 and prosumer.listen_port == 8003
    assert manager.name == "north" and prosumer.name == "south"
    assert manager.mongodb_uri is not None
    assert manager.mongodb_uri.get_secret_value() == "mongodb://db:27017"
    assert manager.sqlite_path.name == "manager-north.sqlite3"


def test_production_mode_refuses_the_default_secret(monkeypatch):
    monkeypatch.setenv("MANAGER_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="secret_key must be set"):
        ManagerSettings()
    monkeypatch.setenv("MANAGER_SECRET_KEY", "a-real-secret-from-the-vault")
    monkeypatch.setenv("MANAGER_CLIENT_SECRET", "registered-at-the-issuer")
    assert ManagerSettings().environment == "production"


def test_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv("MANAGER_SPEED", "-3")
    with pytest.raises(ValidationError):
        ManagerSettings()
