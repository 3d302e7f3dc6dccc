"""The whole grid stepped together: energy conservation, bounds, determinism."""

from __future__ import annotations

import math
from dataclasses import astuple, replace
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.physics import market
from services.physics.grid import GridModel, Scenario, TickTotals

SMALL = Scenario(prosumers=60, consumers=12, plants=1, sites=3)


def assert_tick_is_sane(model: GridModel, totals: TickTotals) -> None:
    assert totals.balance_error() <= 1e-9
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in astuple(totals))
    battery = model.prosumers.battery
    assert np.all(battery.stored_kwh >= 0) and np.all(battery.stored_kwh <= battery.capacity_kwh)
    buffer = model.plants.buffer
    assert np.all(buffer.stored_kwh >= 0) and np.all(buffer.stored_kwh <= buffer.capacity_kwh)
    assert totals.price_sek_per_kwh >= 0


@given(
    seed=st.integers(0, 2**32 - 1),
    prosumers=st.integers(0, 80),
    consumers=st.integers(0, 20),
    plants=st.integers(0, 2),
    dt_s=st.floats(1.0, 900.0),
    month=st.integers(1, 12),
)
@settings(max_examples=40, deadline=None)
def test_every_tick_conserves_energy_and_keeps_batteries_in_bounds(
    seed, prosumers, consumers, plants, dt_s, month
):
    scenario = Scenario(
        prosumers=prosumers,
        consumers=consumers,
        plants=plants,
        seed=seed,
        sites=3,
        start=datetime(2026, month, 10, 17),
    )
    model = GridModel(scenario)
    for _ in range(5):
        assert_tick_is_sane(model, model.tick(dt_s))


def test_a_simulated_day_conserves_energy_in_total_and_in_the_batteries():
    model = GridModel(SMALL)
    dt_h = 60.0 / 3600.0
    stored_before = model.prosumers.battery.stored_kwh.sum() + model.plants.buffer.stored_kwh.sum()
    supply_kwh = use_kwh = stored_by_flows_kwh = 0.0
    for _ in range(24 * 60):
        totals = model.tick(60.0)
        assert_tick_is_sane(model, totals)
        supply_kwh += totals.supply_kw() * dt_h
        use_kwh += totals.use_kw() * dt_h
        stored_by_flows_kwh += (
            totals.battery_charge_kw - totals.battery_discharge_kw - totals.battery_losses_kw
        ) * dt_h
    assert abs(supply_kwh - use_kwh) <= 1e-9 * supply_kwh
    stored_change_kwh = totals.battery_energy_kwh - stored_before
    assert abs(stored_change_kwh - stored_by_flows_kwh) <= 1e-9 * max(totals.battery_energy_kwh, 1)


def test_same_seed_gives_identical_runs_and_another_seed_does_not():
    def run(seed: int) -> list[tuple]:
        model = GridModel(replace(SMALL, seed=seed))
        return [astuple(model.tick(60.0)) for _ in range(120)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_without_plants_the_evening_peak_sheds_consumers_at_the_scarcity_price():
    scenario = replace(SMALL, plants=0, start=datetime(2026, 1, 15, 18))
    model = GridModel(scenario)
    model.prosumers.turbine_on[:] = False
    totals = model.tick(60.0)
    assert totals.unserved_kw > 0
    assert totals.blackout_consumers > 0
    assert totals.price_sek_per_kwh == market.SCARCITY_CAP_SEK_PER_KWH
    assert totals.balance_error() <= 1e-9


def test_a_manager_price_override_is_the_price_in_force():
    model = GridModel(SMALL)
    model.price_override_sek_per_kwh = 2.5
    assert model.tick(60.0).price_sek_per_kwh == 2.5


def test_stopping_the_plant_brings_its_production_to_zero_and_its_buffer_online():
    model = GridModel(replace(SMALL, dispatch=False))
    model.tick(1.0)
    model.plants.on[:] = False
    states = [model.tick(1.0).plant_state for _ in range(200)]
    assert states[0] == 3 and states[-1] == 0
    assert model.plants.production_kw[0] == 0.0
    assert model.plants.buffer_offer_kw(1 / 3600)[0] > 0


@pytest.mark.parametrize("bad_step", [0.0, -1.0])
def test_a_non_positive_step_is_refused(bad_step):
    with pytest.raises(ValueError):
        GridModel(SMALL).tick(bad_step)


def test_the_grid_runs_through_the_spring_clock_change():
    model = GridModel(replace(SMALL, start=datetime(2026, 3, 29, 1, 30)))
    times = [model.tick(600.0).time for _ in range(12)]
    assert all(b > a for a, b in zip(times, times[1:], strict=False))
    assert times[-1].utcoffset() != times[0].utcoffset()
