"""The prosumer service's app: households with wind turbines and batteries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.clock import Clock
from services.common.runtime import service_runtime, ticking
from services.common.settings import ProsumerSettings
from services.prosumer.api import router
from services.prosumer.service import ProsumerService


def create_app(settings: ProsumerSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The prosumer app; settings come from ``PROSUMER_*`` variables when not given."""
    settings = settings or ProsumerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(settings, clock=clock) as runtime:
            service = ProsumerService(runtime, settings)
            await service.load()
            runtime.require_peer("weather", settings.weather_url)
            for url in settings.simulation_urls:
                runtime.require_peer(f"simulation {url}", url)
            async with ticking(app, runtime, service):
                yield

    app = create_service_app(
        title="Prosumer service",
        description="Households with wind turbines and batteries: their equipment, "
        "controls, sell blocks and live values, pushed to the simulation cells each tick.",
        lifespan=lifespan,
        routers=[router],
        settings=settings,
    )
    app.state.settings = settings
    return app
