"""The simulation cell's FastAPI app: lifespan and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.clock import Clock
from services.common.runtime import service_runtime, ticking
from services.common.settings import SimulationSettings
from services.simulation.api import router
from services.simulation.repository import SimulationRepository
from services.simulation.service import SimulationService

DESCRIPTION = """\
One grid cell: consumer clusters, the latest state pushed by every prosumer and
coal plant, a merit-order clearing every tick with rolling blackouts, totals
(`GET /api/data`), history and a live stream of totals.

Prosumer and manager services push their members' state every tick to
`POST /api/members/prosumers/bulk` and `POST /api/members/managers/bulk`; a push
registers unknown members. Members whose last state is older than
`stale_after_seconds` are listed in `stale_members` and not counted.

`/readyz` needs only storage: without the weather service the cell keeps
running on its last temperature reading, then on Luleå's climatological mean.
"""


def create_app(
    settings: SimulationSettings | None = None, *, clock: Clock | None = None
) -> FastAPI:
    """The simulation service; settings come from ``SIMULATION_*`` variables when not given."""
    settings = settings or SimulationSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(settings, clock=clock) as runtime:
            repository = SimulationRepository(runtime.storage, settings.name)
            service = SimulationService(settings, runtime, repository)
            await service.load()
            async with ticking(app, runtime, service):
                yield

    app = create_service_app(
        title="gridmarket simulation",
        description=DESCRIPTION,
        lifespan=lifespan,
        routers=[router],
        settings=settings,
    )
    app.state.settings = settings
    return app
