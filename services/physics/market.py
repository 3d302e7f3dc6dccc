"""Market clearing: merit order, pay-as-clear, scarcity and load shedding.

Supply comes in tiers, each a quantity (kW) offered at one price (SEK/kWh):
all prosumer surplus at a near-zero price, each plant at its marginal cost,
each plant's buffer at the same cost (it holds coal power). Tiers are
accepted cheapest first until demand is met; the last accepted tier sets
one price for everybody (pay-as-clear, as in the ASSUME and AMIRIS market
simulators). Offers within a tier are accepted pro rata.

When supply cannot meet demand the price goes to the scarcity cap, the
EU day-ahead market's +4,000 EUR/MWh (4 EUR/kWh, 44 SEK/kWh at 11 SEK/EUR),
and load is shed: whole consumer clusters first, then prosumers, each in
priority order, until what is left can be served. Prices are never negative:
every offer price is at least zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EUR_TO_SEK = 11.0
"""Exchange rate used to express EUR-denominated figures in SEK."""

SCARCITY_CAP_SEK_PER_KWH = 4.0 * EUR_TO_SEK
"""EU day-ahead harmonised maximum clearing price, 4,000 EUR/MWh, in SEK/kWh."""

PROSUMER_OFFER_SEK_PER_KWH = 0.05
"""Price of prosumer surplus: near zero, about small wind's variable O&M."""


@dataclass(frozen=True)
class Clearing:
    """The market's answer for one tick."""

    price_sek_per_kwh: float
    """The modelled price: the marginal accepted offer's, or the cap under scarcity."""
    accepted_kw: np.ndarray
    """Accepted quantity per supply tier, kW."""
    accepted_fraction: np.ndarray
    """Accepted share of each tier's offer, 0..1."""
    demand_kw: float
    served_kw: float
    unserved_kw: float
    scarcity: bool
    consumer_shed: np.ndarray
    prosumer_shed: np.ndarray


def _shed(demand_kw: np.ndarray, shortfall_kw: float, priority: np.ndarray | None) -> np.ndarray:
    """The fewest members, taken in priority order, whose demand covers ``shortfall_kw``."""
    shed = np.zeros(demand_kw.shape, dtype=bool)
    if shortfall_kw <= 0 or demand_kw.size == 0:
        return shed
    order = np.arange(demand_kw.size) if priority is None else np.asarray(priority, np.intp)
    cumulative_kw = np.cumsum(demand_kw[order])
    count = int(np.searchsorted(cumulative_kw, shortfall_kw, side="left")) + 1
    shed[order[:count]] = True
    shed &= demand_kw > 0
    return shed


def accept(tier_quantity_kw: np.ndarray, tier_price: np.ndarray, demand_kw: float) -> np.ndarray:
    """Accepted kW per tier, cheapest first, up to ``demand_kw``."""
    order = np.argsort(tier_price, kind="stable")
    quantity = tier_quantity_kw[order]
    before_kw = np.cumsum(quantity) - quantity
    accepted = np.empty_like(tier_quantity_kw)
    accepted[order] = np.clip(demand_kw - before_kw, 0.0, quantity)
    return accepted


def clear(
    tier_quantity_kw: np.ndarray,
    tier_price_sek_per_kwh: np.ndarray,
    consumer_demand_kw: np.ndarray,
    prosumer_request_kw: np.ndarray,
    *,
    consumer_priority: np.ndarray | None = None,
    prosumer_priority: np.ndarray | None = None,
    scarcity_cap_sek_per_kwh: float = SCARCITY_CAP_SEK_PER_KWH,
) -> Clearing:
    """Clear one tick: accepted supply, the modelled price, and who is shed."""
    quantity = np.maximum(np.asarray(tier_quantity_kw, dtype=float), 0.0)
    price = np.asarray(tier_price_sek_per_kwh, dtype=float)
    if np.any(price < 0) or np.any(~np.isfinite(price)):
        raise ValueError("offer prices must be finite and non-negative")
    consumers = np.asarray(consumer_demand_kw, dtype=float)
    prosumers = np.asarray(prosumer_request_kw, dtype=float)

    supply_kw = float(quantity.sum())
    demand_kw = float(consumers.sum() + prosumers.sum())
    # Rounding must not black anybody out: a shortfall below 1e-12 of demand is none.
    shortfall_kw = demand_kw - supply_kw
    scarcity = shortfall_kw > 1e-12 * max(demand_kw, 1.0)

    consumer_shed = np.zeros(consumers.shape, dtype=bool)
    prosumer_shed = np.zeros(prosumers.shape, dtype=bool)
    if scarcity:
        consumer_shed = _shed(consumers, shortfall_kw, consumer_priority)
        remaining_kw = shortfall_kw - float(consumers[consumer_shed].sum())
        prosumer_shed = _shed(prosumers, remaining_kw, prosumer_priority)
    unserved_kw = float(consumers[consumer_shed].sum() + prosumers[prosumer_shed].sum())
    served_kw = demand_kw - unserved_kw

    accepted = accept(quantity, price, served_kw)
    fraction = np.divide(accepted, quantity, out=np.zeros_like(quantity), where=quantity > 0)
    if scarcity:
        clearing_price = scarcity_cap_sek_per_kwh
    elif np.any(accepted > 0):
        clearing_price = float(price[accepted > 0].max())
    elif np.any(quantity > 0):
        clearing_price = float(price[quantity > 0].min())
    else:
        clearing_price = 0.0
    return Clearing(
        price_sek_per_kwh=clearing_price,
        accepted_kw=accepted,
        accepted_fraction=fraction,
        demand_kw=demand_kw,
        served_kw=served_kw,
        unserved_kw=unserved_kw,
        scarcity=bool(scarcity),
        consumer_shed=consumer_shed,
        prosumer_shed=prosumer_shed,
    )


def price_in_force(modelled_sek_per_kwh: float, override_sek_per_kwh: float | None) -> float:
    """The price that applies: the manager's override when set, else the modelled one."""
    return modelled_sek_per_kwh if override_sek_per_kwh is None else override_sek_per_kwh
