"""The manager's plants as arrays, and what one tick does to them.

``Plants`` keeps every plant of the instance in one ``PlantFleet`` (one
element per plant) and resizes the arrays when plants are added or removed.
``Plants.advance`` is the plant half of ``services.physics.grid``'s tick: step
states and production, charge the buffer from production, discharge it by
what the market accepted, account the carbon. The market half happens in the
simulation cells, so what they accepted arrives one tick late: the buffer
power a cell sold in its latest clearing is delivered in the manager's next
tick, clipped to what the buffer can deliver then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

import numpy as np

from services.physics.battery import BatteryBank
from services.physics.plant import PlantFleet, PlantState

STATE_NAMES = {
    PlantState.STOPPED: "stopped",
    PlantState.STARTING: "starting",
    PlantState.RUNNING: "running",
    PlantState.STOPPING: "stopping",
}
STATES_BY_NAME = {name: state for state, name in STATE_NAMES.items()}

DEFAULT_BUFFER_HOURS = 0.5
"""A buffer of default size stores half an hour of rated production ..."""
DEFAULT_BUFFER_POWER_FRACTION = 0.25
"""... and charges and discharges at up to a quarter of rated production."""


@dataclass(frozen=True)
class PlantRecord:
    """One plant: its configuration and its dynamic state, as stored."""

    id: str
    max_production_kw: float
    ratio: float
    on: bool
    buffer_capacity_kwh: float
    buffer_max_output_kw: float
    buffer_max_charge_kw: float
    buffer_ratio: float
    startup_s: float
    ramp_fraction_per_s: float
    min_load_fraction: float
    efficiency: float
    state: PlantState = PlantState.STOPPED
    state_elapsed_s: float = 0.0
    production_kw: float = 0.0
    buffer_stored_kwh: float = 0.0
    co2_total_kg: float = 0.0


@dataclass
class PlantFlows:
    """What each plant did in the last tick, kW."""

    offered_kw: np.ndarray
    """Production offered to the market (production less buffer charge)."""
    accepted_kw: np.ndarray
    """Production the cells accepted in their latest clearing (summed over cells)."""
    buffer_charge_kw: np.ndarray
    buffer_discharge_kw: np.ndarray
    """Buffer power delivered: last tick's acceptance, clipped to what the buffer held."""
    buffer_offer_kw: np.ndarray
    """What the buffer offers the next clearing."""

    @classmethod
    def zeros(cls, n: int) -> PlantFlows:
        return cls(*(np.zeros(n) for _ in fields(cls)))


Arrays = TypeVar("Arrays")


def _join(first: Arrays, second: Arrays) -> Arrays:
    """Two dataclasses of per-plant arrays end to end (nested dataclasses too)."""
    joined: dict[str, Any] = {}
    for field in fields(first):  # type: ignore[arg-type]
        a, b = getattr(first, field.name), getattr(second, field.name)
        joined[field.name] = _join(a, b) if is_dataclass(a) else np.concatenate((a, b))
    return type(first)(**joined)


def _take(arrays: Arrays, index: np.ndarray) -> Arrays:
    """The plants at ``index`` of a dataclass of per-plant arrays, copied."""
    taken: dict[str, Any] = {}
    for field in fields(arrays):  # type: ignore[arg-type]
        value = getattr(arrays, field.name)
        taken[field.name] = _take(value, index) if is_dataclass(value) else value[index].copy()
    return type(arrays)(**taken)


def build_fleet(records: Sequence[PlantRecord]) -> PlantFleet:
    """A fleet in exactly the states the records describe."""

    def column(name: str, dtype: type = float) -> np.ndarray:
        return np.array([getattr(record, name) for record in records], dtype=dtype)

    buffer = BatteryBank.build(
        capacity_kwh=column("buffer_capacity_kwh"),
        max_charge_kw=column("buffer_max_charge_kw"),
        max_output_kw=column("buffer_max_output_kw"),
        stored_kwh=column("buffer_stored_kwh"),
    )
    fleet = PlantFleet.build(
        column("max_production_kw"),
        ratio=column("ratio"),
        on=column("on", bool),
        running=False,
        startup_s=column("startup_s"),
        ramp_fraction_per_s=column("ramp_fraction_per_s"),
        min_load_fraction=column("min_load_fraction"),
        buffer=buffer,
        buffer_ratio=column("buffer_ratio"),
        efficiency=column("efficiency"),
    )
    fleet.state[:] = column("state", int)
    fleet.state_elapsed_s[:] = column("state_elapsed_s")
    # A plant that is not generating has no production, whatever was stored.
    generating = (fleet.state == PlantState.RUNNING) | (fleet.state == PlantState.STOPPING)
    fleet.production_kw[:] = np.where(generating, column("production_kw"), 0.0)
    fleet.co2_total_kg[:] = column("co2_total_kg")
    return fleet


