"""A manager on a fake clock, pushing to an in-process fake simulation cell."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from services.common.clock import FakeClock
from services.common.contracts import PlantAcceptance, PlantPush, PlantPushAnswer
from services.common.settings import ManagerSettings
from services.manager.main import create_app
from services.manager.service import ManagerService
from tests.conftest import serving

START = datetime(2026, 1, 15, 12, 0)


def make_plant(**overrides: Any) -> dict[str, Any]:
    """A creation payload: a 1 MW plant that starts in 10 s and ramps 10 % a second."""
    return {
        "id": "p1",
        "maxProduction": 1000.0,
        "startup_seconds": 10.0,
        "ramp_per_second": 0.1,
        **overrides,
    }


def make_settings(data_dir: Path, **overrides: Any) -> ManagerSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "tick_seconds": 3600,
        "simulation_urls": ["http://cell-a"],
        **overrides,
    }
    return ManagerSettings(**values)


class FakeCell:
    """A simulation cell that records every push and accepts what it is told to."""

    def __init__(self) -> None:
        self.pushes: list[tuple[str, PlantPush]] = []
        self.accepted: dict[str, PlantAcceptance] = {}
        self.app = FastAPI()

        @self.app.post("/api/members/managers/bulk")
        async def bulk(push: PlantPush, request: Request) -> PlantPushAnswer:
            self.pushes.append((request.headers["host"], push))
            return PlantPushAnswer(time=push.time, accepted=self.accepted, price_sek_per_kwh=1.2)

    def accept(self, plant_id: str, *, plant_kw: float = 0.0, buffer_kw: float = 0.0) -> None:
        self.accepted[plant_id] = PlantAcceptance(plant_kw=plant_kw, buffer_kw=buffer_kw)

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.app)


def unreachable() -> httpx.AsyncBaseTransport:
    """A transport for cells that are down."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return httpx.MockTransport(refuse)


@dataclass
class Manager:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock
    cell: FakeCell = field(default_factory=FakeCell)

    @property
    def service(self) -> ManagerService:
        service: ManagerService = self.app.state.service
        return service

    async def tick(self, seconds: float) -> None:
        """Move simulated time on and run one tick."""
        self.clock.advance(seconds)
        await self.service.tick()

    async def create(self, **overrides: Any) -> dict[str, Any]:
        response = await self.client.post("/api/members", json=make_plant(**overrides))
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def plant(self, plant_id: str = "p1") -> dict[str, Any]:
        response = await self.client.get(f"/api/members/{plant_id}")
        assert response.status_code == 200, response.text
        plant: dict[str, Any] = response.json()
        return plant

    async def use_transport(self, transport: httpx.AsyncBaseTransport) -> None:
        """Send the manager's peer calls through ``transport``."""
        runtime = self.app.state.runtime
        await runtime.http.aclose()
        runtime.http = httpx.AsyncClient(transport=transport)


@asynccontextmanager
async def running_manager(
    settings: ManagerSettings, clock: FakeClock, cell: FakeCell | None = None
) -> AsyncIterator[Manager]:
    """A manager app with its lifespan run, its cells served by ``cell``."""
    cell = cell or FakeCell()
    app = create_app(settings, clock=clock)
    async with serving(app) as client:
        manager = Manager(app, client, clock, cell)
        await manager.use_transport(cell.transport())
        # The tick loop ticks once as it starts; with the clock not yet moved that tick does
        # nothing, and waiting for it keeps it from taking a step a test means to take.
        loop = app.state.runtime.loop
        for _ in range(1000):
            if loop.stats.ticks:
                break
            await asyncio.sleep(0)
        assert loop.stats.ticks == 1
        yield manager


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def manager(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Manager]:
    async with running_manager(make_settings(tmp_path), clock) as running:
        yield running
