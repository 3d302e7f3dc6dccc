"""The weather service over HTTP: routes, input checks, OpenWeatherMap use and its fallbacks."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import httpx
import pytest

from services.common.clock import FakeClock
from tests.weather import fake_openweathermap as fake
from tests.weather.conftest import API_KEY, START, FakeMonotonic, WeatherApp
from tests.weather.fake_openweathermap import FakeOpenWeatherMap

LULEA = {"lat": 65.584, "lon": 22.154}
BODEN = {"lat": 65.825, "lon": 21.689}


def locations(count: int) -> list[dict[str, float]]:
    """``count`` locations 1° of longitude apart (distinct cache keys)."""
    return [{"lat": 60.0, "lon": -170.0 + index} for index in range(count)]


async def get_weather(client: httpx.AsyncClient, where: dict[str, float]) -> dict[str, Any]:
    response = await client.get("/api/weather", params=where)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def circular_difference_deg(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


# -- synthetic (no key) ------------------------------------------------------------------------


async def test_without_a_key_the_reading_is_synthetic_and_fresh(weather_app: WeatherApp) -> None:
    async with weather_app() as (_, client):
        reading = await get_weather(client, LULEA)

    assert reading["source"] == "synthetic"
    assert reading["stale"] is False
    assert (reading["lat"], reading["lon"]) == (LULEA["lat"], LULEA["lon"])
    assert reading["wind_speed_ms"] >= 0
    assert 0 <= reading["wind_direction_deg"] < 360
    assert -60 < reading["temperature_c"] < 40
    assert datetime.fromisoformat(reading["time"]) == START


async def test_without_a_key_the_fake_server_is_never_called(
    weather_app: WeatherApp, openweathermap: FakeOpenWeatherMap
) -> None:
    async with weather_app(openweather_url=openweathermap.url) as (_, client):
        await get_weather(client, LULEA)
        await client.post("/api/weather/batch", json={"locations": locations(5)})

    assert openweathermap.call_count == 0


async def test_synthetic_readings_one_minute_apart_never_jump(
    weather_app: WeatherApp, clock: FakeClock
) -> None:
    async with weather_app() as (_, client):
        readings = [await get_weather(client, LULEA)]
        for _ in range(30):
            clock.advance(60)
            readings.append(await get_weather(client, LULEA))

    for before, after in zip(readings, readings[1:], strict=False):
        assert abs(after["wind_speed_ms"] - before["wind_speed_ms"]) < 1.0
        assert abs(after["temperature_c"] - before["temperature_c"]) < 0.5
        assert (
            circular_difference_deg(after["wind_direction_deg"], before["wind_direction_deg"]) < 20
        )
    assert readings[0]["wind_speed_ms"] != readings[-1]["wind_speed_ms"]


async def test_synthetic_readings_10_km_apart_are_similar(weather_app: WeatherApp) -> None:
    north_of_lulea = {"lat": LULEA["lat"] + 0.09, "lon": LULEA["lon"]}  # 10 km
    async with weather_app() as (_, client):
        here, there = await get_weather(client, LULEA), await get_weather(client, north_of_lulea)

    assert abs(here["wind_speed_ms"] - there["wind_speed_ms"]) < 1.0
    assert abs(here["temperature_c"] - there["temperature_c"]) < 1.0
    assert circular_difference_deg(here["wind_direction_deg"], there["wind_direction_deg"]) < 20


async def test_synthetic_readings_far_apart_differ(weather_app: WeatherApp) -> None:
    sydney = {"lat": -33.87, "lon": 151.21}
    async with weather_app() as (_, client):
        here, there = await get_weather(client, LULEA), await get_weather(client, sydney)

    assert here["wind_speed_ms"] != pytest.approx(there["wind_speed_ms"], abs=1e-3)
    assert here["temperature_c"] != pytest.approx(there["temperature_c"], abs=1e-3)


async def test_same_seed_and_times_give_the_same_synthetic_readings(
    weather_app: WeatherApp, clock: FakeClock
) -> None:
    async with weather_app(seed=11) as (_, client):
        first = await get_weather(client, LULEA)
    async with weather_app(seed=11) as (_, client):
        second = await get_weather(client, LULEA)
    async with weather_app(seed=12) as (_, client):
        other_seed = await get_weather(client, LULEA)

    assert first == second
    assert first != other_seed


# -- batch -------------------------------------------------------------------------------------


async def test_batch_answers_in_the_order_asked(weather_app: WeatherApp) -> None:
    asked = [LULEA, {"lat": -33.87, "lon": 151.21}, BODEN, {"lat": 0.0, "lon": 0.0}, LULEA]
    async with weather_app() as (_, client):
        response = await client.post("/api/weather/batch", json={"locations": asked})
        singles = [await get_weather(client, where) for where in asked]

    assert response.status_code == 200
    readings = response.json()["readings"]
    assert [(r["lat"], r["lon"]) for r in readings] == [(w["lat"], w["lon"]) for w in asked]
    assert readings == singles


async def test_batch_with_openweathermap_fetches_each_rounded_location_once(
    weather_app: WeatherApp, upstream: dict[str, Any], openweathermap: FakeOpenWeatherMap
) -> None:
    near_lulea = {"lat": LULEA["lat"] + 0.01, "lon": LULEA["lon"] + 0.01}  # same 0.1° cell
    asked = [LULEA, BODEN, near_lulea, LULEA]
    async with weather_app(**upstream) as (_, client):
        response = await client.post("/api/weather/batch", json={"locations": asked})

    readings = response.json()["readings"]
    assert openweathermap.call_count == 2
    assert [(r["lat"], r["lon"]) for r in readings] == [(w["lat"], w["lon"]) for w in asked]
    assert all(r["source"] == "openweathermap" and not r["stale"] for r in readings)


@pytest.mark.parametrize(
    "body",
    [
        {"locations": []},
        {"locations": [{"lat": 91, "lon": 0}]},
        {"locations": [{"lat": 0, "lon": -180.5}]},
        {"locations": [{"lat": 0}]},
        {"locations": [{"lat": "north", "lon": 0}]},
        {"locations": {"lat": 0, "lon": 0}},
        {"locations": [{"lat": 0, "lon": 0}] * 1001},
        {},
        [],
    ],
    ids=[
        "empty",
        "lat-91",
        "lon-180.5",
        "missing-lon",
        "lat-not-a-number",
        "not-a-list",
        "over-1000",
        "no-locations",
        "not-an-object",
    ],
)
async def test_batch_rejects_bad_input_with_422(weather_app: WeatherApp, body: Any) -> None:
    async with weather_app() as (_, client):
        response = await client.post("/api/weather/batch", json=body)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


async def test_batch_rejects_malformed_json_with_422(weather_app: WeatherApp) -> None:
    async with weather_app() as (_, client):
        response = await client.post(
            "/api/weather/batch",
            content=b'{"locations": [',
            headers={"content-type": "application/json"},
        )

    assert response.status_code == 422


# -- bad lat/lon on the GET routes ---------------------------------------------------------------

BAD_QUERIES = [
    ({"lat": 90.01, "lon": 0}, "query.lat"),
    ({"lat": -91, "lon": 0}, "query.lat"),
    ({"lat": 0, "lon": 180.01}, "query.lon"),
    ({"lat": 0, "lon": -181}, "query.lon"),
    ({"lat": "nan", "lon": 0}, "query.lat"),
    ({"lat": 0, "lon": "inf"}, "query.lon"),
    ({"lat": "north", "lon": 0}, "query.lat"),
    ({"lon": 0}, "query.lat"),
    ({"lat": 0}, "query.lon"),
]


@pytest.mark.parametrize("path", ["/api/weather", "/"])
@pytest.mark.parametrize(("query", "field"), BAD_QUERIES)
async def test_get_rejects_bad_coordinates_with_422_naming_the_field(
    weather_app: WeatherApp, path: str, query: dict[str, Any], field: str
) -> None:
    async with weather_app() as (_, client):
        response = await client.get(path, params=query)

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    assert [problem["field"] for problem in body["detail"]] == [field]


@pytest.mark.parametrize("where", [{"lat": 90, "lon": 180}, {"lat": -90, "lon": -180}])
async def test_the_extreme_coordinates_are_answered(
    weather_app: WeatherApp, where: dict[str, float]
) -> None:
    async with weather_app() as (_, client):
        reading = await get_weather(client, where)

    assert reading["source"] == "synthetic"


# -- legacy route ------------------------------------------------------------------------------


async def test_legacy_route_answers_the_original_shape_from_the_same_reading(
    weather_app: WeatherApp,
) -> None:
    async with weather_app() as (_, client):
        legacy = (await client.get("/", params=LULEA)).json()
        reading = await get_weather(client, LULEA)

    assert set(legacy) == {"lat", "lon", "temp", "speed", "last_updated"}
    assert legacy["lat"] == LULEA["lat"] and legacy["lon"] == LULEA["lon"]
    assert legacy["temp"] == reading["temperature_c"]
    assert legacy["speed"] == reading["wind_speed_ms"]
    assert legacy["last_updated"] == reading["time"]


async def test_legacy_route_answers_celsius_from_openweathermap(
    weather_app: WeatherApp, upstream: dict[str, Any]
) -> None:
    async with weather_app(**upstream) as (_, client):
        legacy = (await client.get("/", params=LULEA)).json()

    assert legacy["temp"] == fake.TEMPERATURE_C
    assert legacy["speed"] == fake.WIND_SPEED_MS


# -- OpenWeatherMap --------------------------------------------------------------------------


async def test_openweathermap_reading_maps_fields_and_units(
    weather_app: WeatherApp, upstream: dict[str, Any]
) -> None:
    async with weather_app(**upstream) as (_, client):
        reading = await get_weather(client, LULEA)

    assert reading["source"] == "openweathermap"
    assert reading["stale"] is False
    assert (reading["lat"], reading["lon"]) == (LULEA["lat"], LULEA["lon"])
    assert reading["wind_speed_ms"] == fake.WIND_SPEED_MS
    assert reading["wind_direction_deg"] == fake.WIND_DIRECTION_DEG
    assert reading["temperature_c"] == fake.TEMPERATURE_C
    assert datetime.fromisoformat(reading["time"]).timestamp() == fake.OBSERVED_UNIX_S


async def test_openweathermap_is_asked_in_metric_units_with_the_key_for_the_rounded_place(
    weather_app: WeatherApp, upstream: dict[str, Any], openweathermap: FakeOpenWeatherMap
) -> None:
    async with weather_app(**upstream) as (_, client):
        await get_weather(client, LULEA)

    assert openweathermap.calls == [
        {"lat": "65.6", "lon": "22.2", "appid": API_KEY, "units": "metric"}
    ]


async def test_second_request_within_cache_seconds_makes_no_call(
    weather_app: WeatherApp,
    upstream: dict[str, Any],
    openweathermap: FakeOpenWeatherMap,
    monotonic: FakeMonotonic,
) -> None:
    async with weather_app(**upstream, cache_seconds=600) as (_, client):
        first = await get_weather(client, LULEA)
        monotonic.advance(599)
        second = await get_weather(client, LULEA)

    assert openweathermap.call_count == 1
    assert first == second
    assert second["stale"] is False


async def test_request_after_cache_expiry_calls_again(
    weather_app: WeatherApp,
    upstream: dict[str, Any],
    openweathermap: FakeOpenWeatherMap,
    monotonic: FakeMonotonic,
) -> None:
    async with weather_app(**upstream, cache_seconds=600) as (_, client):
        await get_weather(client, LULEA)
        monotonic.advance(600)
        reading = await get_weather(client, LULEA)

    assert openweathermap.call_count == 2
    assert reading["stale"] is False


async def test_concurrent_requests_for_one_place_share_one_call(
    weather_app: WeatherApp, upstream: dict[str, Any], openweathermap: FakeOpenWeatherMap
) -> None:
    openweathermap.behaviour, openweathermap.delay_s = "slow", 0.2
    async with weather_app(**upstream) as (_, client):
        readings = await asyncio.gather(*(get_weather(client, LULEA) for _ in range(5)))

    assert openweathermap.call_count == 1
    assert all(r["source"] == "openweathermap" and not r["stale"] for r in readings)


async def test_call_budget_is_never_exceeded(
    weather_app: WeatherApp, upstream: dict[str, Any], openweathermap: FakeOpenWeatherMap
) -> None:
    async with weather_app(**upstream, calls_per_minute=3) as (_, client):
        response = await client.post("/api/weather/batch", json={"locations": locations(10)})
        single = await get_weather(client, {"lat": 10.0, "lon": 10.0})

    readings = response.json()["readings"]
    assert openweathermap.call_count == 3
    fetched = [r for r in readings if r["source"] == "openweathermap"]
    assert len(fetched) == 3 and not any(r["stale"] for r in fetched)
    modelled = [r for r in readings if r["source"] == "synthetic"]
    assert len(modelled) == 7 and all(r["stale"] for r in modelled)
    assert single["source"] == "synthetic" and single["stale"] is True


async def test_call_budget_is_refilled_a_minute_later(
    weather_app: WeatherApp,
    upstream: dict[str, Any],
    openweathermap: FakeOpenWeatherMap,
    monotonic: FakeMonotonic,
) -> None:
    async with weather_app(**upstream, calls_per_minute=3) as (_, client):
        await client.post("/api/weather/batch", json={"locations": locations(3)})
        monotonic.advance(60)
        reading = await get_weather(client, LULEA)

    assert openweathermap.call_count == 4
    assert reading["source"] == "openweathermap" and reading["stale"] is False


async def test_spent_budget_answers_the_expired_value_stale(
    weather_app: WeatherApp,
    upstream: dict[str, Any],
    openweathermap: FakeOpenWeatherMap,
    monotonic: FakeMonotonic,
) -> None:
    async with weather_app(**upstream, calls_per_minute=1, cache_seconds=10) as (_, client):
        await get_weather(client, LULEA)
        monotonic.advance(30)
        reading = await get_weather(client, LULEA)

    assert openweathermap.call_count == 1
    assert reading["source"] == "openweathermap" and reading["stale"] is True


FAILURES = ["401", "429", "slow", "malformed", "missing", "negative_wind"]


@pytest.mark.parametrize("behaviour", FAILURES)
async def test_failure_answers_the_last_good_value_stale(
    weather_app: WeatherApp,
    upstream: dict[str, Any],
    openweathermap: FakeOpenWeatherMap,
    monotonic: FakeMonotonic,
    behaviour: Any,
) -> None:
    async with weather_app(**upstream, request_timeout_seconds=0.1) as (_, client):
        good = await get_weather(client, LULEA)
        monotonic.advance(600)
        openweathermap.behaviour, openweathermap.delay_s = behaviour, 0.5
        reading = await get_weather(client, LULEA)

    assert openweathermap.call_count == 2
    assert reading == {**good, "stale": True}


@pytest.mark.parametrize("behaviour", FAILURES)
async def test_failure_without_a_good_value_answers_the_model_stale(
    weather_app: WeatherApp,
    upstream: dict[str, Any],
    openweathermap: FakeOpenWeatherMap,
    behaviour: Any,
) -> None:
    openweathermap.behaviour, openweathermap.delay_s = behaviour, 0.5
    async with weather_app(**upstream, request_timeout_seconds=0.1) as (_, client):
        reading = await get_weather(client, LULEA)
    async with weather_app() as (_, client):
        synthetic = await get_weather(client, LULEA)

    assert openweathermap.call_count == 1
    assert reading == {**synthetic, "stale": True}


async def test_unreachable_openweathermap_answers_the_model_stale(
    weather_app: WeatherApp,
) -> None:
    async with weather_app(openweather_api_key=API_KEY, openweather_url="http://127.0.0.1:9") as (
        _,
        client,
    ):
        reading = await get_weather(client, LULEA)

    assert reading["source"] == "synthetic" and reading["stale"] is True


@pytest.mark.parametrize("behaviour", ["401", "429"])
async def test_refused_calls_back_off_for_a_minute(
    weather_app: WeatherApp,
    upstream: dict[str, Any],
    openweathermap: FakeOpenWeatherMap,
    monotonic: FakeMonotonic,
    behaviour: Any,
) -> None:
    openweathermap.behaviour = behaviour
    async with weather_app(**upstream) as (_, client):
        await get_weather(client, LULEA)
        await get_weather(client, BODEN)
        openweathermap.behaviour = "ok"
        monotonic.advance(60)
        reading = await get_weather(client, BODEN)

    assert openweathermap.call_count == 2
    assert reading["source"] == "openweathermap" and reading["stale"] is False


async def test_logs_never_hold_the_key_and_repeat_failures_are_logged_once(
    weather_app: WeatherApp,
    upstream: dict[str, Any],
    openweathermap: FakeOpenWeatherMap,
    monotonic: FakeMonotonic,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with weather_app(**upstream, cache_seconds=0) as (_, client):
        await get_weather(client, LULEA)
        openweathermap.behaviour = "malformed"
        for _ in range(3):
            await get_weather(client, LULEA)

    messages = [record.getMessage() for record in caplog.records]
    assert any("HTTP Request" in message for message in messages)  # httpx logged the calls
    assert not any(API_KEY in message for message in messages)
    assert len([m for m in messages if "not JSON" in m]) == 1


# -- health ------------------------------------------------------------------------------------


async def test_health_shows_no_tick_loop(weather_app: WeatherApp) -> None:
    async with weather_app() as (_, client):
        response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["service"] == "weather"
    assert response.json()["tick"] is None


async def test_every_route_is_documented(weather_app: WeatherApp) -> None:
    async with weather_app() as (_, client):
        schema = (await client.get("/openapi.json")).json()

    for path, method in [("/api/weather", "get"), ("/api/weather/batch", "post"), ("/", "get")]:
        operation = schema["paths"][path][method]
        assert operation["description"]
        assert "422" in operation["responses"]
