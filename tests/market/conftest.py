"""Fake simulation cells on an in-process network, and a market app wired to them.

The network also reaches a fake identity issuer: the market gets its ``grid.poll``
token there, every fake cell verifies the token of each poll, and the test
client calls the market with a manager's token unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.clock import FakeClock
from services.common.contracts import CellData, SupplyTier
from services.common.errors import AppError
from services.common.security import POLL_SCOPE, Principal, ServiceTokenClient, TokenVerifier
from services.common.settings import MarketSettings
from services.market.main import create_app
from services.market.service import MarketService
from tests.common.fake_issuer import ISSUER_URL, FakeIssuer
from tests.conftest import serving

START = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
MARKET_SECRET = "market-test-secret"


def tier(
    quantity_kw: float, price: float, kind: str = "plant", id: str | None = None
) -> SupplyTier:
    return SupplyTier.model_validate(
        {"kind": kind, "id": id, "quantity_kw": quantity_kw, "price_sek_per_kwh": price}
    )


def make_cell_data(**overrides: Any) -> CellData:
    """A cell's answer to ``GET /api/data``: nothing offered, nothing asked, unless overridden."""
    values: dict[str, Any] = {
        "totalProduction": 0.0,
        "totalDemand": 0.0,
        "cell": "cell",
        "time": START,
        "prosumer_production_kw": 0.0,
        "plant_production_kw": 0.0,
        "battery_charge_kw": 0.0,
        "battery_discharge_kw": 0.0,
        "prosumer_load_kw": 0.0,
        "consumer_demand_kw": 0.0,
        "market_demand_kw": 0.0,
        "unserved_kw": 0.0,
        "curtailed_kw": 0.0,
        "co2_kg_per_h": 0.0,
        "supply": [],
        "cell_price_sek_per_kwh": 0.0,
        "blackout_consumers": [],
        "blackout_prosumers": [],
        "stale_members": [],
    }
    values.update(overrides)
    return CellData.model_validate(values)


class FakeCell:
    """A simulation cell answering ``GET /api/data``; tests change what and how it answers."""

    def __init__(self, host: str, data: CellData, verifier: TokenVerifier) -> None:
        self.host = host
        self.destination = f"http://{host}:8005"
        self.data = data
        self.up = True
        self.delay_s = 0.0
        self.status_code = 200
        self.body: Any = None
        """When set, answered instead of ``data`` (to send something invalid)."""
        self.polls = 0
        self.callers: list[Principal] = []
        """Who each poll with a valid token came from."""
        self.refuse_tokens = False
        """When True every poll is answered 401, as a cell that no longer trusts the token."""
        app = FastAPI()

        @app.get("/api/data")
        async def data_route(request: Request) -> JSONResponse:
            self.polls += 1
            caller = await self._caller(request.headers.get("authorization", ""))
            if caller is None or self.refuse_tokens:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            if POLL_SCOPE not in caller.scopes:
                return JSONResponse({"error": "forbidden"}, status_code=403)
            self.callers.append(caller)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            body = self.body if self.body is not None else self.data.model_dump(mode="json")
            return JSONResponse(body, status_code=self.status_code)

        self.transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._verifier = verifier

    async def _caller(self, authorization: str) -> Principal | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            return await self._verifier.verify(token)
        except AppError:
            return None


class CellNetwork(httpx.AsyncBaseTransport):
    """Routes each request to the fake cell (or issuer) named by its host; others are refused."""

    def __init__(self) -> None:
        self.cells: dict[str, FakeCell] = {}
        self.issuer = FakeIssuer()
        self.issuer.register_client("market", MARKET_SECRET, [POLL_SCOPE])
        self._issuer_host = httpx.URL(self.issuer.url).host
        self._issuer_transport = self.issuer.transport

    def add(self, host: str, **data: Any) -> FakeCell:
        cell = FakeCell(host, make_cell_data(cell=host, **data), self.issuer.verifier())
        self.cells[host] = cell
        return cell

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == self._issuer_host:
            return await self._issuer_transport.handle_async_request(request)
        cell = self.cells.get(request.url.host)
        if cell is None or not cell.up:
            raise httpx.ConnectError("connection refused", request=request)
        return await cell.transport.handle_async_request(request)


@dataclass
class Market:
    """A running market app, its HTTP client, clock and the fake cells it polls."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock
    network: CellNetwork

    @property
    def issuer(self) -> FakeIssuer:
        return self.network.issuer

    @property
    def service(self) -> MarketService:
        service: MarketService = self.app.state.service
        return service

    async def request_as(
        self, token: str | None, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        """A request with ``token`` as the bearer token, or with no Authorization if None."""
        request = self.client.build_request(method, path, json=body)
        del request.headers["Authorization"]
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        return await self.client.send(request)

    async def register(self, *cells: FakeCell) -> list[dict[str, Any]]:
        payload = [{"id": cell.host, "destination": cell.destination} for cell in cells]
        response = await self.client.post("/api/members", json=payload)
        assert response.status_code == 201, response.text
        created: list[dict[str, Any]] = response.json()
        return created

    async def tick(self, seconds: float = 60.0) -> dict[str, Any]:
        """Advance simulated time, run one tick, and answer ``GET /api/price``."""
        self.clock.advance(seconds)
        await self.service.tick()
        response = await self.client.get("/api/price")
        assert response.status_code == 200
        price: dict[str, Any] = response.json()
        return price


def manager_token(issuer: FakeIssuer) -> str:
    """A grid manager's token: a privilege over a plant."""
    return issuer.user_token("boss", managers=["plant-1"])


def make_settings(data_dir: Path, **overrides: Any) -> MarketSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "tick_seconds": 3600,
        "poll_timeout_seconds": 0.5,
        "issuer_url": ISSUER_URL,
        "client_secret": MARKET_SECRET,
        **overrides,
    }
    return MarketSettings(**values)


async def _first_tick_done(app: FastAPI) -> None:
    # The tick loop ticks once as soon as it starts; let that happen before the test acts.
    loop = app.state.runtime.loop
    while loop.stats.ticks == 0:
        await asyncio.sleep(0.001)


@asynccontextmanager
async def running_market(
    settings: MarketSettings, network: CellNetwork | None = None
) -> AsyncIterator[Market]:
    """A market app served in-process whose HTTP client reaches only ``network``."""
    clock = FakeClock(START)
    app = create_app(settings, clock=clock)
    network = network or CellNetwork()
    async with serving(app) as client:
        runtime = app.state.runtime
        await runtime.http.aclose()
        runtime.http = httpx.AsyncClient(transport=network)
        runtime.verifier = network.issuer.verifier()
        app.state.service.tokens = ServiceTokenClient.for_service(
            runtime.http, settings, [POLL_SCOPE]
        )
        client.headers["Authorization"] = f"Bearer {manager_token(network.issuer)}"
        await _first_tick_done(app)
        yield Market(app, client, clock, network)


@pytest.fixture
def network() -> CellNetwork:
    return CellNetwork()


@pytest.fixture
def settings(tmp_path: Path) -> MarketSettings:
    return make_settings(tmp_path)


@pytest.fixture
async def market(settings: MarketSettings, network: CellNetwork) -> AsyncIterator[Market]:
    """The market app under test, polling the fake cells of ``network``."""
    async with running_market(settings, network) as running:
        yield running
