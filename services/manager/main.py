"""The manager service: coal power plants, run tick by tick and pushed to the simulation cells."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.clock import Clock
from services.common.runtime import service_runtime, ticking
from services.common.settings import ManagerSettings
from services.manager import api
from services.manager.service import ManagerService


def create_app(settings: ManagerSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The manager app; settings come from ``MANAGER_*`` variables when not given."""
    settings = settings or ManagerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(settings, clock=clock) as runtime:
            service = await ManagerService.open(runtime, settings)
            for url in settings.simulation_urls:
                runtime.require_peer(f"simulation {url}", url)
            async with ticking(app, runtime, service):
                yield

    app = create_service_app(
        title="gridmarket manager",
        description="Coal power plants: start-up, ramping, buffer battery, carbon emission.",
        lifespan=lifespan,
        routers=[api.router],
        settings=settings,
    )
    app.state.settings = settings
    return app
