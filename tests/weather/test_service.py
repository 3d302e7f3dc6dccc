"""Pieces of the weather service's use cases: the throttled log, the key's redaction, shutdown."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from services.common.clock import FakeClock
from services.common.contracts import Location
from services.weather.service import OpenWeatherMap, ThrottledLog, WeatherService
from tests.weather.conftest import API_KEY, START, FakeMonotonic, make_settings
from tests.weather.fake_openweathermap import FakeOpenWeatherMap


def test_throttled_log_reports_each_kind_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monotonic = FakeMonotonic()
    throttled = ThrottledLog(logging.getLogger("test.weather"), 60.0, monotonic=monotonic)
    caplog.set_level(logging.WARNING, logger="test.weather")

    for _ in range(3):
        throttled.warning("timeout", "timed out")
    throttled.warning("http-401", "refused the key")
    monotonic.advance(60)
    throttled.warning("timeout", "timed out")

    assert [record.getMessage() for record in caplog.records] == [
        "timed out",
        "refused the key",
        "timed out (2 more since the last report)",
    ]


async def test_httpx_request_lines_are_redacted_while_the_client_is_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    async with httpx.AsyncClient(transport=transport) as http:
        upstream = OpenWeatherMap(
            http,
            base_url="http://owm.test",
            api_key=API_KEY,
            cache_seconds=600,
            calls_per_minute=60,
            timeout_s=1.0,
        )
        await upstream.find((65.6, 22.2))
        await upstream.close()
        await http.get("http://owm.test/?appid=" + API_KEY)

    redacted, after_close = (r.getMessage() for r in caplog.records if r.name == "httpx")
    assert API_KEY not in redacted and "appid=***" in redacted
    assert API_KEY in after_close  # the filter is removed on close


async def test_close_cancels_calls_under_way(
    tmp_path: Path, openweathermap: FakeOpenWeatherMap
) -> None:
    openweathermap.behaviour, openweathermap.delay_s = "slow", 0.5
    settings = make_settings(
        tmp_path, openweather_api_key=API_KEY, openweather_url=openweathermap.url
    )
    async with httpx.AsyncClient() as http:
        service = WeatherService(settings, FakeClock(START), http)
        asking = asyncio.create_task(service.reading(Location(lat=65.6, lon=22.2)))
        while openweathermap.call_count == 0:
            await asyncio.sleep(0.01)

        await service.close()

        with pytest.raises(asyncio.CancelledError):
            await asking
