"""What a running service holds: settings, storage, an HTTP client, a clock, one tick loop.

Each service's lifespan builds one ``ServiceRuntime`` and puts it on
``app.state.runtime``; routes reach it through ``RuntimeDep``. Nothing here is
created at import time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol

import httpx
from fastapi import Depends, FastAPI, Request

from services.common.clock import Clock, SimClock
from services.common.security import TokenVerifier
from services.common.settings import ServiceSettings
from services.common.storage import Storage, open_storage
from services.common.ticker import TickLoop

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[None]]


class Ticking(Protocol):
    """A service with one tick and a close that writes its last checkpoint."""

    async def tick(self) -> None: ...

    async def close(self) -> None: ...


class Every:
    """True once every ``seconds`` of wall time: for work a tick does now and then."""

    def __init__(self, seconds: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._monotonic = monotonic
        self._last = monotonic()

    def due(self) -> bool:
        now = self._monotonic()
        if now - self._last >= self.seconds:
            self._last = now
            return True
        return False


class ServiceRuntime:
    """The infrastructure of one running service."""

    def __init__(
        self,
        settings: ServiceSettings,
        storage: Storage,
        http: httpx.AsyncClient,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.http = http
        self.clock = clock
        self.loop: TickLoop | None = None
        self.ready_checks: dict[str, ReadyCheck] = {"storage": storage.ping}
        self.metrics: dict[str, float] = {}
        """Figures a service reports about its own work (e.g. last push size), in /healthz."""
        self.verifier: TokenVerifier | None = None
        """Checks callers' bearer tokens (``PrincipalDep``); fetches the issuer's keys lazily."""

    def start_loop(self, tick: Callable[[], Awaitable[None]]) -> TickLoop:
        """Start the service's one tick loop at ``settings.tick_seconds``."""
        self.loop = TickLoop(self.settings.service_name, self.settings.tick_seconds, tick)
        self.loop.start()
        return self.loop

    def require_peer(self, name: str, base_url: str) -> None:
        """Make ``/readyz`` check that a peer service answers its ``/healthz``."""

        async def check() -> None:
            response = await self.http.get(f"{base_url}/healthz", timeout=2.0)
            response.raise_for_status()

        self.ready_checks[name] = check

    def tick_stats(self, window: int | None = None) -> dict[str, Any] | None:
        """The tick loop's counters; percentiles over the last ``window`` ticks if given."""
        if self.loop is None:
            return None
        stats = self.loop.stats
        return {
            "period_s": self.loop.period_s,
            "ticks": stats.ticks,
            "errors": stats.errors,
            "overruns": stats.overruns,
            "missed_ticks": stats.missed_ticks,
            "last_duration_s": stats.last_duration_s,
            "max_duration_s": stats.max_duration_s,
            "p50_duration_s": stats.percentile_s(0.50, window),
            "p99_duration_s": stats.percentile_s(0.99, window),
        }


def make_http_client(timeout_s: float = 5.0) -> httpx.AsyncClient:
    """The service's one HTTP client: pooled connections, bounded waits."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


@asynccontextmanager
async def service_runtime(
    settings: ServiceSettings, *, clock: Clock | None = None
) -> AsyncIterator[ServiceRuntime]:
    """Open storage and the HTTP client; stop the tick loop and close both on exit."""
    storage = await open_storage(settings)
    http = make_http_client()
    clock = clock or SimClock(settings.speed, settings.timezone, settings.start)
    runtime = ServiceRuntime(settings, storage, http, clock)
    runtime.verifier = TokenVerifier(
        http, settings.issuer_url, settings.audience, internal_url=settings.issuer_internal_url
    )
    try:
        yield runtime
    finally:
        if runtime.loop is not None:
            await runtime.loop.stop()
        await http.aclose()
        await storage.close()


@asynccontextmanager
async def ticking(app: FastAPI, runtime: ServiceRuntime, service: Ticking) -> AsyncIterator[None]:
    """Serve ``service`` on ``app`` with its tick loop running.

    On exit the loop stops before ``service.close()``, so the last checkpoint
    holds the final state.
    """
    app.state.runtime = runtime
    app.state.service = service
    loop = runtime.start_loop(service.tick)
    try:
        yield
    finally:
        await loop.stop()
        await service.close()


def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]
