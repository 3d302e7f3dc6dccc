"""Tests of the synthetic weather model: helpers, invariants and its documented statistics."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.physics import weather
from services.physics.weather import SyntheticWeather, WeatherSample

STOCKHOLM = ZoneInfo("Europe/Stockholm")
KM_PER_DEGREE_LATITUDE = 2 * math.pi * weather.EARTH_RADIUS_KM / 360.0
LULEA = (weather.LULEA_LATITUDE_DEG, weather.LULEA_LONGITUDE_DEG)


def north_of_lulea(distance_km: float) -> tuple[float, float]:
    """A point ``distance_km`` due north (negative: south) of Luleå."""
    return LULEA[0] + distance_km / KM_PER_DEGREE_LATITUDE, LULEA[1]


def make_weather(
    points: list[tuple[float, float]] | None = None,
    seed: int = 7,
    start: datetime = datetime(2025, 1, 1, tzinfo=STOCKHOLM),
) -> SyntheticWeather:
    """A model over ``points`` (default: Luleå alone)."""
    points = points or [LULEA]
    return SyntheticWeather([p[0] for p in points], [p[1] for p in points], seed=seed, start=start)


def times_from(start: datetime, step: timedelta, count: int) -> list[datetime]:
    """``count`` Stockholm times ``step`` apart in absolute time.

    The arithmetic is done in UTC: adding a timedelta to a Europe/Stockholm datetime is
    wall-clock arithmetic, which goes back an hour across the spring DST change.
    """
    utc = start.astimezone(UTC)
    return [(utc + i * step).astimezone(STOCKHOLM) for i in range(count)]


# -- pure helpers ---------------------------------------------------------------------------------


def test_haversine_one_degree_of_latitude_is_111_km() -> None:
    assert weather.haversine_km(60.0, 20.0, 61.0, 20.0) == pytest.approx(111.195, abs=0.01)


def test_haversine_equator_to_pole_is_a_quarter_circumference() -> None:
    quarter = math.pi * weather.EARTH_RADIUS_KM / 2
    assert weather.haversine_km(0.0, 0.0, 90.0, 123.0) == pytest.approx(quarter)


def test_haversine_is_symmetric_and_zero_on_the_diagonal() -> None:
    lat, lon = [65.58, 59.33, 67.86], [22.15, 18.07, 20.23]
    distances = weather.distance_matrix_km(lat, lon)
    assert np.allclose(distances, distances.T)
    assert np.allclose(np.diag(distances), 0.0)


def test_correlation_decays_exponentially_with_distance() -> None:
    lat, lon = [65.58, 65.58 + 1.0, 55.0], [22.15, 22.15, 13.0]
    corr = weather.correlation_matrix(lat, lon, 300.0)
    assert np.allclose(np.diag(corr), 1.0)
    assert corr[0, 1] == pytest.approx(math.exp(-111.195 / 300.0), rel=1e-4)
    assert np.all(np.linalg.eigvalsh(corr) > 0)


def test_cholesky_reproduces_the_correlation_even_for_coincident_locations() -> None:
    corr = weather.correlation_matrix([65.0, 65.0, 66.0], [22.0, 22.0, 22.0], 200.0)
    factor = weather.correlation_cholesky(corr)
    assert np.allclose(factor @ factor.T, corr, atol=1e-8)


def test_seasonal_wind_peaks_in_december_and_averages_the_annual_mean() -> None:
    days = np.arange(1, 366)
    mean = weather.seasonal_mean_wind_ms(days)
    assert days[np.argmax(mean)] == 349
    assert mean.max() == pytest.approx(4.8, abs=0.01)
    assert mean.min() == pytest.approx(3.2, abs=0.01)
    assert mean.mean() == pytest.approx(weather.WIND_ANNUAL_MEAN_MS, abs=0.01)


def test_weibull_from_normal_has_the_seasons_mean_and_weibull_median() -> None:
    normals = np.random.default_rng(0).standard_normal(100_000)
    scale = float(weather.seasonal_weibull_scale_ms(15.0))
    values = weather.weibull_from_normal(normals, scale)
    assert values.mean() == pytest.approx(weather.seasonal_mean_wind_ms(15.0), rel=0.01)
    median = weather.weibull_from_normal(0.0, scale)[0]
    assert median == pytest.approx(scale * math.log(2.0) ** (1 / weather.WEIBULL_SHAPE))
    assert np.all(weather.weibull_from_normal([-40.0, 40.0], scale) >= 0)


def test_temperature_climatology_matches_lulea_normals() -> None:
    # SMHI normals, about -10 to -11 °C in January and +16 °C in July (module docstring).
    january = weather.temperature_mean_c(np.arange(1, 32)).mean()
    july = weather.temperature_mean_c(np.arange(182, 213)).mean()
    assert -11.5 < january < -9.5
    assert 15.0 < july < 17.0


def test_diurnal_cycle_is_coldest_at_five_warmest_at_fifteen_and_averages_zero() -> None:
    hours = np.linspace(0, 24, 24 * 60, endpoint=False)
    shape = weather.diurnal_shape(hours)
    assert hours[np.argmin(shape)] == pytest.approx(5.0)
    assert hours[np.argmax(shape)] == pytest.approx(15.0)
    assert shape.mean() == pytest.approx(0.0, abs=1e-9)
    assert np.max(np.abs(np.diff(np.append(shape, shape[0])))) < 0.01


def test_diurnal_amplitude_is_smaller_in_winter() -> None:
    assert weather.diurnal_amplitude_c(15.0) < 1.5 < 3.5 < weather.diurnal_amplitude_c(172.0)


def test_day_of_year_is_continuous_across_new_year() -> None:
    before = weather.day_of_year(datetime(2025, 12, 31, 23, 59, tzinfo=ZoneInfo("UTC")))
    after = weather.day_of_year(datetime(2026, 1, 1, 0, 1, tzinfo=ZoneInfo("UTC")))
    gap = (after - before) % weather.TROPICAL_YEAR_DAYS
    assert gap == pytest.approx(2 / 1440, abs=1e-6)


def test_ou_step_of_zero_keeps_the_value_and_a_long_step_forgets_it() -> None:
    x = np.array([3.0, -2.0])
    assert np.allclose(weather.ornstein_uhlenbeck_step(x, 5.0, 1.0, 0.0, 10.0, [9.0, 9.0]), x)
    far = weather.ornstein_uhlenbeck_step(x, 5.0, 2.0, 1e6, 10.0, [1.0, -1.0])
    assert np.allclose(far, [7.0, 3.0])


def test_ou_step_has_the_exact_transition_variance() -> None:
    normals = np.random.default_rng(1).standard_normal(200_000)
    stepped = weather.ornstein_uhlenbeck_step(0.0, 0.0, 2.0, 3.0, 6.0, normals)
    assert stepped.var() == pytest.approx(4.0 * (1 - math.exp(-1.0)), rel=0.02)


# -- the model: invariants ------------------------------------------------------------------------

latitudes = st.floats(-85.0, 85.0)
longitudes = st.floats(-180.0, 180.0)
locations = st.lists(st.tuples(latitudes, longitudes), min_size=1, max_size=6)
steps_s = st.lists(st.floats(0.0, 10 * 86400.0), min_size=1, max_size=15)
seeds = st.integers(0, 2**63)
starts = st.datetimes(datetime(2000, 1, 1), datetime(2060, 1, 1))


def sample_path(
    points: list[tuple[float, float]], seed: int, start: datetime, steps: list[float]
) -> list[WeatherSample]:
    model = make_weather(points, seed=seed, start=start)
    at = start.replace(tzinfo=STOCKHOLM).astimezone(UTC)
    samples = [model.sample(at)]
    for step in steps:
        at += timedelta(seconds=step)
        samples.append(model.sample(at))
    return samples


@settings(max_examples=40, deadline=None)
@given(points=locations, seed=seeds, start=starts, steps=steps_s)
def test_samples_are_finite_in_range_and_shaped_per_location(
    points: list[tuple[float, float]], seed: int, start: datetime, steps: list[float]
) -> None:
    for sample in sample_path(points, seed, start, steps):
        assert sample.wind_speed_ms.shape == (len(points),)
        for values in (sample.wind_speed_ms, sample.wind_direction_deg, sample.temperature_c):
            assert np.all(np.isfinite(values))
        assert np.all(sample.wind_speed_ms >= 0)
        assert np.all((sample.wind_direction_deg >= 0) & (sample.wind_direction_deg < 360))
        assert np.all((sample.temperature_c > -70) & (sample.temperature_c < 50))


@settings(max_examples=25, deadline=None)
@given(points=locations, seed=seeds, start=starts, steps=steps_s)
def test_same_seed_and_times_give_identical_weather(
    points: list[tuple[float, float]], seed: int, start: datetime, steps: list[float]
) -> None:
    first = sample_path(points, seed, start, steps)
    second = sample_path(points, seed, start, steps)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.wind_speed_ms, b.wind_speed_ms)
        assert np.array_equal(a.wind_direction_deg, b.wind_direction_deg)
        assert np.array_equal(a.temperature_c, b.temperature_c)


def test_different_seeds_give_different_weather() -> None:
    at = datetime(2025, 1, 2, tzinfo=STOCKHOLM)
    first, second = make_weather(seed=1).sample(at), make_weather(seed=2).sample(at)
    assert not np.array_equal(first.wind_speed_ms, second.wind_speed_ms)
    assert not np.array_equal(first.temperature_c, second.temperature_c)


def test_sampling_the_same_time_again_returns_the_same_values() -> None:
    model = make_weather()
    at = datetime(2025, 1, 1, 6, tzinfo=STOCKHOLM)
    first = model.sample(at)
    again = model.sample(at.astimezone(ZoneInfo("UTC")))
    assert np.array_equal(first.wind_speed_ms, again.wind_speed_ms)
    assert np.array_equal(first.temperature_c, again.temperature_c)


def test_sampling_an_earlier_time_raises() -> None:
    model = make_weather()
    model.sample(datetime(2025, 1, 1, 6, tzinfo=STOCKHOLM))
    with pytest.raises(ValueError):
        model.sample(datetime(2025, 1, 1, 5, tzinfo=STOCKHOLM))


def test_wall_clock_arithmetic_across_spring_dst_is_not_forward_in_time() -> None:
    # Why callers must step in UTC: 02:30 on 30 March 2025 does not exist in Stockholm and
    # maps to 01:30 UTC, after 03:00 CEST (01:00 UTC).
    model = make_weather(start=datetime(2025, 3, 30, 1, tzinfo=STOCKHOLM))
    model.sample(datetime(2025, 3, 30, 1, tzinfo=STOCKHOLM) + timedelta(minutes=90))
    with pytest.raises(ValueError):
        model.sample(datetime(2025, 3, 30, 3, tzinfo=STOCKHOLM))


def test_a_naive_start_is_stockholm_time() -> None:
    naive = make_weather(start=datetime(2025, 1, 1))
    aware = make_weather(start=datetime(2025, 1, 1, tzinfo=STOCKHOLM))
    at = datetime(2025, 1, 1, 12, tzinfo=STOCKHOLM)
    assert np.array_equal(naive.sample(at).wind_speed_ms, aware.sample(at).wind_speed_ms)


def test_sample_arrays_are_read_only() -> None:
    sample = make_weather().sample(datetime(2025, 1, 1, tzinfo=STOCKHOLM))
    with pytest.raises(ValueError):
        sample.wind_speed_ms[0] = 1.0


@pytest.mark.parametrize(
    ("latitudes", "longitudes", "seed"),
    [([], [], 1), ([65.0, 66.0], [22.0], 1), ([95.0], [22.0], 1), ([65.0], [22.0], -1)],
)
def test_invalid_arguments_raise(
    latitudes: list[float], longitudes: list[float], seed: int
) -> None:
    with pytest.raises(ValueError):
        SyntheticWeather(latitudes, longitudes, seed=seed, start=datetime(2025, 1, 1))


def test_a_gap_of_a_year_is_fine() -> None:
    model = make_weather([LULEA, north_of_lulea(50.0)])
    sample = model.sample(datetime(2026, 2, 1, tzinfo=STOCKHOLM))
    assert np.all(np.isfinite(sample.temperature_c))


def test_daily_mean_changes_at_local_midnight() -> None:
    model = make_weather(start=datetime(2025, 3, 4, 12, tzinfo=STOCKHOLM))
    model.sample(datetime(2025, 3, 4, 23, 59, 59, tzinfo=STOCKHOLM))
    evening = model.daily_mean_wind_ms
    model.sample(datetime(2025, 3, 5, 0, 0, 0, tzinfo=STOCKHOLM))
    assert not np.array_equal(model.daily_mean_wind_ms, evening)


def test_no_jumps_between_one_minute_samples_across_midnights_and_dst() -> None:
    # Four days around the switch to summer time (30 March 2025), in the windy season.
    start = datetime(2025, 3, 28, 12, tzinfo=STOCKHOLM)
    model = make_weather([LULEA, north_of_lulea(20.0)], seed=11, start=start)
    samples = [model.sample(t) for t in times_from(start, timedelta(minutes=1), 4 * 1440)]
    wind = np.array([s.wind_speed_ms for s in samples])
    temperature = np.array([s.temperature_c for s in samples])
    direction = np.array([s.wind_direction_deg for s in samples])
    assert np.abs(np.diff(wind, axis=0)).max() < 1.5
    assert np.abs(np.diff(temperature, axis=0)).max() < 1.0
    turn = (np.diff(direction, axis=0) + 180.0) % 360.0 - 180.0
    assert np.abs(turn).max() < 30.0


# -- the model: documented statistics -------------------------------------------------------------


@pytest.fixture(scope="module")
def two_years() -> dict[str, np.ndarray]:
    """Hourly weather over two years at Luleå, 20 km north of it and 1000 km south of it."""
    start = datetime(2025, 1, 1, tzinfo=STOCKHOLM)
    model = make_weather(
        [LULEA, north_of_lulea(20.0), north_of_lulea(-1000.0)], seed=3, start=start
    )
    local = times_from(start, timedelta(hours=1), 2 * 8760)
    samples = [model.sample(t) for t in local]
    return {
        "wind": np.array([s.wind_speed_ms for s in samples]),
        "temperature": np.array([s.temperature_c for s in samples]),
        "month": np.array([t.month for t in local]),
        "hour": np.array([t.hour for t in local]),
    }


def test_overall_mean_wind_is_near_the_annual_mean(two_years: dict[str, np.ndarray]) -> None:
    # Documented annual mean 4.0 m/s at 10 m; allow ±15 % for two simulated years.
    assert 3.4 < two_years["wind"][:, 0].mean() < 4.6


def test_winter_is_windier_than_summer(two_years: dict[str, np.ndarray]) -> None:
    wind, month = two_years["wind"][:, 0], two_years["month"]
    winter = wind[np.isin(month, (12, 1, 2))].mean()
    summer = wind[np.isin(month, (6, 7, 8))].mean()
    assert winter > summer + 0.5


def test_hourly_wind_is_strongly_autocorrelated(two_years: dict[str, np.ndarray]) -> None:
    wind = two_years["wind"][:, 0]
    lag_one_hour = np.corrcoef(wind[:-1], wind[1:])[0, 1]
    assert 0.85 < lag_one_hour < 0.995


def test_wind_20_km_apart_correlates_strongly(two_years: dict[str, np.ndarray]) -> None:
    wind = two_years["wind"]
    assert np.corrcoef(wind[:, 0], wind[:, 1])[0, 1] > 0.85


def test_wind_1000_km_apart_correlates_weakly(two_years: dict[str, np.ndarray]) -> None:
    wind = two_years["wind"]
    assert abs(np.corrcoef(wind[:, 0], wind[:, 2])[0, 1]) < 0.35


def test_july_is_warmer_than_january_by_the_documented_amount(
    two_years: dict[str, np.ndarray],
) -> None:
    temperature, month = two_years["temperature"][:, 0], two_years["month"]
    documented = (
        weather.temperature_mean_c(np.arange(182, 213)).mean()
        - weather.temperature_mean_c(np.arange(1, 32)).mean()
    )
    simulated = temperature[month == 7].mean() - temperature[month == 1].mean()
    assert simulated == pytest.approx(documented, abs=5.0)


def test_afternoon_is_warmer_than_early_morning(two_years: dict[str, np.ndarray]) -> None:
    temperature, hour = two_years["temperature"][:, 0], two_years["hour"]
    difference = temperature[hour == 15].mean() - temperature[hour == 5].mean()
    # Documented: twice the mean half-range, 2 x 2.5 °C.
    assert 3.5 < difference < 6.5
