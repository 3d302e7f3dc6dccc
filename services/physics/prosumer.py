"""Prosumers: households with wind turbines, batteries and two ratios.

Each tick a prosumer produces ``P`` and uses ``L``:
- surplus ``P - L > 0``: ``input_ratio`` of it is meant for the battery and
  the rest for the market. Whatever the battery cannot take goes to the
  market too; a prosumer blocked from selling stores what it can instead and
  curtails the rest.
- deficit ``L - P > 0``: ``output_ratio`` of it is meant to come from the
  battery and the rest from the market; what the battery cannot deliver is
  bought.
The market then decides how much of the offered surplus is sold (the rest is
curtailed) and whether the bought share is served (or the member is in a
blackout). Batteries move before the market clears, as a household's own
inverter would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from services.physics import load, turbine
from services.physics.battery import BatteryBank

SOURCE_OWN = 1
SOURCE_BATTERY = 2
SOURCE_MARKET = 4
SOURCE_NAMES = {0: "none", SOURCE_OWN: "own", SOURCE_BATTERY: "battery", SOURCE_MARKET: "market"}
"""Bits of ``ProsumerFlows.source``; more than one bit set is a mix."""


def source_name(bits: int) -> str:
    """``own``, ``battery``, ``market``, ``mix`` or ``none`` for a source bit set."""
    return SOURCE_NAMES.get(int(bits), "mix")


@dataclass
class ProsumerFlows:
    """One tick's power flows per prosumer, kW (and two per-member flags)."""

    production_kw: np.ndarray
    load_kw: np.ndarray
    self_consumed_kw: np.ndarray
    battery_charge_kw: np.ndarray
    battery_discharge_kw: np.ndarray
    offered_kw: np.ndarray
    requested_kw: np.ndarray
    curtailed_kw: np.ndarray
    sold_kw: np.ndarray
    bought_kw: np.ndarray
    unserved_kw: np.ndarray
    blackout: np.ndarray
    source: np.ndarray


def balance(
    production_kw: np.ndarray,
    load_kw: np.ndarray,
    input_ratio: np.ndarray,
    output_ratio: np.ndarray,
    sell_blocked: np.ndarray,
    charge_limit_kw: np.ndarray,
    discharge_limit_kw: np.ndarray,
) -> ProsumerFlows:
    """Split each member's surplus or deficit between battery and market.

    Pure: returns the flows before the market clears; ``settle`` completes
    them. Ratios are shares in [0, 1]; limits come from ``BatteryBank``.
    """
    net_kw = production_kw - load_kw
    surplus_kw = np.maximum(net_kw, 0.0)
    deficit_kw = np.maximum(-net_kw, 0.0)

    to_battery_share = np.where(sell_blocked, 1.0, input_ratio)
    charge_kw = np.minimum(surplus_kw * to_battery_share, charge_limit_kw)
    np.maximum(charge_kw, 0.0, out=charge_kw)
    offered_kw = np.where(sell_blocked, 0.0, surplus_kw - charge_kw)
    curtailed_kw = surplus_kw - charge_kw - offered_kw

    discharge_kw = np.minimum(deficit_kw * output_ratio, discharge_limit_kw)
    np.maximum(discharge_kw, 0.0, out=discharge_kw)
    requested_kw = deficit_kw - discharge_kw

    zeros = np.zeros_like(net_kw)
    return ProsumerFlows(
        production_kw=production_kw,
        load_kw=load_kw,
        self_consumed_kw=np.minimum(production_kw, load_kw),
        battery_charge_kw=charge_kw,
        battery_discharge_kw=discharge_kw,
        offered_kw=offered_kw,
        requested_kw=requested_kw,
        curtailed_kw=curtailed_kw,
        sold_kw=zeros,
        bought_kw=zeros.copy(),
        unserved_kw=zeros.copy(),
        blackout=np.zeros(net_kw.shape, dtype=bool),
        source=np.zeros(net_kw.shape, dtype=np.uint8),
    )


