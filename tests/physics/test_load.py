"""Household load: the H0 profile, timefn, temperature, noise, clusters."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.physics import load
from services.physics.load import ConsumerClusters


def test_default_timefn_has_24_values_in_unit_range_peaking_at_one():
    timefn = load.default_timefn()
    assert timefn.shape == (24,)
    assert timefn.max() == 1.0 and timefn.min() >= 0.0


def test_h0_winter_workday_peaks_in_the_evening_well_above_its_mean():
    profile = load.h0_profiles()[("winter", "workday")]
    assert 17 <= int(np.argmax(profile)) <= 20
    assert 1.5 < profile.max() / profile.mean() < 2.1


def test_h0_profiles_average_to_about_one_over_a_year():
    means = [profile.mean() for profile in load.h0_profiles().values()]
    assert 0.85 < float(np.mean(means)) < 1.15


@pytest.mark.parametrize(
    ("day", "season"),
    [
        (date(2026, 1, 1), "winter"),
        (date(2026, 3, 20), "winter"),
        (date(2026, 3, 21), "transition"),
        (date(2026, 5, 15), "summer"),
        (date(2026, 9, 15), "transition"),
        (date(2026, 11, 1), "winter"),
    ],
)
def test_bdew_seasons(day, season):
    assert load.season(day) == season


def test_load_does_not_jump_on_the_hour():
    before = load.h0_factor(datetime(2026, 1, 14, 17, 59, 59))
    after = load.h0_factor(datetime(2026, 1, 14, 18, 0, 0))
    assert abs(after - before) < 1e-3


def test_heating_adds_load_only_below_seventeen_degrees():
    factor = load.heating_factor(np.array([20.0, 17.0, -11.0]), 0.03)
    assert factor.tolist() == [1.0, 1.0, pytest.approx(1.84)]


@pytest.mark.parametrize(
    "timefn",
    [[0.5] * 23, [0.5] * 25, [1.2] + [0.5] * 23, [-0.1] + [0.5] * 23, [float("nan")] + [0.5] * 23],
)
def test_timefn_must_be_24_numbers_in_unit_range(timefn):
    with pytest.raises(ValueError):
        load.validate_timefn(np.array(timefn))


def make_clusters(**overrides) -> ConsumerClusters:
    options = {"households": np.array([50.0, 50.0])}
    options.update(overrides)
    return ConsumerClusters.build(**options)


def test_cluster_demand_scales_with_households_and_profile():
    clusters = make_clusters(households=np.array([10.0, 40.0]), profile=np.array([1.0, 0.5]))
    clusters.noise[:] = 0.0
    demand = clusters.demand_kw(
        datetime(2026, 4, 1, 12), np.array([20.0]), np.random.default_rng(0), dt_s=1e-9
    )
    assert demand[1] == pytest.approx(2 * demand[0], rel=1e-6)


def test_cluster_timefn_gives_the_daily_shape():
    night_and_day = np.array([0.0] * 12 + [1.0] * 12)
    clusters = make_clusters(timefn=night_and_day)
    rng = np.random.default_rng(0)
    night = clusters.demand_kw(datetime(2026, 4, 1, 3), np.array([20.0]), rng, 1e-9)
    day = clusters.demand_kw(datetime(2026, 4, 1, 15), np.array([20.0]), rng, 1e-9)
    assert np.all(night == 0) and np.all(day > 0)


def test_an_all_zero_timefn_means_no_demand_not_an_error():
    clusters = make_clusters(timefn=np.zeros(24))
    demand = clusters.demand_kw(
        datetime(2026, 4, 1, 3), np.array([0.0]), np.random.default_rng(0), 60.0
    )
    assert np.all(demand == 0)


@given(seed=st.integers(0, 2**32 - 1), dt_s=st.floats(1, 3600))
def test_noise_keeps_demand_finite_and_non_negative(seed, dt_s):
    clusters = make_clusters(households=np.array([1.0, 1000.0]))
    rng = np.random.default_rng(seed)
    for hour in range(0, 24, 3):
        demand = clusters.demand_kw(datetime(2026, 2, 1, hour), np.array([-30.0]), rng, dt_s)
        assert np.all(np.isfinite(demand)) and np.all(demand >= 0)


def test_big_clusters_are_relatively_less_noisy():
    clusters = make_clusters(households=np.array([1.0, 10_000.0]))
    rng = np.random.default_rng(5)
    samples = np.array(
        [
            clusters.demand_kw(datetime(2026, 4, 1, 12), np.array([20.0]), rng, 3600.0)
            for _ in range(400)
        ]
    )
    relative_spread = samples.std(axis=0) / samples.mean(axis=0)
    assert relative_spread[1] < relative_spread[0] / 20
