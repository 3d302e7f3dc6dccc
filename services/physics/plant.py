"""Coal power plants: start-up, ramping, a buffer battery, carbon emission.

States: stopped -> starting (for ``startup_s``) -> running -> stopping
(ramping down to zero) -> stopped. A running plant moves towards its
set-point, ``max_production x ratio`` but never below its minimum stable
load, at most ``ramp_kw_per_s`` a second. A share (``buffer_ratio``) of
production charges the plant's buffer battery; the rest is offered to the
market. While the plant produces nothing (stopped or starting), the buffer
offers what it holds.

Default start-up time (20 s) and ramp (1 % of rated power a second) are chosen
so that a person watching a dashboard sees every state; real hard-coal units
take hours to start hot and ramp 2 to 4 % a minute, with a minimum load of 25
to 40 % (field-facts), and can be configured so.

Carbon: bituminous coal emits 94.6 t CO2 per TJ of fuel (IPCC 2006
Guidelines, vol. 2, table 2.2), 0.3406 kg per kWh of fuel; at 40 %
efficiency that is 0.85 kg per kWh of electricity.

Marginal cost, SEK/kWh of electricity: ``(fuel + CO2 price x 0.3406) /
efficiency + variable O&M``. Defaults: coal at 0.13 SEK per kWh of fuel
(about 100 EUR/t at 8.1 MWh/t and 11 SEK/EUR), EU ETS allowances at 80
EUR/t (0.88 SEK/kg), 0.04 SEK/kWh O&M: about 1.12 SEK/kWh.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from services.physics.battery import BatteryBank

CO2_KG_PER_KWH_FUEL = 94.6e3 / 277_777.8
"""IPCC 2006 default for bituminous coal: 94.6 t per TJ, as kg per kWh of fuel."""

EFFICIENCY = 0.40
FUEL_SEK_PER_KWH_FUEL = 0.13
CO2_PRICE_SEK_PER_KG = 0.88
VARIABLE_OM_SEK_PER_KWH = 0.04
STARTUP_S = 20.0
RAMP_FRACTION_PER_S = 0.01
MIN_LOAD_FRACTION = 0.25


class PlantState(IntEnum):
    STOPPED = 0
    STARTING = 1
    RUNNING = 2
    STOPPING = 3


def emission_kg_per_kwh(efficiency: float | np.ndarray = EFFICIENCY) -> np.ndarray:
    """CO2 per kWh of electricity, kg."""
    return np.asarray(CO2_KG_PER_KWH_FUEL / np.asarray(efficiency, dtype=float))


def marginal_cost_sek_per_kwh(
    efficiency: float | np.ndarray = EFFICIENCY,
    fuel_sek_per_kwh_fuel: float = FUEL_SEK_PER_KWH_FUEL,
    co2_price_sek_per_kg: float = CO2_PRICE_SEK_PER_KG,
    variable_om_sek_per_kwh: float = VARIABLE_OM_SEK_PER_KWH,
) -> np.ndarray:
    """Cost of one more kWh of electricity: fuel and allowances over efficiency, plus O&M."""
    fuel_and_co2 = fuel_sek_per_kwh_fuel + co2_price_sek_per_kg * CO2_KG_PER_KWH_FUEL
    return np.asarray(fuel_and_co2 / np.asarray(efficiency, dtype=float) + variable_om_sek_per_kwh)


@dataclass
class PlantFleet:
    """Every plant of one service as arrays, one element per plant."""

    max_production_kw: np.ndarray
    ratio: np.ndarray
    """Set-point as a share of maximum production, 0..1."""
    on: np.ndarray
    """What the manager commands: run (True) or stop (False)."""
    state: np.ndarray
    state_elapsed_s: np.ndarray
    production_kw: np.ndarray
    startup_s: np.ndarray
    ramp_kw_per_s: np.ndarray
    min_load_fraction: np.ndarray
    buffer: BatteryBank
    buffer_ratio: np.ndarray
    emission_kg_per_kwh: np.ndarray
    marginal_cost_sek_per_kwh: np.ndarray
    co2_total_kg: np.ndarray

    @classmethod
    def build(
        cls,
        max_production_kw: np.ndarray,
        *,
        ratio: float | np.ndarray = 0.5,
        on: bool | np.ndarray = True,
        running: bool = True,
        startup_s: float | np.ndarray = STARTUP_S,
        ramp_fraction_per_s: float | np.ndarray = RAMP_FRACTION_PER_S,
        min_load_fraction: float | np.ndarray = MIN_LOAD_FRACTION,
        buffer: BatteryBank | None = None,
        buffer_ratio: float | np.ndarray = 0.0,
        efficiency: float | np.ndarray = EFFICIENCY,
    ) -> PlantFleet:
        """Plants from their ratings; ``running`` starts them at their set-point."""
        max_kw = np.asarray(max_production_kw, dtype=float).copy()
        n = max_kw.size

        def per_plant(value: float | bool | np.ndarray, dtype: type = float) -> np.ndarray:
            return np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()

        fleet = cls(
            max_production_kw=max_kw,
            ratio=per_plant(ratio),
            on=per_plant(on, bool),
            state=np.full(n, PlantState.STOPPED, dtype=np.int8),
            state_elapsed_s=np.zeros(n),
            production_kw=np.zeros(n),
            startup_s=per_plant(startup_s),
            ramp_kw_per_s=per_plant(ramp_fraction_per_s) * max_kw,
            min_load_fraction=per_plant(min_load_fraction),
            buffer=buffer or BatteryBank.empty(n),
            buffer_ratio=per_plant(buffer_ratio),
            emission_kg_per_kwh=emission_kg_per_kwh(per_plant(efficiency)),
            marginal_cost_sek_per_kwh=marginal_cost_sek_per_kwh(per_plant(efficiency)),
            co2_total_kg=np.zeros(n),
        )
        if running:
            fleet.state[fleet.on] = PlantState.RUNNING
            fleet.production_kw[:] = np.where(fleet.on, fleet.set_point_kw(), 0.0)
        return fleet

    def __len__(self) -> int:
        return int(self.max_production_kw.size)

    def set_point_kw(self) -> np.ndarray:
        """Where a running plant is heading, kW."""
        return self.max_production_kw * np.maximum(self.ratio, self.min_load_fraction)

    def step(self, dt_s: float) -> None:
        """Advance states and production by ``dt_s`` seconds, in place."""
        state = self.state
        before = state.copy()
        # Commands: a start request wakes a stopped plant (or catches one that is still
        # synchronised while stopping); a stop request aborts a start or ramps a running one down.
        state[(state == PlantState.STOPPED) & self.on] = PlantState.STARTING
        state[(state == PlantState.STOPPING) & self.on] = PlantState.RUNNING
        state[(state == PlantState.STARTING) & ~self.on] = PlantState.STOPPED
        state[(state == PlantState.RUNNING) & ~self.on] = PlantState.STOPPING
        self.state_elapsed_s[state != before] = 0.0

        starting = state == PlantState.STARTING
        self.state_elapsed_s += dt_s
        started = starting & (self.state_elapsed_s >= self.startup_s)
        state[started] = PlantState.RUNNING

        max_step_kw = self.ramp_kw_per_s * dt_s
        running = state == PlantState.RUNNING
        target_kw = np.where(running, self.set_point_kw(), 0.0)
        move_kw = np.clip(target_kw - self.production_kw, -max_step_kw, max_step_kw)
        self.production_kw += move_kw
        self.production_kw[(state == PlantState.STOPPED) | (state == PlantState.STARTING)] = 0.0

        stopped = (state == PlantState.STOPPING) & (self.production_kw <= 0.0)
        state[stopped] = PlantState.STOPPED
        self.production_kw[stopped] = 0.0
        self.state_elapsed_s[started | stopped] = 0.0

    def co2_kg_per_h(self) -> np.ndarray:
        """Current emission rate, kg CO2 per hour."""
        return self.production_kw * self.emission_kg_per_kwh

    def account_emissions(self, dt_h: float) -> None:
        """Add this step's emission to each plant's running total, in place."""
        self.co2_total_kg += self.co2_kg_per_h() * dt_h

    def buffer_charge_kw(self, dt_h: float) -> np.ndarray:
        """Share of production that goes into the buffer this tick, kW."""
        wanted_kw = self.production_kw * self.buffer_ratio
        return np.clip(np.minimum(wanted_kw, self.buffer.charge_limit_kw(dt_h)), 0.0, None)

    def buffer_offer_kw(self, dt_h: float) -> np.ndarray:
        """What the buffer offers the market, kW: only while the plant produces nothing."""
        idle = (self.state == PlantState.STOPPED) | (self.state == PlantState.STARTING)
        return np.where(idle, self.buffer.discharge_limit_kw(dt_h), 0.0)
