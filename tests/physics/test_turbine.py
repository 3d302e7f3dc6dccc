"""The turbine: published curve shape, hub-height correction, breakdowns."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from services.physics import turbine


def test_curve_is_normalised_to_its_maximum_and_starts_at_cut_in():
    curve = turbine.bergey_excel_10()
    assert curve.power_fraction.max() == 1.0
    assert curve.power_fraction.min() >= 0.0
    assert curve.cut_in_ms == 2.5
    assert 15.0 <= curve.rated_ms <= 17.0


def test_curve_matches_the_published_bergey_points():
    curve = turbine.bergey_excel_10()
    # Bergey Excel 10: 8.863 kW at 11 m/s of a 12.555 kW maximum.
    assert abs(curve.fraction(np.array([11.0]))[0] - 8.863 / 12.555) < 1e-6


def test_power_grows_about_with_the_cube_of_wind_below_rated():
    curve = turbine.bergey_excel_10()
    low, high = curve.fraction(np.array([5.0, 10.0]))
    assert 6.0 < high / low < 10.0


def test_no_power_below_cut_in_or_from_cut_out():
    curve = turbine.bergey_excel_10()
    result = curve.fraction(np.array([0.0, 2.0, 24.9, 25.0, 40.0]))
    assert result[0] == result[1] == 0.0
    assert result[2] > 0.8
    assert result[3] == result[4] == 0.0


@given(st.floats(0, 60))
def test_fraction_is_always_between_zero_and_one(wind):
    value = turbine.bergey_excel_10().fraction(np.array([wind]))[0]
    assert 0.0 <= value <= 1.0


def test_hub_height_wind_follows_the_hellman_law():
    factor = turbine.hub_height_factor(np.array([10.0, 30.0]))
    assert factor[0] == 1.0
    assert abs(factor[1] - 3.0 ** (1 / 7)) < 1e-12


def test_site_table_is_read_by_site_and_tower_index():
    wind = np.array([4.0, 9.0])
    table = turbine.site_power_fraction(wind)
    index = turbine.site_tower_index(np.array([1]), np.array([2]), len(turbine.TOWER_HEIGHTS_M))
    expected = turbine.bergey_excel_10().fraction(np.array([9.0 * turbine.hub_height_factor(49.0)]))
    assert table[index][0] == expected[0]


def test_breakdowns_happen_at_the_configured_rate_and_get_repaired():
    rng = np.random.default_rng(1)
    repair_at = np.full(100_000, -np.inf)
    failed = turbine.breakdowns(
        rng,
        repair_at,
        now_s=0.0,
        dt_s=3600.0,
        mean_time_between_failures_h=100.0,
        mean_repair_time_h=10.0,
    )
    # 1 - exp(-1/100) of 100,000 is about 995.
    assert 850 < failed < 1150
    broken = repair_at > 0
    assert broken.sum() == failed
    assert 8 * 3600 < repair_at[broken].mean() < 12 * 3600


def test_broken_turbines_do_not_break_again():
    rng = np.random.default_rng(2)
    repair_at = np.full(10, 1e9)
    assert turbine.breakdowns(rng, repair_at, 0.0, 3600.0, 0.001, 1.0) == 0
    assert np.all(repair_at == 1e9)
