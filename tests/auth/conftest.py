"""An auth app served in-process with a fake clock, and a profile builder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.auth.main import create_app
from services.common.clock import FakeClock
from services.common.settings import AuthSettings
from tests.conftest import serving

NOW = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


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
    return AuthSettings(data_dir=data_dir, **overrides)


@dataclass
class Auth:
    client: httpx.AsyncClient
    clock: FakeClock

    async def create(self, **overrides: Any) -> dict[str, Any]:
        response = await self.client.post("/api/login", json=make_profile(**overrides))
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@asynccontextmanager
async def running_auth(settings: AuthSettings) -> AsyncIterator[Auth]:
    clock = FakeClock(NOW)
    async with serving(create_app(settings, clock=clock)) as client:
        yield Auth(client, clock)


@pytest.fixture
async def auth(tmp_path: Path) -> AsyncIterator[Auth]:
    async with running_auth(make_settings(tmp_path)) as running:
        yield running


@pytest.fixture
async def production(tmp_path: Path) -> AsyncIterator[Auth]:
    """The auth app in production mode, with one profile ('ada') already stored."""
    async with running_auth(make_settings(tmp_path)) as running:
        await running.create()
    settings = make_settings(tmp_path, environment="production", secret_key="not-the-default")
    async with running_auth(settings) as running:
        yield running
