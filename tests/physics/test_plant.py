"""Coal plant: states, start-up time, ramping, buffer, carbon."""

from __future__ import annotations

import numpy as np

from services.physics.battery import BatteryBank
from services.physics.plant import (
    PlantFleet,
    PlantState,
    emission_kg_per_kwh,
    marginal_cost_sek_per_kwh,
)


def make_plant(**overrides) -> PlantFleet:
    options = {
        "ratio": 0.8,
        "running": False,
        "on": False,
        "startup_s": 20.0,
        "ramp_fraction_per_s": 0.1,
        "min_load_fraction": 0.25,
    }
    options.update(overrides)
    return PlantFleet.build(np.array([1000.0]), **options)


def run(plant: PlantFleet, seconds: int, dt_s: float = 1.0) -> list[tuple[int, float]]:
    trace = []
    for _ in range(int(seconds / dt_s)):
        plant.step(dt_s)
        trace.append((int(plant.state[0]), float(plant.production_kw[0])))
    return trace


def test_a_started_plant_waits_its_start_up_time_then_ramps_to_its_set_point():
    plant = make_plant()
    plant.on[:] = True
    trace = run(plant, 40)
    states = [state for state, _ in trace]
    assert states[:19] == [PlantState.STARTING] * 19
    assert all(production == 0 for _, production in trace[:19])
    assert states[19] == PlantState.RUNNING
    assert trace[-1] == (PlantState.RUNNING, 800.0)
    steps = np.diff([production for _, production in trace])
    assert steps.max() <= 100.0 + 1e-9


def test_a_stopped_plant_ramps_down_through_stopping_to_zero():
    plant = make_plant(running=True, on=True)
    assert plant.production_kw[0] == 800.0
    plant.on[:] = False
    trace = run(plant, 10)
    assert trace[0] == (PlantState.STOPPING, 700.0)
    assert trace[7] == (PlantState.STOPPED, 0.0)
    assert trace[-1] == (PlantState.STOPPED, 0.0)


def test_stop_during_start_up_aborts_it():
    plant = make_plant()
    plant.on[:] = True
    run(plant, 5)
    plant.on[:] = False
    assert run(plant, 1) == [(PlantState.STOPPED, 0.0)]


def test_start_during_stopping_resumes_running_without_a_new_start_up():
    plant = make_plant(running=True, on=True)
    plant.on[:] = False
    run(plant, 2)
    plant.on[:] = True
    assert run(plant, 1)[0][0] == PlantState.RUNNING


def test_running_plant_never_goes_below_its_minimum_load():
    plant = make_plant(running=True, on=True)
    plant.ratio[:] = 0.0
    assert run(plant, 20)[-1] == (PlantState.RUNNING, 250.0)


def test_emission_accumulates_production_times_factor():
    plant = make_plant(running=True, on=True)
    plant.account_emissions(0.5)
    assert plant.co2_kg_per_h()[0] == 800.0 * emission_kg_per_kwh()
    assert plant.co2_total_kg[0] == 800.0 * emission_kg_per_kwh() * 0.5
    assert 0.8 < float(emission_kg_per_kwh()) < 0.9


def test_marginal_cost_includes_fuel_and_carbon_over_efficiency():
    cost = float(marginal_cost_sek_per_kwh(0.4, 0.1, 1.0, 0.0))
    assert abs(cost - (0.1 + 0.3406) / 0.4) < 1e-3


def test_buffer_takes_its_share_while_running_and_offers_only_while_idle():
    buffer = BatteryBank.build(
        np.array([500.0]), np.array([200.0]), np.array([100.0]), np.array([100.0])
    )
    plant = make_plant(running=True, on=True, buffer=buffer, buffer_ratio=0.1)
    assert plant.buffer_charge_kw(1 / 3600)[0] == 80.0
    assert plant.buffer_offer_kw(1 / 3600)[0] == 0.0
    plant.on[:] = False
    run(plant, 10)
    assert plant.buffer_offer_kw(1 / 3600)[0] == 100.0
