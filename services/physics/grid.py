"""A whole grid in one process: every model stepped together, tick by tick.

``GridModel`` composes the physics (weather, turbines, load, batteries,
plants, market) for the headless runner and the benchmarks. The services
split the same steps between them over HTTP; this module is the reference
for what one tick does and in which order, and for the energy balance:

    prosumer production + plant production + battery discharge
        = prosumer load + consumer demand - unserved + battery charge + curtailed

where battery charge and discharge include the plants' buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import numpy as np

from services.common.clock import later
from services.physics import load, market, turbine
from services.physics.battery import BatteryBank
from services.physics.load import ConsumerClusters
from services.physics.plant import PlantFleet
from services.physics.prosumer import Breakdowns, ProsumerFleet, ProsumerFlows, settle
from services.physics.weather import SyntheticWeather

LULEA_LAT_DEG = 65.584
LULEA_LON_DEG = 22.154


@dataclass(frozen=True)
class TickTotals:
    """One tick's totals across the grid; the headless runner writes one row of these."""

    time: datetime
    wind_speed_ms: float
    temperature_c: float
    prosumer_production_kw: float
    plant_production_kw: float
    battery_discharge_kw: float
    battery_charge_kw: float
    prosumer_load_kw: float
    consumer_demand_kw: float
    unserved_kw: float
    curtailed_kw: float
    sold_kw: float
    bought_kw: float
    battery_energy_kwh: float
    battery_losses_kw: float
    price_sek_per_kwh: float
    co2_kg_per_h: float
    co2_total_kg: float
    blackout_consumers: int
    blackout_prosumers: int
    plant_state: int

    @classmethod
    def columns(cls) -> list[str]:
        return [field.name for field in fields(cls)]

    def supply_kw(self) -> float:
        """Power into the grid's balance: production plus battery discharge, kW."""
        return self.prosumer_production_kw + self.plant_production_kw + self.battery_discharge_kw

    def use_kw(self) -> float:
        """Power out of it: served load, battery charge and curtailment, kW."""
        return (
            self.prosumer_load_kw
            + self.consumer_demand_kw
            - self.unserved_kw
            + self.battery_charge_kw
            + self.curtailed_kw
        )

    def balance_error(self) -> float:
        """Relative energy-balance error of this tick (0 when conserved)."""
        supply, use = self.supply_kw(), self.use_kw()
        scale = max(abs(supply), abs(use), 1e-12)
        return abs(supply - use) / scale


@dataclass(frozen=True)
class Scenario:
    """How big a grid to build and from which seed."""

    prosumers: int = 1000
    consumers: int = 200
    plants: int = 1
    seed: int = 7
    start: datetime = datetime(2026, 1, 15)
    """Local start time; a naive value is read in the model's timezone."""
    sites: int = 8
    site_radius_km: float = 40.0
    breakdowns: Breakdowns | None = Breakdowns()
    dispatch: bool = True
    """Let a simple operator steer the plants (see ``GridModel.dispatch``)."""


def demo_prosumers(n: int, sites: int, rng: np.random.Generator) -> ProsumerFleet:
    """Households with 1-3 turbines of 1-3 kW and 1-2 batteries of 5-13.5 kWh.

    Batteries are Powerwall-like: 5 kW each way per unit. Ratios are spread over
    0.2-0.8 and members over ``sites`` weather sites and the three tower heights.
    """
    turbines = rng.integers(1, 4, n)
    batteries = rng.integers(1, 3, n)
    capacity_kwh = batteries * rng.uniform(5.0, 13.5, n)
    site = rng.integers(0, sites, n)
    tower = rng.integers(0, len(turbine.TOWER_HEIGHTS_M), n)
    return ProsumerFleet(
        rated_kw=turbines * rng.uniform(1.0, 3.0, n),
        site=site,
        site_tower=turbine.site_tower_index(site, tower, len(turbine.TOWER_HEIGHTS_M)),
        base_load_kw=load.HOUSEHOLD_MEAN_KW * rng.uniform(0.7, 1.5, n),
        heating_coefficient_per_c=np.full(n, load.HEATING_COEFFICIENT_PER_C),
        battery=BatteryBank.build(
            capacity_kwh=capacity_kwh,
            max_charge_kw=batteries * 5.0,
            max_output_kw=batteries * 5.0,
            stored_kwh=capacity_kwh * rng.uniform(0.2, 0.8, n),
        ),
        input_ratio=rng.uniform(0.2, 0.8, n),
        output_ratio=rng.uniform(0.2, 0.8, n),
        turbine_on=np.ones(n, dtype=bool),
        sell_blocked=np.zeros(n, dtype=bool),
        repair_at_s=np.full(n, -np.inf),
        load_noise=np.zeros(n),
    )


