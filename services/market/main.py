"""The market service: polls every simulation cell each tick and prices the whole market."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.clock import Clock
from services.common.runtime import service_runtime, ticking
from services.common.security import POLL_SCOPE, ServiceTokenClient
from services.common.settings import MarketSettings
from services.common.sse import Broadcaster
from services.market import api
from services.market.repository import MarketRepository
from services.market.service import MarketService


def create_app(settings: MarketSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The market app; settings from the environment (``MARKET_*``) when not given."""
    settings = settings or MarketSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(settings, clock=clock) as runtime:
            broadcaster = Broadcaster()
            service = MarketService(
                runtime,
                MarketRepository(runtime.storage, settings.name),
                broadcaster,
                ServiceTokenClient.for_service(runtime.http, settings, [POLL_SCOPE]),
                poll_timeout_s=settings.poll_timeout_seconds,
            )
            await service.load()
            try:
                async with ticking(app, runtime, service):
                    yield
            finally:
                broadcaster.close()

    app = create_service_app(
        title="Market",
        description="Polls every simulation cell each tick, clears their pooled supply and "
        "demand in merit order, and publishes the price in force (SEK/kWh).",
        lifespan=lifespan,
        routers=[api.members, api.price],
        settings=settings,
    )
    app.state.settings = settings
    return app
