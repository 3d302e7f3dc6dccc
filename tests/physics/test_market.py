"""Market clearing: merit order, pay-as-clear, scarcity and who is shed."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from services.physics import market

quantities = arrays(np.float64, 4, elements=st.floats(0, 1e4))
prices = arrays(np.float64, 4, elements=st.floats(0, 10))
demands = arrays(np.float64, st.integers(0, 12), elements=st.floats(0, 5e3))


def clear(supply, price, consumers, prosumers=()):
    return market.clear(
        np.asarray(supply, float),
        np.asarray(price, float),
        np.asarray(consumers, float),
        np.asarray(prosumers, float),
    )


def test_cheapest_offers_are_accepted_first_and_the_last_sets_the_price():
    result = clear([100.0, 100.0, 100.0], [1.1, 0.05, 0.8], [150.0])
    assert result.accepted_kw.tolist() == [0.0, 100.0, 50.0]
    assert result.price_sek_per_kwh == 0.8
    assert not result.scarcity


def test_wind_alone_meeting_demand_gives_the_near_zero_price():
    result = clear([500.0, 100.0], [market.PROSUMER_OFFER_SEK_PER_KWH, 1.1], [200.0])
    assert result.price_sek_per_kwh == market.PROSUMER_OFFER_SEK_PER_KWH
    assert result.accepted_fraction[0] == 0.4


def test_shortage_sets_the_scarcity_cap_and_sheds_consumers_before_prosumers():
    result = clear([100.0], [1.0], consumers=[60.0, 30.0, 50.0], prosumers=[10.0, 20.0])
    # Demand 170 kW against 100 kW: 70 kW must go; clusters 0 and 1 (90 kW) are enough.
    assert result.scarcity
    assert result.price_sek_per_kwh == market.SCARCITY_CAP_SEK_PER_KWH
    assert result.consumer_shed.tolist() == [True, True, False]
    assert not result.prosumer_shed.any()
    assert result.unserved_kw == 90.0
    assert result.accepted_kw.sum() == 80.0


def test_prosumers_are_shed_only_when_every_consumer_already_is():
    result = clear([30.0], [1.0], consumers=[20.0], prosumers=[25.0, 15.0])
    assert result.consumer_shed.all()
    assert result.prosumer_shed.tolist() == [True, False]


def test_shedding_follows_the_given_priority():
    result = market.clear(
        np.array([30.0]),
        np.array([1.0]),
        np.array([20.0, 20.0, 20.0]),
        np.zeros(0),
        consumer_priority=np.array([2, 0, 1]),
    )
    assert result.consumer_shed.tolist() == [True, False, True]


def test_rounding_noise_does_not_black_anybody_out():
    result = clear([0.1 + 0.2], [1.0], [0.3])
    assert not result.scarcity and not result.consumer_shed.any()


@given(quantities, prices, demands, demands)
def test_price_is_never_negative_and_served_load_never_exceeds_supply(
    supply, price, consumers, prosumers
):
    result = clear(supply, price, consumers, prosumers)
    assert result.price_sek_per_kwh >= 0
    assert result.served_kw <= supply.sum() * (1 + 1e-12) + 1e-9
    assert abs(result.accepted_kw.sum() - result.served_kw) <= 1e-9 * max(result.served_kw, 1)
    assert np.all(result.accepted_kw <= supply + 1e-9)
    assert abs(result.served_kw + result.unserved_kw - result.demand_kw) <= 1e-9 * max(
        result.demand_kw, 1
    )
    if result.prosumer_shed.any():
        assert result.consumer_shed[consumers > 0].all()


@given(quantities, prices, st.floats(0, 5e4), st.floats(0, 5e4))
def test_price_rises_with_scarcity(supply, price, low_demand, extra):
    low = clear(supply, price, [low_demand])
    high = clear(supply, price, [low_demand + extra])
    assert high.price_sek_per_kwh >= low.price_sek_per_kwh


def test_manager_override_replaces_the_modelled_price_until_cleared():
    assert market.price_in_force(0.8, 2.5) == 2.5
    assert market.price_in_force(0.8, None) == 0.8
