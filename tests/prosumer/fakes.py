"""Builders and fake peers for the prosumer tests.

The weather service and the simulation cells are small FastAPI apps that
speak the shared contracts; ``HostRoutes`` sends the prosumer service's
requests to them by host name, and refuses to connect to a host marked down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from services.common.clock import FakeClock
from services.common.contracts import (
    ProsumerPush,
    ProsumerPushAnswer,
    WeatherBatch,
    WeatherBatchRequest,
    WeatherReading,
)
from services.common.settings import ProsumerSettings
from services.prosumer.main import create_app
from services.prosumer.service import ProsumerService
from tests.conftest import serving

WEATHER_URL = "http://weather.test"
CELL_URLS = ("http://cell-a.test", "http://cell-b.test")
START = datetime(2026, 1, 15, 12, 0)


def make_battery(**overrides: Any) -> dict[str, Any]:
    return {"capacity": 10.0, "maxOutput": 5.0, "maxCharge": 5.0, **overrides}


def make_prosumer(**overrides: Any) -> dict[str, Any]:
    """A house with one 5 kW turbine and one 10 kWh battery, half full."""
    return {
        "turbines": [5.0],
        "batteries": [make_battery(current=5.0)],
        "input_ratio": 0.5,
        "output_ratio": 0.5,
        **overrides,
    }


def make_settings(data_dir: Path, **overrides: Any) -> ProsumerSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "tick_seconds": 3600,
        "weather_url": WEATHER_URL,
        "simulation_urls": list(CELL_URLS),
        **overrides,
    }
    return ProsumerSettings(**values)


class FakeWeather:
    """``POST /api/weather/batch`` answering the same wind and temperature everywhere."""

    def __init__(self) -> None:
        self.wind_speed_ms = 8.0
        self.temperature_c = 0.0
        self.requests: list[WeatherBatchRequest] = []
        self.app = FastAPI()
        self.app.post("/api/weather/batch")(self.batch)

    async def batch(self, request: WeatherBatchRequest) -> WeatherBatch:
        self.requests.append(request)
        return WeatherBatch(
            readings=[
                WeatherReading(
                    lat=location.lat,
                    lon=location.lon,
                    wind_speed_ms=self.wind_speed_ms,
                    wind_direction_deg=180.0,
                    temperature_c=self.temperature_c,
                    time=datetime.now(UTC),
                    source="synthetic",
                    stale=False,
                )
                for location in request.locations
            ]
        )


class FakeCell:
    """``POST /api/members/prosumers/bulk`` recording each push and giving a set answer."""

    def __init__(self) -> None:
        self.answer = ProsumerPushAnswer(
            time=None, sold_fraction=1.0, blackout=[], price_sek_per_kwh=0.8
        )
        self.pushes: list[ProsumerPush] = []
        self.app = FastAPI()
        self.app.post("/api/members/prosumers/bulk")(self.bulk)

    async def bulk(self, push: ProsumerPush) -> ProsumerPushAnswer:
        self.pushes.append(push)
        return self.answer

    def last(self, member_id: str) -> Any:
        """The member's state in the latest push."""
        return next(state for state in self.pushes[-1].members.rows() if state.id == member_id)


class HostRoutes(httpx.AsyncBaseTransport):
    """Route requests to in-process apps by host; hosts in ``down`` refuse connections."""

    def __init__(self, apps: Mapping[str, Any]) -> None:
        self.transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}
        self.down: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.down or host not in self.transports:
            raise httpx.ConnectError(f"{host} refused the connection", request=request)
        return await self.transports[host].handle_async_request(request)


@dataclass
class Peers:
    weather: FakeWeather = field(default_factory=FakeWeather)
    cells: dict[str, FakeCell] = field(
        default_factory=lambda: {httpx.URL(url).host: FakeCell() for url in CELL_URLS}
    )

    def __post_init__(self) -> None:
        apps = {httpx.URL(WEATHER_URL).host: self.weather.app}
        apps |= {host: cell.app for host, cell in self.cells.items()}
        self.routes = HostRoutes(apps)

    @property
    def cell(self) -> FakeCell:
        """The first cell."""
        return next(iter(self.cells.values()))

    def take_down(self, url: str) -> None:
        self.routes.down.add(httpx.URL(url).host)

    def bring_up(self, url: str) -> None:
        self.routes.down.discard(httpx.URL(url).host)


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock
    peers: Peers
    wall_s: float = 1_800_000_000.0
    """The service's wall clock (unix seconds), moved by the tests."""

    @property
    def service(self) -> ProsumerService:
        service: ProsumerService = self.app.state.service
        return service

    async def tick(self, seconds: float = 60.0) -> None:
        """Move simulated time on and run one tick."""
        self.clock.advance(seconds)
        await self.service.tick()

    async def create(self, **overrides: Any) -> dict[str, Any]:
        response = await self.client.post("/api/members", json=make_prosumer(**overrides))
        assert response.status_code == 201, response.text
        member: dict[str, Any] = response.json()
        return member

    async def member(self, member_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/members/{member_id}")
        assert response.status_code == 200, response.text
        member: dict[str, Any] = response.json()
        return member


@asynccontextmanager
async def running_prosumer(
    data_dir: Path, peers: Peers | None = None, **settings: Any
) -> AsyncIterator[Harness]:
    """The prosumer app with its lifespan run, fake peers, a fake clock and no tick loop.

    The tick loop would tick once at start-up; it is stopped so that the tests
    decide when ticks happen.
    """
    peers = peers or Peers()
    clock = FakeClock(START)
    app = create_app(make_settings(data_dir, **settings), clock=clock)
    async with serving(app) as client:
        runtime = app.state.runtime
        await runtime.loop.stop()
        harness = Harness(app=app, client=client, clock=clock, peers=peers)
        app.state.service.wall_time = lambda: harness.wall_s
        async with httpx.AsyncClient(transport=peers.routes) as http:
            runtime.http = http
            yield harness
