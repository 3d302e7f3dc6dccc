"""A simulation cell on a fake clock and a fake wall clock, with a fake weather peer.

The cell trusts a fake identity issuer; its test client calls with a manager's
token unless a request says otherwise, and pushes go with a ``grid.push`` token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from services.common.clock import FakeClock
from services.common.security import PUSH_SCOPE
from services.common.settings import SimulationSettings
from services.simulation.main import create_app
from services.simulation.service import SimulationService
from tests.common.fake_issuer import FakeIssuer
from tests.conftest import serving

START = datetime(2026, 1, 15, 18, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
WEATHER_URL = "http://weather.test"
WALL_START_S = 1_800_000_000.0
STALE_AFTER_S = 10.0


def make_settings(data_dir: Path, **overrides: Any) -> SimulationSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "tick_seconds": 3600,
        "checkpoint_seconds": 3600,
        "stale_after_seconds": STALE_AFTER_S,
        "weather_url": WEATHER_URL,
        "name": "cell-a",
        **overrides,
    }
    return SimulationSettings(**values)


def make_consumer(**overrides: Any) -> dict[str, Any]:
    """A cluster of 10 households with a flat day (so demand hardly depends on the hour)."""
    return {"id": "c1", "timefn": [0.5] * 24, "households": 10, **overrides}


def make_prosumer_state(**overrides: Any) -> dict[str, Any]:
    """One prosumer's pushed tick: 3 kW from the turbine, 1 kW used, 2 kW offered."""
    return {
        "id": "p1",
        "production_kw": 3.0,
        "load_kw": 1.0,
        "battery_charge_kw": 0.0,
        "battery_discharge_kw": 0.0,
        "offered_kw": 2.0,
        "requested_kw": 0.0,
        "curtailed_kw": 0.0,
        "stored_kwh": 5.0,
        "capacity_kwh": 10.0,
        "status": True,
        "source": "own",
        **overrides,
    }


def make_plant_state(**overrides: Any) -> dict[str, Any]:
    """One plant's pushed tick: 100 kW produced and offered at 1.0 SEK/kWh."""
    return {
        "id": "coal-1",
        "state": "running",
        "status": True,
        "ratio": 0.5,
        "production_kw": 100.0,
        "max_production_kw": 200.0,
        "offered_kw": 100.0,
        "buffer_charge_kw": 0.0,
        "buffer_offer_kw": 0.0,
        "buffer_stored_kwh": 0.0,
        "buffer_capacity_kwh": 0.0,
        "marginal_cost_sek_per_kwh": 1.0,
        "co2_kg_per_h": 85.0,
        "co2_total_kg": 10.0,
        **overrides,
    }


def make_legacy_prosumer(**overrides: Any) -> dict[str, Any]:
    """The original's prosumer registration: production, battery capacity and charge."""
    return {
        "id": "p1",
        "totalProduction": 4.0,
        "totalCapacity": 10.0,
        "currentCapacity": 2.5,
        "name": "prosumers-a",
        "status": True,
        **overrides,
    }


def make_legacy_manager(**overrides: Any) -> dict[str, Any]:
    """The original's manager registration, with its misspelt maximum."""
    return {"id": "m1", "current": 50.0, "maxProduciton": 100.0, "status": True, **overrides}


def make_push(*members: dict[str, Any], source: str = "prosumers-a") -> dict[str, Any]:
    return {"source": source, "time": START.isoformat(), "members": members}


class FakeWeather:
    """The weather service's ``GET /api/weather``: a fixed temperature, or down."""

    def __init__(self) -> None:
        self.temperature_c = -5.0
        self.up = True
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        assert request.url.path == "/api/weather"
        reading = {
            "lat": float(request.url.params["lat"]),
            "lon": float(request.url.params["lon"]),
            "wind_speed_ms": 4.0,
            "wind_direction_deg": 200.0,
            "temperature_c": self.temperature_c,
            "time": START.isoformat(),
            "source": "synthetic",
            "stale": False,
        }
        return httpx.Response(200, json=reading)


class FakeWall:
    """Wall time (unix seconds) that moves only when told to: for staleness."""

    def __init__(self, now_s: float = WALL_START_S) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@dataclass