def settle(flows: ProsumerFlows, sold_fraction: float, shed: np.ndarray) -> None:
    """Complete ``flows`` in place with the market's answer.

    ``sold_fraction`` of every offer is sold (offers at one price clear pro
    rata) and the rest curtailed; members in ``shed`` get none of what they
    asked the market for.
    """
    flows.sold_kw = flows.offered_kw * sold_fraction
    flows.curtailed_kw = flows.curtailed_kw + (flows.offered_kw - flows.sold_kw)
    flows.blackout = shed & (flows.requested_kw > 0)
    flows.unserved_kw = np.where(flows.blackout, flows.requested_kw, 0.0)
    flows.bought_kw = flows.requested_kw - flows.unserved_kw
    source = np.where(flows.self_consumed_kw > 0, SOURCE_OWN, 0).astype(np.uint8)
    source |= np.where(flows.battery_discharge_kw > 0, SOURCE_BATTERY, 0).astype(np.uint8)
    source |= np.where(flows.bought_kw > 0, SOURCE_MARKET, 0).astype(np.uint8)
    flows.source = source


@dataclass
class ProsumerFleet:
    """Every prosumer of one service as arrays, one element per member."""

    rated_kw: np.ndarray
    """Sum of the member's turbines' maximum power, kW."""
    site: np.ndarray
    """Index of the member's weather site."""
    site_tower: np.ndarray
    """Index into ``turbine.site_power_fraction``'s table (site and tower height)."""
    base_load_kw: np.ndarray
    """Average own load before profile and heating, kW."""
    heating_coefficient_per_c: np.ndarray
    battery: BatteryBank
    input_ratio: np.ndarray
    output_ratio: np.ndarray
    turbine_on: np.ndarray
    sell_blocked: np.ndarray
    repair_at_s: np.ndarray
    """Simulated time (s) until which the turbines are broken; -inf when working."""
    load_noise: np.ndarray

    def __len__(self) -> int:
        return int(self.rated_kw.size)

    def production_kw(self, power_fraction_table: np.ndarray, now_s: float) -> np.ndarray:
        """Turbine output this tick, kW: zero while switched off or broken."""
        production = power_fraction_table[self.site_tower]
        production *= self.rated_kw
        production[~self.turbine_on | (self.repair_at_s > now_s)] = 0.0
        return production

    def own_load_kw(
        self,
        when: datetime,
        temperature_c_by_site: np.ndarray,
        rng: np.random.Generator,
        dt_s: float,
    ) -> np.ndarray:
        """Household load this tick, kW: H0 shape x heating x noise (see ``load``)."""
        load.noise_step(self.load_noise, rng, dt_s, load.HOUSEHOLD_NOISE)
        degrees_below_by_site = load.heating_factor(temperature_c_by_site, 1.0) - 1.0
        own_load_kw = self.heating_coefficient_per_c * degrees_below_by_site[self.site]
        own_load_kw += 1.0
        own_load_kw *= self.base_load_kw
        own_load_kw *= load.h0_factor(when)
        own_load_kw *= np.maximum(1.0 + self.load_noise, 0.0)
        return own_load_kw

    def step(
        self,
        when: datetime,
        elapsed_s: float,
        dt_s: float,
        wind_10m_ms_by_site: np.ndarray,
        temperature_c_by_site: np.ndarray,
        rng: np.random.Generator,
        breakdowns: Breakdowns | None = None,
    ) -> ProsumerFlows:
        """One tick for every member: turbines, load, ratios, batteries.

        Batteries are updated in place; the returned flows still need the market's
        answer (``settle``). ``elapsed_s`` is simulated time for repair schedules.
        """
        if breakdowns is not None:
            turbine.breakdowns(
                rng,
                self.repair_at_s,
                elapsed_s,
                dt_s,
                breakdowns.mean_time_between_failures_h,
                breakdowns.mean_repair_time_h,
            )
        production_kw = self.production_kw(
            turbine.site_power_fraction(wind_10m_ms_by_site), elapsed_s
        )
        own_load_kw = self.own_load_kw(when, temperature_c_by_site, rng, dt_s)
        dt_h = dt_s / 3600.0
        flows = balance(
            production_kw,
            own_load_kw,
            self.input_ratio,
            self.output_ratio,
            self.sell_blocked,
            self.battery.charge_limit_kw(dt_h),
            self.battery.discharge_limit_kw(dt_h),
        )
        self.battery.apply(flows.battery_charge_kw, flows.battery_discharge_kw, dt_h)
        return flows


@dataclass(frozen=True)
class Breakdowns:
    """How often turbine sets fail and how long repairs take."""

    mean_time_between_failures_h: float = 8_760.0
    mean_repair_time_h: float = 48.0
