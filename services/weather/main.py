"""The weather service's app: readings from OpenWeatherMap or a synthetic model, on request."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.clock import Clock
from services.common.runtime import service_runtime
from services.common.settings import WeatherSettings
from services.weather import api
from services.weather.service import WeatherService

DESCRIPTION = (
    "Wind at 10 m and air temperature at any location, now. From OpenWeatherMap when "
    "`WEATHER_OPENWEATHER_API_KEY` (or `OPENWEATHER_API_KEY`) is set, cached per 0.1° "
    "for `cache_seconds` and within `calls_per_minute`; otherwise, and whenever "
    "OpenWeatherMap cannot answer, from a synthetic model (marked `stale` when it stands in)."
)


def create_app(
    settings: WeatherSettings | None = None,
    *,
    clock: Clock | None = None,
    monotonic: Callable[[], float] | None = None,
) -> FastAPI:
    """The weather app; ``monotonic`` (wall seconds) times the cache and the call budget."""
    settings = settings or WeatherSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(settings, clock=clock) as runtime:
            service = WeatherService(
                settings, runtime.clock, runtime.http, monotonic=monotonic or time.monotonic
            )
            app.state.runtime = runtime
            app.state.service = service
            try:
                yield
            finally:
                await service.close()

    app = create_service_app(
        title="GridMarket weather",
        description=DESCRIPTION,
        lifespan=lifespan,
        routers=[api.router, api.legacy_router],
        settings=settings,
    )
    app.state.settings = settings
    return app