class Cell:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock
    wall: FakeWall
    weather: FakeWeather
    issuer: FakeIssuer

    @property
    def manager_token(self) -> str:
        """A grid manager's token (a privilege over a plant): the client's default."""
        return self.issuer.user_token("boss", managers=["coal-1"])

    @property
    def push_token(self) -> str:
        """A prosumer or manager service's token, granted grid.push."""
        return self.issuer.service_token("prosumer", scopes=[PUSH_SCOPE])

    async def request_as(
        self, token: str | None, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        """A request with ``token`` as the bearer token, or with no Authorization if None."""
        request = self.client.build_request(method, path, json=body)
        del request.headers["Authorization"]
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        return await self.client.send(request)

    @property
    def service(self) -> SimulationService:
        service: SimulationService = self.app.state.service
        return service

    async def tick(self, seconds: float = 1.0) -> dict[str, Any]:
        """Move simulated time on, run one tick, and return ``GET /api/data``."""
        self.clock.advance(seconds)
        await self.service.tick()
        return await self.data()

    async def data(self) -> dict[str, Any]:
        return await self.ok("GET", "/api/data")

    async def ok(
        self, method: str, path: str, body: Any = None, status: int = 200, token: str | None = None
    ) -> Any:
        """Send a request that must succeed with ``status``; its JSON answer.

        It goes with ``token``, or the client's manager token when None.
        """
        if token is None:
            response = await self.client.request(method, path, json=body)
        else:
            response = await self.request_as(token, method, path, body)
        assert response.status_code == status, response.text
        return response.json()

    async def add_consumers(self, *consumers: dict[str, Any]) -> list[dict[str, Any]]:
        created: list[dict[str, Any]] = await self.ok(
            "POST", "/api/members/consumers", {"body": list(consumers)}, 201
        )
        return created

    async def push_prosumers(self, *states: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self.ok(
            "POST", "/api/members/prosumers/bulk", make_push(*states), token=self.push_token
        )
        return answer

    async def push_plants(self, *states: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self.ok(
            "POST",
            "/api/members/managers/bulk",
            make_push(*states, source="managers-a"),
            token=self.push_token,
        )
        return answer


@asynccontextmanager
async def running_cell(
    settings: SimulationSettings,
    clock: FakeClock | None = None,
    wall: FakeWall | None = None,
    weather: FakeWeather | None = None,
) -> AsyncIterator[Cell]:
    """A cell app with its lifespan run, its weather peer faked and its wall time fixed."""
    clock = clock or FakeClock(START)
    wall, weather = wall or FakeWall(), weather or FakeWeather()
    issuer = FakeIssuer()
    app = create_app(settings, clock=clock)
    async with serving(app) as client:
        runtime = app.state.runtime
        await runtime.http.aclose()
        runtime.http = httpx.AsyncClient(transport=httpx.MockTransport(weather.handle))
        runtime.verifier = issuer.verifier()
        app.state.service.wall_time = wall
        # The loop ticks once as it starts; wait for that tick so that it cannot run in the
        # middle of a test's own ticks.
        async with asyncio.timeout(5.0):
            while not runtime.loop.stats.ticks:
                await asyncio.sleep(0.001)
        assert runtime.loop.stats.ticks == 1
        cell = Cell(app, client, clock, wall, weather, issuer)
        client.headers["Authorization"] = f"Bearer {cell.manager_token}"
        yield cell


@pytest.fixture
async def cell(tmp_path: Path) -> AsyncIterator[Cell]:
    async with running_cell(make_settings(tmp_path)) as running:
        yield running


async def first_event(
    app: FastAPI, token: str, path: str = "/api/stream", timeout_s: float = 5.0
) -> dict:
    """Open an event stream on ``app`` directly over ASGI, with ``token``; read its first event.

    httpx's ASGI transport waits for the whole body, which an event stream never ends;
    talking ASGI here lets the test read one event and then disconnect.
    """
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    disconnected = asyncio.Event()
    request_sent = False
    started: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.append(message)
        elif message["type"] == "http.response.body":
            await chunks.put(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"test"),
            (b"accept", b"text/event-stream"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
    }
    task = asyncio.create_task(app(scope, receive, send))
    received = b""
    try:
        async with asyncio.timeout(timeout_s):
            while b"\n\n" not in received:
                received += await chunks.get()
    finally:
        disconnected.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert started and started[0]["status"] == 200
    headers = dict(started[0]["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    fields = dict(
        line.split(": ", 1) for line in received.decode().split("\n\n")[0].splitlines() if line
    )
    return {**fields, "data": json.loads(fields["data"])}
