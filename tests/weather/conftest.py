"""Fixtures of the weather tests: a fake OpenWeatherMap, fake clocks, the app with a client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from services.common.clock import FakeClock
from services.common.settings import WeatherSettings
from services.weather.main import create_app
from tests.conftest import serving
from tests.weather.fake_openweathermap import FakeOpenWeatherMap, running_fake_openweathermap

STOCKHOLM = ZoneInfo("Europe/Stockholm")
START = datetime(2025, 1, 15, 12, 0, tzinfo=STOCKHOLM)
API_KEY = "test-key-0123456789abcdef"


class FakeMonotonic:
    """Wall seconds that pass only when told to: times the cache and the call budget."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_settings(tmp_path: Path, **overrides: Any) -> WeatherSettings:
    """Test settings: no key, no MongoDB, a loop that never fires; ``overrides`` on top."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "mongodb_uri": None,
        "tick_seconds": 3600,
        "seed": 7,
        "openweather_api_key": None,
        "openweather_url": "http://127.0.0.1:9",
        "request_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return WeatherSettings(**values)


@pytest.fixture(scope="session")
def openweathermap_server() -> Iterator[FakeOpenWeatherMap]:
    with running_fake_openweathermap() as fake:
        yield fake


@pytest.fixture
def openweathermap(openweathermap_server: FakeOpenWeatherMap) -> Iterator[FakeOpenWeatherMap]:
    """The session's fake OpenWeatherMap, answering ok with no calls counted yet."""
    openweathermap_server.reset()
    yield openweathermap_server
    openweathermap_server.reset()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


WeatherApp = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def weather_app(tmp_path: Path, clock: FakeClock, monotonic: FakeMonotonic) -> WeatherApp:
    """``async with weather_app(**settings) as (app, client)``: the app, started, and a client."""

    @asynccontextmanager
    async def open_app(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = create_app(make_settings(tmp_path, **overrides), clock=clock, monotonic=monotonic)
        async with serving(app) as client:
            yield app, client

    return open_app


@pytest.fixture
def upstream(openweathermap: FakeOpenWeatherMap) -> dict[str, Any]:
    """Settings that make the app read the fake OpenWeatherMap with a key."""
    return {"openweather_api_key": API_KEY, "openweather_url": openweathermap.url}
