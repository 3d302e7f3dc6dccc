"""The auth service: user profiles and the privileges they carry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.auth import api
from services.auth.repository import ProfileRepository
from services.auth.service import ProfileService
from services.common.app import create_service_app
from services.common.clock import Clock, SimClock
from services.common.runtime import service_runtime
from services.common.settings import AuthSettings


def create_app(settings: AuthSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The auth app; settings from the environment (``AUTH_*``) when not given.

    Logins happen in real time, not simulated time: without a ``clock`` the
    service uses the wall clock whatever the suite's speed.
    """
    settings = settings or AuthSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wall_clock = clock or SimClock(1.0, settings.timezone)
        async with service_runtime(settings, clock=wall_clock) as runtime:
            app.state.runtime = runtime
            app.state.service = ProfileService(
                ProfileRepository(runtime.storage, settings.name), now=runtime.clock.now
            )
            # No tick loop: profiles change only on request.
            yield

    app = create_service_app(
        title="Auth",
        description="User profiles: who a user is and which plants, prosumers and consumers "
        "they may see or control. Tokens will be required in a later version.",
        lifespan=lifespan,
        routers=[api.login, api.profiles],
    )
    app.state.settings = settings
    return app
