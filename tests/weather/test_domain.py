"""The weather rules without a server: the synthetic field, payload parsing, budget, cache."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from services.common.clock import later
from services.weather import domain
from services.weather.domain import (
    BadPayload,
    CallBudget,
    Observation,
    ObservationCache,
    SyntheticField,
    location_key,
    parse_openweathermap,
)
from tests.weather.conftest import START, FakeMonotonic
from tests.weather.fake_openweathermap import ok_payload

LULEA = (65.584, 22.154)


def circular_steps_deg(directions: np.ndarray) -> np.ndarray:
    return np.abs((np.diff(directions) + 180.0) % 360.0 - 180.0)


def assert_no_jumps(field: SyntheticField, lat: np.ndarray, lon: np.ndarray) -> None:
    """Along a path of points 0.005° apart, neighbouring values stay close."""
    conditions = field.at(lat, lon, START)
    assert np.abs(np.diff(conditions.wind_speed_ms)).max() < 0.1
    assert np.abs(np.diff(conditions.temperature_c)).max() < 0.1
    assert circular_steps_deg(conditions.wind_direction_deg).max() < 2.0


# -- synthetic field ---------------------------------------------------------------------------


def test_same_seed_and_times_give_the_same_values() -> None:
    first, second = SyntheticField(3), SyntheticField(3)
    times = [START, later(START, 60), later(START, 3600)]

    for at in times:
        a, b = (
            first.at([LULEA[0], 10.0], [LULEA[1], 10.0], at),
            second.at([LULEA[0], 10.0], [LULEA[1], 10.0], at),
        )
        np.testing.assert_array_equal(a.wind_speed_ms, b.wind_speed_ms)
        np.testing.assert_array_equal(a.wind_direction_deg, b.wind_direction_deg)
        np.testing.assert_array_equal(a.temperature_c, b.temperature_c)


def test_different_seeds_give_different_values() -> None:
    a = SyntheticField(3).at([LULEA[0]], [LULEA[1]], START)
    b = SyntheticField(4).at([LULEA[0]], [LULEA[1]], START)

    assert a.wind_speed_ms[0] != b.wind_speed_ms[0]


def test_values_are_physical_everywhere() -> None:
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-90, 90, 60), rng.uniform(-180, 180, 60)

    conditions = SyntheticField(7, max_tiles=1000).at(lat, lon, START)

    assert np.all(conditions.wind_speed_ms >= 0)
    assert np.all((conditions.wind_direction_deg >= 0) & (conditions.wind_direction_deg < 360))
    assert np.all(np.isfinite(conditions.temperature_c))


def test_continuous_across_a_tile_edge_of_latitude() -> None:
    edge = 66.0  # -90 + 39 x 4
    lat = np.linspace(edge - 1.5, edge + 1.5, 601)

    assert_no_jumps(SyntheticField(7), lat, np.full_like(lat, 22.154))


def test_continuous_across_a_tile_edge_of_longitude() -> None:
    edge = 20.0  # -180 + 25 x 8
    lon = np.linspace(edge - 1.5, edge + 1.5, 601)

    assert_no_jumps(SyntheticField(7), np.full_like(lon, 65.584), lon)


def test_continuous_at_a_tile_corner() -> None:
    offsets = np.linspace(-1.5, 1.5, 601)

    assert_no_jumps(SyntheticField(7), 66.0 + offsets, 20.0 + offsets)


def test_continuous_across_the_antimeridian() -> None:
    lon = np.linspace(178.5, 181.5, 601)
    lon = (lon + 180.0) % 360.0 - 180.0

    assert_no_jumps(SyntheticField(7), np.full_like(lon, 10.0), lon)


def test_both_sides_of_a_tile_edge_agree() -> None:
    field = SyntheticField(7)

    conditions = field.at([66.0 - 1e-9, 66.0 + 1e-9], [22.154, 22.154], START)

    assert conditions.wind_speed_ms[0] == pytest.approx(conditions.wind_speed_ms[1], abs=1e-6)
    assert conditions.temperature_c[0] == pytest.approx(conditions.temperature_c[1], abs=1e-6)


def test_plus_and_minus_180_are_the_same_place() -> None:
    conditions = SyntheticField(7).at([10.0, 10.0], [180.0, -180.0], START)

    assert conditions.wind_speed_ms[0] == conditions.wind_speed_ms[1]
    assert conditions.temperature_c[0] == conditions.temperature_c[1]


def test_a_point_away_from_tile_edges_uses_one_tile() -> None:
    field = SyntheticField(7)

    field.at([60.0], [16.0], START)  # the centre of the tile 58-62 N, 12-20 E

    assert field.tile_count == 1


def test_live_tiles_are_capped() -> None:
    field = SyntheticField(7, max_tiles=2)
    centres_lat, centres_lon = [62.0, 2.0, -30.0, 42.0, 62.0], [16.0, 16.0, 16.0, -100.0, 16.0]

    for lat, lon in zip(centres_lat, centres_lon, strict=True):
        field.at([lat], [lon], START)
        assert field.tile_count <= 2


def test_time_going_back_answers_the_latest_values() -> None:
    field = SyntheticField(7)
    latest = field.at([LULEA[0]], [LULEA[1]], later(START, 600))

    earlier = field.at([LULEA[0]], [LULEA[1]], START)

    assert earlier.time == latest.time
    assert earlier.wind_speed_ms[0] == latest.wind_speed_ms[0]


def test_a_new_tile_joins_at_the_common_time() -> None:
    field = SyntheticField(7)
    field.at([LULEA[0]], [LULEA[1]], later(START, 600))

    elsewhere = field.at([-30.0], [16.0], START)

    assert elsewhere.time == later(START, 600)


@pytest.mark.parametrize(
    ("lat", "lon"), [([91.0], [0.0]), ([0.0], [math.nan]), ([0.0, 1.0], [0.0])]
)
def test_field_refuses_bad_locations(lat: list[float], lon: list[float]) -> None:
    with pytest.raises(ValueError):
        SyntheticField(7).at(lat, lon, START)


def test_tile_seeds_differ_between_tiles_and_seeds() -> None:
    seeds = {
        domain.tile_seed(seed, row, column)
        for seed in (1, 2)
        for row, column in [(0, 0), (0, 1), (1, 0)]
    }

    assert len(seeds) == 6


# -- OpenWeatherMap payload -------------------------------------------------------------------


def payload(**changes: Any) -> dict[str, Any]:
    """A metric current-weather answer at Luleå, with top-level keys replaced."""
    return {**ok_payload(65.6, 22.2, metric=True), **changes}


def test_parse_maps_wind_temperature_and_time() -> None:
    observation = parse_openweathermap(
        payload(wind={"speed": 4.5, "deg": 90, "gust": 7}, main={"temp": -3.25}, dt=1_700_000_000)
    )

    assert observation == Observation(
        wind_speed_ms=4.5,
        wind_direction_deg=90.0,
        temperature_c=-3.25,
        time=datetime.fromtimestamp(1_700_000_000, UTC),
    )


def test_parse_reads_a_missing_wind_direction_as_zero() -> None:
    observation = parse_openweathermap(payload(wind={"speed": 0.5}))

    assert observation.wind_direction_deg == 0.0


def test_parse_reads_360_degrees_as_0() -> None:
    assert parse_openweathermap(payload(wind={"speed": 1, "deg": 360})).wind_direction_deg == 0


@pytest.mark.parametrize(
    "body",
    [
        payload(wind={"speed": -0.1, "deg": 10}),
        payload(wind={"speed": math.nan, "deg": 10}),
        payload(wind={"speed": math.inf, "deg": 10}),
        payload(wind={"speed": "5", "deg": 10}),
        payload(wind={"speed": True, "deg": 10}),
        payload(wind={"deg": 10}),
        payload(wind={"speed": 1, "deg": "west"}),
        payload(wind=None),
        payload(main={"pressure": 1000}),
        payload(main={"temp": math.nan}),
        payload(dt=None),
        payload(dt=1e30),
        {k: v for k, v in payload().items() if k != "main"},
        ["not", "an", "object"],
        None,
    ],
    ids=[
        "negative-speed",
        "nan-speed",
        "inf-speed",
        "string-speed",
        "bool-speed",
        "missing-speed",
        "string-direction",
        "null-wind",
        "missing-temp",
        "nan-temp",
        "null-dt",
        "huge-dt",
        "missing-main",
        "a-list",
        "null",
    ],
)
def test_parse_refuses_an_unusable_payload(body: Any) -> None:
    with pytest.raises(BadPayload):
        parse_openweathermap(body)


# -- location key, budget, cache ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon", "key"),
    [
        (65.584, 22.154, (65.6, 22.2)),
        (65.549, 22.149, (65.5, 22.1)),
        (-0.04, -0.04, (0.0, 0.0)),
        (10.0, 179.96, (10.0, -180.0)),
        (10.0, -180.0, (10.0, -180.0)),
    ],
)
def test_location_key_rounds_to_a_tenth_of_a_degree(
    lat: float, lon: float, key: tuple[float, float]
) -> None:
    assert location_key(lat, lon) == key
    assert str(location_key(lat, lon)[1]) == str(key[1])  # no "-0.0"


def test_budget_allows_calls_per_rolling_minute() -> None:
    monotonic = FakeMonotonic()
    budget = CallBudget(3, monotonic=monotonic)

    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]
    monotonic.advance(59.9)
    assert not budget.try_spend()
    monotonic.advance(0.1)
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]


def test_budget_spends_nothing_while_paused() -> None:
    monotonic = FakeMonotonic()
    budget = CallBudget(3, monotonic=monotonic)

    budget.pause(30)

    assert not budget.try_spend()
    monotonic.advance(30)
    assert budget.try_spend()


def test_cache_drops_the_least_recently_used_beyond_its_capacity() -> None:
    cache = ObservationCache(capacity=2)
    observation = Observation(1.0, 2.0, 3.0, datetime.fromtimestamp(0, UTC))
    cache.put((1.0, 1.0), observation, 0.0)
    cache.put((2.0, 2.0), observation, 0.0)
    cache.get((1.0, 1.0))

    cache.put((3.0, 3.0), observation, 0.0)

    assert len(cache) == 2
    assert cache.get((2.0, 2.0)) is None
    assert cache.get((1.0, 1.0)) is not None