class Plants:
    """Every plant of one manager instance, one array element each, in creation order."""

    def __init__(self, records: Sequence[PlantRecord] = ()) -> None:
        self.ids: list[str] = [record.id for record in records]
        self.fleet = build_fleet(records)
        # Kept as given, so that storing and reloading never drifts them.
        self.efficiency = np.array([record.efficiency for record in records], dtype=float)
        self.ramp_fraction_per_s = np.array(
            [record.ramp_fraction_per_s for record in records], dtype=float
        )
        self.flows = PlantFlows.zeros(len(records))

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, plant_id: object) -> bool:
        return plant_id in self.ids

    def index(self, plant_id: str) -> int:
        """Array position of ``plant_id``; KeyError if there is no such plant."""
        try:
            return self.ids.index(plant_id)
        except ValueError:
            raise KeyError(plant_id) from None

    def add(self, records: Sequence[PlantRecord]) -> None:
        """Append plants (their ids must be new)."""
        added = Plants(records)
        self.ids += added.ids
        self.fleet = _join(self.fleet, added.fleet)
        self.efficiency = np.concatenate((self.efficiency, added.efficiency))
        self.ramp_fraction_per_s = np.concatenate(
            (self.ramp_fraction_per_s, added.ramp_fraction_per_s)
        )
        self.flows = _join(self.flows, added.flows)

    def remove(self, plant_id: str) -> None:
        """Drop one plant; KeyError if there is no such plant."""
        keep = np.arange(len(self)) != self.index(plant_id)
        self.ids = [pid for pid, kept in zip(self.ids, keep, strict=True) if kept]
        self.fleet = _take(self.fleet, keep)
        self.efficiency = self.efficiency[keep].copy()
        self.ramp_fraction_per_s = self.ramp_fraction_per_s[keep].copy()
        self.flows = _take(self.flows, keep)

    def steer(self, index: int, *, ratio: float, on: bool, buffer_ratio: float) -> None:
        """Set one plant's controls; its state follows at the next ``advance``."""
        self.fleet.ratio[index] = ratio
        self.fleet.on[index] = on
        self.fleet.buffer_ratio[index] = buffer_ratio

    def record(self, index: int) -> PlantRecord:
        """The plant at ``index`` as a record: configuration and current state."""
        fleet = self.fleet
        return PlantRecord(
            id=self.ids[index],
            max_production_kw=float(fleet.max_production_kw[index]),
            ratio=float(fleet.ratio[index]),
            on=bool(fleet.on[index]),
            buffer_capacity_kwh=float(fleet.buffer.capacity_kwh[index]),
            buffer_max_output_kw=float(fleet.buffer.max_output_kw[index]),
            buffer_max_charge_kw=float(fleet.buffer.max_charge_kw[index]),
            buffer_ratio=float(fleet.buffer_ratio[index]),
            startup_s=float(fleet.startup_s[index]),
            ramp_fraction_per_s=float(self.ramp_fraction_per_s[index]),
            min_load_fraction=float(fleet.min_load_fraction[index]),
            efficiency=float(self.efficiency[index]),
            state=PlantState(int(fleet.state[index])),
            state_elapsed_s=float(fleet.state_elapsed_s[index]),
            production_kw=float(fleet.production_kw[index]),
            buffer_stored_kwh=float(fleet.buffer.stored_kwh[index]),
            co2_total_kg=float(fleet.co2_total_kg[index]),
        )

    def records(self) -> list[PlantRecord]:
        return [self.record(index) for index in range(len(self))]

    def advance(self, dt_s: float, buffer_sold_kw: np.ndarray) -> None:
        """One tick of ``dt_s`` seconds (> 0); ``buffer_sold_kw`` is last tick's buffer sale."""
        fleet, dt_h = self.fleet, dt_s / 3600.0
        fleet.step(dt_s)
        charge_kw = fleet.buffer_charge_kw(dt_h)
        discharge_kw = np.clip(buffer_sold_kw, 0.0, fleet.buffer.discharge_limit_kw(dt_h))
        fleet.buffer.apply(charge_kw, discharge_kw, dt_h)
        fleet.account_emissions(dt_h)
        self.flows.offered_kw = np.maximum(fleet.production_kw - charge_kw, 0.0)
        self.flows.buffer_charge_kw = charge_kw
        self.flows.buffer_discharge_kw = discharge_kw
        self.flows.buffer_offer_kw = fleet.buffer_offer_kw(dt_h)
