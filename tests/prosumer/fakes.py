"""Builders and fake peers for the prosumer tests.

The weather service and the simulation cells are small FastAPI apps that
speak the shared contracts; ``HostRoutes`` sends the prosumer service's
requests to them by host name, and refuses to connect to a host marked down.
A ``FakeIssuer`` signs the callers' tokens and the service's own push token;
the cells check that token as real cells do (``grid.push``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.clock import FakeClock
from services.common.contracts import (
    ProsumerPush,
    ProsumerPushAnswer,
    WeatherBatch,
    WeatherBatchRequest,
    WeatherReading,
)
from services.common.errors import AppError
from services.common.security import (
    PUSH_SCOPE,
    Principal,
    ServiceTokenClient,
    TokenVerifier,
    require_scope,
)
from services.common.settings import ProsumerSettings
from services.prosumer.main import create_app
from services.prosumer.service import ProsumerService
from tests.common.fake_issuer import ISSUER_URL, FakeIssuer
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
        "issuer_url": ISSUER_URL,
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
    """``POST /api/members/prosumers/bulk`` recording each push and giving a set answer.

    Like a real cell it takes only pushes with a valid ``grid.push`` token
    (401 or 403 otherwise); ``refuse`` makes it answer 401 to that many more.
    """

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier
        self.answer = ProsumerPushAnswer(
            time=None, sold_fraction=1.0, blackout=[], price_sek_per_kwh=0.8
        )
        self.pushes: list[ProsumerPush] = []
        self.callers: list[Principal] = []
        """Who made each accepted push."""
        self.tokens: list[str] = []
        """The bearer token of every push, accepted or not."""
        self.refuse = 0
        self.app = FastAPI()
        self.app.post("/api/members/prosumers/bulk", response_model=None)(self.bulk)

    async def bulk(self, push: ProsumerPush, request: Request) -> ProsumerPushAnswer | JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.tokens.append(token)
        if self.refuse:
            self.refuse -= 1
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            caller = await self.verifier.verify(token)
            require_scope(caller, PUSH_SCOPE)
        except AppError as exc:
            return JSONResponse({"error": exc.kind}, status_code=exc.status_code)
        self.callers.append(caller)
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
    issuer: FakeIssuer = field(default_factory=FakeIssuer)
    weather: FakeWeather = field(default_factory=FakeWeather)
    cells: dict[str, FakeCell] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.cells:
            verifier = self.issuer.verifier()
            self.cells = {httpx.URL(url).host: FakeCell(verifier) for url in CELL_URLS}
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
    """Calls with a manager's token."""
    anonymous: httpx.AsyncClient
    """Calls with no token unless a request gives one (see ``call``)."""
    clock: FakeClock
    peers: Peers
    wall_s: float = 1_800_000_000.0
    """The service's wall clock (unix seconds), moved by the tests."""

    @property
    def issuer(self) -> FakeIssuer:
        return self.peers.issuer

    async def call(self, method: str, url: str, token: str | None, **kwargs: Any) -> httpx.Response:
        """A request with ``token`` as its bearer token, or with no Authorization at all."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.anonymous.request(method, url, headers=headers, **kwargs)

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
    prosumer_settings = make_settings(data_dir, **settings)
    secret = prosumer_settings.client_secret.get_secret_value()
    peers.issuer.register_client(prosumer_settings.client_id, secret, [PUSH_SCOPE])
    app = create_app(prosumer_settings, clock=clock)
    async with serving(app) as client:
        runtime = app.state.runtime
        await runtime.loop.stop()
        runtime.verifier = peers.issuer.verifier()
        client.headers["Authorization"] = f"Bearer {manager_token(peers.issuer)}"
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            httpx.AsyncClient(transport=transport, base_url=client.base_url) as anonymous,
            httpx.AsyncClient(transport=peers.routes) as http,
            peers.issuer.client() as issuer_http,
        ):
            harness = Harness(app, client, anonymous, clock, peers)
            service = harness.service
            service.wall_time = lambda: harness.wall_s
            service.push_tokens = ServiceTokenClient.for_service(
                issuer_http, prosumer_settings, [PUSH_SCOPE]
            )
            runtime.http = http
            yield harness


async def read_stream(
    prosumer: Harness, query: str = "", *, token: str | None = None
) -> list[dict[str, Any]]:
    """The events a listener gets after one tick, until the stream is closed.

    The listener calls with ``token``, or with the manager's token by default.
    """
    broadcaster = prosumer.service.broadcaster
    headers = {"Authorization": f"Bearer {token}"} if token else None
    request = asyncio.create_task(prosumer.client.get(f"/api/stream{query}", headers=headers))
    while broadcaster.listeners == 0:
        await asyncio.sleep(0.005)
    await prosumer.tick()
    broadcaster.close()
    response = await request
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines.get("event") == "prosumers":
            events.append(json.loads(lines["data"]))
    return events


def manager_token(issuer: FakeIssuer) -> str:
    """A grid manager's token (a privilege over one plant)."""
    return issuer.user_token("operator", managers=["plant-1"])
