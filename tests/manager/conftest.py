"""A manager on a fake clock, pushing to an in-process fake simulation cell.

A ``FakeIssuer`` signs the callers' tokens (the test client has the token of
a manager of ``OWN_PLANTS``) and the manager's own push token, which the fake
cell checks as real cells do (``grid.push``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.clock import FakeClock
from services.common.contracts import PlantAcceptance, PlantPush, PlantPushAnswer
from services.common.errors import AppError
from services.common.security import (
    PUSH_SCOPE,
    Principal,
    ServiceTokenClient,
    TokenVerifier,
    require_scope,
)
from services.common.settings import ManagerSettings
from services.manager.main import create_app
from services.manager.service import ManagerService
from tests.common.fake_issuer import ISSUER_URL, FakeIssuer
from tests.conftest import serving

START = datetime(2026, 1, 15, 12, 0)
OWN_PLANTS = ("p1", "a", "b", "nope")
"""Plants the test client's manager holds a privilege over: every id the tests use, ``nope``
(never created) too, so that an unknown plant is 404 rather than 403."""


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
        "issuer_url": ISSUER_URL,
        **overrides,
    }
    return ManagerSettings(**values)


class FakeCell:
    """A simulation cell that records every push and accepts what it is told to.

    Like a real cell it takes only pushes with a valid ``grid.push`` token
    (401 or 403 otherwise); ``refuse`` makes it answer 401 to that many more.
    """

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier
        self.pushes: list[tuple[str, PlantPush]] = []
        self.accepted: dict[str, PlantAcceptance] = {}
        self.callers: list[Principal] = []
        """Who made each accepted push."""
        self.tokens: list[str] = []
        """The bearer token of every push, accepted or not."""
        self.refuse = 0
        self.app = FastAPI()

        @self.app.post("/api/members/managers/bulk", response_model=None)
        async def bulk(push: PlantPush, request: Request) -> PlantPushAnswer | JSONResponse:
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
    """Calls with the token of a manager of plant ``p1``."""
    anonymous: httpx.AsyncClient
    """Calls with no token unless a request gives one (see ``call``)."""
    clock: FakeClock
    issuer: FakeIssuer
    cell: FakeCell

    async def call(self, method: str, url: str, token: str | None, **kwargs: Any) -> httpx.Response:
        """A request with ``token`` as its bearer token, or with no Authorization at all."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.anonymous.request(method, url, headers=headers, **kwargs)

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


def manager_token(issuer: FakeIssuer, *plants: str) -> str:
    """The token of a manager with a privilege over ``plants`` (``OWN_PLANTS`` if none)."""
    return issuer.user_token("operator", managers=list(plants or OWN_PLANTS))


@asynccontextmanager
async def running_manager(settings: ManagerSettings, clock: FakeClock) -> AsyncIterator[Manager]:
    """A manager app with its lifespan run, its cells served by one ``FakeCell``."""
    issuer = FakeIssuer()
    secret = settings.client_secret.get_secret_value()
    issuer.register_client(settings.client_id, secret, [PUSH_SCOPE])
    cell = FakeCell(issuer.verifier())
    app = create_app(settings, clock=clock)
    async with serving(app) as client:
        runtime = app.state.runtime
        runtime.verifier = issuer.verifier()
        client.headers["Authorization"] = f"Bearer {manager_token(issuer)}"
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        anonymous = httpx.AsyncClient(transport=transport, base_url=client.base_url)
        issuer_http = issuer.client()
        manager = Manager(app, client, anonymous, clock, issuer, cell)
        manager.service.push_tokens = ServiceTokenClient.for_service(
            issuer_http, settings, [PUSH_SCOPE]
        )
        await manager.use_transport(cell.transport())
        # The tick loop ticks once as it starts; with the clock not yet moved that tick does
        # nothing, and waiting for it keeps it from taking a step a test means to take.
        loop = app.state.runtime.loop
        for _ in range(1000):
            if loop.stats.ticks:
                break
            await asyncio.sleep(0)
        assert loop.stats.ticks == 1
        async with anonymous, issuer_http:
            yield manager


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def manager(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Manager]:
    async with running_manager(make_settings(tmp_path), clock) as running:
        yield running