class GridModel:
    """Prosumers, consumer clusters and plants around Luleå, stepped together."""

    def __init__(self, scenario: Scenario, *, timezone: str = "Europe/Stockholm") -> None:
        from zoneinfo import ZoneInfo

        self.scenario = scenario
        tz = ZoneInfo(timezone)
        start = scenario.start if scenario.start.tzinfo else scenario.start.replace(tzinfo=tz)
        self.now = start.astimezone(tz)
        self.elapsed_s = 0.0
        self.rng = np.random.default_rng(scenario.seed)
        self.latitudes_deg, self.longitudes_deg = self._sites(scenario)
        self.weather = SyntheticWeather(
            self.latitudes_deg, self.longitudes_deg, seed=scenario.seed, start=self.now
        )
        self.prosumers = self._prosumers(scenario)
        self.consumers = self._consumers(scenario)
        self.plants = self._plants(scenario)
        self.last_flows: ProsumerFlows | None = None
        self.last_clearing: market.Clearing | None = None
        self.price_override_sek_per_kwh: float | None = None
        self.breakdowns = scenario.breakdowns

    # -- building a scenario ------------------------------------------------------------------

    def _sites(self, scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
        """Weather sites scattered within ``site_radius_km`` of Luleå."""
        n = max(scenario.sites, 1)
        distance_km = scenario.site_radius_km * np.sqrt(self.rng.random(n))
        distance_km[0] = 0.0
        bearing = self.rng.uniform(0.0, 2.0 * np.pi, n)
        lat = LULEA_LAT_DEG + distance_km * np.cos(bearing) / 111.2
        lon = LULEA_LON_DEG + distance_km * np.sin(bearing) / (
            111.2 * np.cos(np.radians(LULEA_LAT_DEG))
        )
        return lat, lon

    def _prosumers(self, scenario: Scenario) -> ProsumerFleet:
        return demo_prosumers(scenario.prosumers, self.latitudes_deg.size, self.rng)

    def _consumers(self, scenario: Scenario) -> ConsumerClusters:
        """Clusters of 20-80 households with the default H0 ``timefn``."""
        n, rng = scenario.consumers, self.rng
        return ConsumerClusters.build(
            households=rng.integers(20, 81, n).astype(float),
            profile=rng.uniform(0.8, 1.2, n),
            site=rng.integers(0, self.latitudes_deg.size, n),
        )

    def _plants(self, scenario: Scenario) -> PlantFleet:
        """Coal plants sized to cover a cold evening peak between them."""
        n = scenario.plants
        households = self.consumers.households.sum() + len(self.prosumers)
        peak_kw = households * load.HOUSEHOLD_MEAN_KW * 1.8 * 2.0
        max_kw = np.full(n, peak_kw / max(n, 1))
        buffer_kwh = max_kw * 0.5
        return PlantFleet.build(
            max_kw,
            ratio=0.6,
            buffer=BatteryBank.build(buffer_kwh, max_kw * 0.25, max_kw * 0.25, buffer_kwh * 0.5),
            buffer_ratio=0.05,
        )

    def dispatch(self, reserve: float = 0.10) -> None:
        """Set each plant's ratio to cover last tick's residual demand plus a reserve.

        Residual demand is what consumers and prosumers asked of the market minus the
        prosumers' offered surplus, shared between plants by size. The plants' ramp limits
        still apply, so a steep evening rise can outrun them.
        """
        flows, clearing, plants = self.last_flows, self.last_clearing, self.plants
        assert flows is not None and clearing is not None
        residual_kw = max(clearing.demand_kw - float(flows.offered_kw.sum()), 0.0)
        capacity_kw = plants.max_production_kw * (1.0 - plants.buffer_ratio)
        share = residual_kw * (1.0 + reserve) / max(float(capacity_kw.sum()), 1e-9)
        plants.ratio[:] = min(share, 1.0)

    # -- one tick --------------------------------------------------------------------------

    def tick(self, dt_s: float) -> TickTotals:
        """Advance the whole grid by ``dt_s`` seconds and return the tick's totals."""
        if not dt_s > 0:
            raise ValueError("dt_s must be positive")
        dt_h = dt_s / 3600.0
        self.now = later(self.now, dt_s)
        self.elapsed_s += dt_s
        weather = self.weather.sample(self.now)
        fleet, plants, rng = self.prosumers, self.plants, self.rng

        flows = fleet.step(
            self.now,
            self.elapsed_s,
            dt_s,
            weather.wind_speed_ms,
            weather.temperature_c,
            rng,
            self.breakdowns,
        )
        battery = fleet.battery
        battery_losses_kw = float(
            battery.losses_kw(flows.battery_charge_kw, flows.battery_discharge_kw).sum()
        )

        if self.scenario.dispatch and self.last_clearing is not None:
            self.dispatch()
        plants.step(dt_s)
        buffer_charge_kw = plants.buffer_charge_kw(dt_h)
        plant_offer_kw = plants.production_kw - buffer_charge_kw
        buffer_offer_kw = plants.buffer_offer_kw(dt_h)

        consumer_demand_kw = self.consumers.demand_kw(self.now, weather.temperature_c, rng, dt_s)

        n_plants = len(plants)
        tiers_kw = np.concatenate(([flows.offered_kw.sum()], plant_offer_kw, buffer_offer_kw))
        tier_prices = np.concatenate(
            (
                [market.PROSUMER_OFFER_SEK_PER_KWH],
                plants.marginal_cost_sek_per_kwh,
                plants.marginal_cost_sek_per_kwh,
            )
        )
        clearing = market.clear(tiers_kw, tier_prices, consumer_demand_kw, flows.requested_kw)
        settle(flows, float(clearing.accepted_fraction[0]), clearing.prosumer_shed)

        plant_accepted_kw = clearing.accepted_kw[1 : 1 + n_plants]
        buffer_discharge_kw = clearing.accepted_kw[1 + n_plants :]
        battery_losses_kw += float(
            plants.buffer.losses_kw(buffer_charge_kw, buffer_discharge_kw).sum()
        )
        plants.buffer.apply(buffer_charge_kw, buffer_discharge_kw, dt_h)
        plants.account_emissions(dt_h)

        self.last_flows, self.last_clearing = flows, clearing
        return TickTotals(
            time=self.now,
            wind_speed_ms=float(weather.wind_speed_ms.mean()),
            temperature_c=float(weather.temperature_c.mean()),
            prosumer_production_kw=float(flows.production_kw.sum()),
            plant_production_kw=float(plants.production_kw.sum()),
            battery_discharge_kw=float(
                flows.battery_discharge_kw.sum() + buffer_discharge_kw.sum()
            ),
            battery_charge_kw=float(flows.battery_charge_kw.sum() + buffer_charge_kw.sum()),
            prosumer_load_kw=float(flows.load_kw.sum()),
            consumer_demand_kw=float(consumer_demand_kw.sum()),
            unserved_kw=clearing.unserved_kw,
            curtailed_kw=float(
                flows.curtailed_kw.sum() + (plant_offer_kw - plant_accepted_kw).sum()
            ),
            sold_kw=float(flows.sold_kw.sum()),
            bought_kw=float(flows.bought_kw.sum()),
            battery_energy_kwh=float(battery.stored_kwh.sum() + plants.buffer.stored_kwh.sum()),
            battery_losses_kw=battery_losses_kw,
            price_sek_per_kwh=market.price_in_force(
                clearing.price_sek_per_kwh, self.price_override_sek_per_kwh
            ),
            co2_kg_per_h=float(plants.co2_kg_per_h().sum()),
            co2_total_kg=float(plants.co2_total_kg.sum()),
            blackout_consumers=int(clearing.consumer_shed.sum()),
            blackout_prosumers=int(flows.blackout.sum()),
            plant_state=int(plants.state[0]) if n_plants else 0,
        )
