"""Batteries and the prosumer balance: bounds, ratios, and conservation per member."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from services.physics.battery import BatteryBank
from services.physics.prosumer import (
    SOURCE_BATTERY,
    SOURCE_MARKET,
    SOURCE_OWN,
    balance,
    settle,
    source_name,
)

N = 32
power = arrays(np.float64, N, elements=st.floats(0, 50, allow_nan=False))
share = arrays(np.float64, N, elements=st.floats(0, 1))
flags = arrays(np.bool_, N)
steps_h = st.floats(1 / 3600, 1.0)


def make_bank(capacity: np.ndarray, fill: np.ndarray, rating_kw: float = 5.0) -> BatteryBank:
    return BatteryBank.build(
        capacity, np.full(N, rating_kw), np.full(N, rating_kw), capacity * fill
    )


@given(capacity=power, fill=share, charge=power, discharge=power, dt_h=steps_h)
def test_battery_stays_within_bounds_and_moves_exactly_what_it_is_told(
    capacity, fill, charge, discharge, dt_h
):
    bank = make_bank(capacity, fill)
    charge_kw = np.minimum(charge, bank.charge_limit_kw(dt_h))
    discharge_kw = np.minimum(discharge, bank.discharge_limit_kw(dt_h))
    discharge_kw[charge_kw > 0] = 0.0
    before = bank.stored_kwh.copy()

    delta = bank.apply(charge_kw, discharge_kw, dt_h)

    assert np.all(bank.stored_kwh >= 0) and np.all(bank.stored_kwh <= bank.capacity_kwh)
    expected = (charge_kw * 0.95 - discharge_kw / 0.95) * dt_h
    np.testing.assert_allclose(delta, expected, rtol=1e-9, atol=1e-9 * (1 + capacity.max()))
    np.testing.assert_allclose(bank.stored_kwh, before + delta, rtol=0, atol=1e-12)


def test_full_battery_takes_nothing_and_empty_battery_gives_nothing():
    bank = BatteryBank.build(np.array([10.0, 10.0]), np.full(2, 5.0), np.full(2, 5.0))
    bank.stored_kwh[:] = [10.0, 0.0]
    assert bank.charge_limit_kw(1.0)[0] == 0.0
    assert bank.discharge_limit_kw(1.0)[1] == 0.0


def test_charge_limit_honours_headroom_over_the_time_step():
    bank = BatteryBank.build(np.array([10.0]), np.array([50.0]), np.array([50.0]), np.array([9.0]))
    # 1 kWh of room at 95 % efficiency over half an hour: 1 / 0.95 / 0.5 kW.
    assert bank.charge_limit_kw(0.5)[0] == 1.0 / 0.95 / 0.5


@given(
    production=power,
    load=power,
    input_ratio=share,
    output_ratio=share,
    blocked=flags,
    capacity=power,
    fill=share,
    sold_fraction=st.floats(0, 1),
    shed=flags,
    dt_h=steps_h,
)
@settings(max_examples=200)
def test_prosumer_balance_conserves_power_per_member(
    production, load, input_ratio, output_ratio, blocked, capacity, fill, sold_fraction, shed, dt_h
):
    bank = make_bank(capacity, fill)
    flows = balance(
        production,
        load,
        input_ratio,
        output_ratio,
        blocked,
        bank.charge_limit_kw(dt_h),
        bank.discharge_limit_kw(dt_h),
    )
    settle(flows, sold_fraction, shed)

    supply = flows.production_kw + flows.battery_discharge_kw + flows.bought_kw + flows.unserved_kw
    use = flows.load_kw + flows.battery_charge_kw + flows.sold_kw + flows.curtailed_kw
    np.testing.assert_allclose(supply, use, rtol=1e-12, atol=1e-12)
    for name in (
        "battery_charge_kw",
        "battery_discharge_kw",
        "offered_kw",
        "requested_kw",
        "curtailed_kw",
        "sold_kw",
        "bought_kw",
        "unserved_kw",
    ):
        assert np.all(getattr(flows, name) >= 0), name
    assert np.all(flows.battery_charge_kw <= bank.charge_limit_kw(dt_h) + 1e-12)
    assert np.all(flows.battery_discharge_kw <= bank.discharge_limit_kw(dt_h) + 1e-12)
    assert np.all((flows.battery_charge_kw == 0) | (flows.battery_discharge_kw == 0))


@given(production=power, load=power, input_ratio=share, output_ratio=share)
def test_ratios_split_surplus_and_deficit_when_the_battery_has_room(
    production, load, input_ratio, output_ratio
):
    unlimited = np.full(N, np.inf)
    flows = balance(
        production, load, input_ratio, output_ratio, np.zeros(N, bool), unlimited, unlimited
    )
    surplus = np.maximum(production - load, 0)
    deficit = np.maximum(load - production, 0)
    np.testing.assert_allclose(flows.battery_charge_kw, surplus * input_ratio, rtol=1e-12)
    np.testing.assert_allclose(flows.offered_kw, surplus * (1 - input_ratio), atol=1e-9)
    np.testing.assert_allclose(flows.battery_discharge_kw, deficit * output_ratio, rtol=1e-12)
    np.testing.assert_allclose(flows.requested_kw, deficit * (1 - output_ratio), atol=1e-9)


def test_what_the_battery_cannot_take_is_offered_to_the_market():
    flows = balance(
        np.array([6.0]),
        np.array([1.0]),
        np.array([1.0]),
        np.array([0.0]),
        np.array([False]),
        np.array([2.0]),
        np.array([0.0]),
    )
    assert flows.battery_charge_kw[0] == 2.0
    assert flows.offered_kw[0] == 3.0
    assert flows.curtailed_kw[0] == 0.0


def test_a_prosumer_blocked_from_selling_stores_what_it_can_and_curtails_the_rest():
    flows = balance(
        np.array([6.0]),
        np.array([1.0]),
        np.array([0.0]),
        np.array([0.0]),
        np.array([True]),
        np.array([2.0]),
        np.array([0.0]),
    )
    assert flows.battery_charge_kw[0] == 2.0
    assert flows.offered_kw[0] == 0.0
    assert flows.curtailed_kw[0] == 3.0


def test_what_the_battery_cannot_deliver_is_bought():
    flows = balance(
        np.array([0.0]),
        np.array([4.0]),
        np.array([0.0]),
        np.array([1.0]),
        np.array([False]),
        np.array([0.0]),
        np.array([1.5]),
    )
    assert flows.battery_discharge_kw[0] == 1.5
    assert flows.requested_kw[0] == 2.5


def test_source_of_supply_names_own_battery_market_mix_and_blackout():
    production = np.array([5.0, 0.0, 0.0, 1.0, 0.0])
    load = np.array([2.0, 2.0, 2.0, 3.0, 2.0])
    output_ratio = np.array([0.0, 1.0, 0.0, 0.5, 0.0])
    flows = balance(
        production,
        load,
        np.zeros(5),
        output_ratio,
        np.zeros(5, bool),
        np.zeros(5),
        np.full(5, 10.0),
    )
    settle(flows, 1.0, np.array([False, False, False, False, True]))
    names = [source_name(bits) for bits in flows.source]
    assert names == ["own", "battery", "market", "mix", "none"]
    assert flows.blackout.tolist() == [False, False, False, False, True]
    assert flows.source[3] == SOURCE_OWN | SOURCE_BATTERY | SOURCE_MARKET
    assert {SOURCE_OWN, SOURCE_BATTERY, SOURCE_MARKET} == {1, 2, 4}
