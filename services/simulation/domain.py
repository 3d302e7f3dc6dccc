"""The cell's rules: members as columns, rolling blackouts, one clearing per tick.

Pure and vectorised: nothing here knows about HTTP, storage or clocks. The
service feeds in arrays (what consumers ask, what the fresh prosumers and
plants pushed) and gets back the clearing and the cell's totals.

Rolling blackouts: when supply falls short, ``services.physics.market.clear``
sheds whole consumer clusters in a priority order until what is left can be
served; prosumers are shed only after every consumer. The order here rotates
by one place every ``ROLLING_SLOT_S`` of simulated time (``rolling_priority``),
so that a long shortage cuts the clusters in turn, each for a few slots,
instead of always the same one. The slot comes from the simulated clock, so
the rotation is the same after a restart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from services.physics import market
from services.physics import weather as climate
from services.physics.load import ConsumerClusters, default_timefn, validate_timefn
from services.physics.plant import emission_kg_per_kwh, marginal_cost_sek_per_kwh

ROLLING_SLOT_S = 900.0
"""Simulated seconds a rolling-blackout slot lasts before the cut moves on by one cluster."""

DEFAULT_HOUSEHOLDS = 50
DEFAULT_PLANT_COST_SEK_PER_KWH = float(marginal_cost_sek_per_kwh())
"""Marginal cost assumed for a plant that registers without one (the default coal plant)."""
DEFAULT_PLANT_EMISSION_KG_PER_KWH = float(emission_kg_per_kwh())


# -- members as columns ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One field of a member table: its numpy dtype, default, and whether it is checkpointed."""

    dtype: Any
    default: Any
    persist: bool = True


class MemberTable:
    """Members as columns: one numpy array per field, one element (row) per member.

    A push of thousands of members becomes a handful of fancy-indexed writes;
    a tick reads whole columns. Rows are appended for new ids and removed on
    delete, so a row number is valid only until the next change of membership.
    """

    def __init__(self, spec: Mapping[str, Column]) -> None:
        self.spec = dict(spec)
        self.ids: list[str] = []
        self._rows: dict[str, int] = {}
        self.columns = {name: np.empty(0, dtype=c.dtype) for name, c in self.spec.items()}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._rows

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def row(self, member_id: str) -> int | None:
        return self._rows.get(member_id)

    def rows(self, ids: Sequence[str], *, add: bool = False) -> np.ndarray:
        """Row of each id; with ``add``, members not yet here are appended with defaults."""
        if add:
            new = [member_id for member_id in dict.fromkeys(ids) if member_id not in self._rows]
            if new:
                self._append(new)
        return np.fromiter(
            (self._rows.get(member_id, -1) for member_id in ids), dtype=np.intp, count=len(ids)
        )

    def write(self, rows: np.ndarray | int | slice, values: Mapping[str, Any]) -> None:
        """Set fields of the given rows; each value is a scalar or one value per row."""
        for name, value in values.items():
            self.columns[name][rows] = value

    def numbers(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The numeric columns of the given rows (copies)."""
        return {
            name: column[rows] for name, column in self.columns.items() if column.dtype.kind == "f"
        }

    def remove(self, member_id: str) -> bool:
        """Drop a member; False if there was none."""
        row = self._rows.pop(member_id, None)
        if row is None:
            return False
        del self.ids[row]
        for name, column in self.columns.items():
            self.columns[name] = np.delete(column, row)
        self._rows = {other: index for index, other in enumerate(self.ids)}
        return True

    def record(self, row: int, *, persisted_only: bool = False) -> dict[str, Any]:
        """One member's fields as plain JSON-ready values (non-finite numbers become None)."""
        names = [n for n, c in self.spec.items() if c.persist or not persisted_only]
        return {"id": self.ids[row], **{name: _plain(self.columns[name][row]) for name in names}}

    def records(self, *, persisted_only: bool = False) -> list[dict[str, Any]]:
        """Every member as ``record`` gives it, built column by column."""
        names = [n for n, c in self.spec.items() if c.persist or not persisted_only]
        values = [_plain_list(self.columns[name]) for name in names]
        keys = ["id", *names]
        return [dict(zip(keys, row, strict=True)) for row in zip(self.ids, *values, strict=True)]

    def document(self, member_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """A member's stored document: ``values`` over the defaults, checkpointed fields only."""
        return {
            "id": member_id,
            **{
                name: _plain(values.get(name, column.default))
                for name, column in self.spec.items()
                if column.persist
            },
        }

    def persisted_columns(self) -> dict[str, list[Any]]:
        """The checkpointed fields as JSON-ready lists, one value per member."""
        return {
            name: _plain_list(self.columns[name])
            for name, column in self.spec.items()
            if column.persist
        }

    def load_columns(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """Add or overwrite members from saved columns (``"id"`` and any persisted fields)."""
        names = [name for name in columns if name != "id"]
        self.load(
            [
                {"id": member_id, **dict(zip(names, values, strict=True))}
                for member_id, *values in zip(
                    columns["id"], *(columns[name] for name in names), strict=True
                )
            ]
        )

    def load(self, docs: Sequence[Mapping[str, Any]]) -> None:
        """Add or overwrite members from stored documents; missing or null fields take defaults."""
        if not docs:
            return
        rows = self.rows([str(doc["id"]) for doc in docs], add=True)
        for name, column in self.spec.items():
            if column.persist:
                values = [doc.get(name) for doc in docs]
                self.columns[name][rows] = [
                    column.default if value is None else value for value in values
                ]

    def _append(self, new_ids: list[str]) -> None:
        start = len(self.ids)
        self.ids.extend(new_ids)
        self._rows.update({member_id: start + k for k, member_id in enumerate(new_ids)})
        for name, column in self.spec.items():
            padding = np.full(len(new_ids), column.default, dtype=column.dtype)
            self.columns[name] = np.concatenate((self.columns[name], padding))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain_list(column: np.ndarray) -> list[Any]:
    values = column.tolist()
    if column.dtype.kind == "f":
        return [value if math.isfinite(value) else None for value in values]
    return values


def _floats(*names: str, default: float = 0.0, persist: bool = True) -> dict[str, Column]:
    return {name: Column(float, default, persist) for name in names}


NEVER = -math.inf
"""``updated_s`` of a member that has never pushed: always stale."""

PROSUMER_COLUMNS: dict[str, Column] = {
    "owner": Column(object, None),
    **_floats(
        "production_kw",
        "load_kw",
        "battery_charge_kw",
        "battery_discharge_kw",
        "offered_kw",
        "requested_kw",
        "curtailed_kw",
        "stored_kwh",
        "capacity_kwh",
    ),
    "status": Column(bool, True),
    "broken": Column(bool, False),
    "sell_blocked": Column(bool, False),
    "source": Column(object, "none"),
    **_floats("lat", "lon", default=math.nan),
    "updated_s": Column(float, NEVER),
    # What the cell's last clearing decided; recomputed every tick, never stored.
    **_floats("sold_kw", "bought_kw", persist=False),
    "blackout": Column(bool, False, persist=False),
}
"""A prosumer's last pushed state (``contracts.ProsumerState``), its owner and the cell's answer."""

PLANT_COLUMNS: dict[str, Column] = {
    "owner": Column(object, None),
    "state": Column(object, "stopped"),
    "status": Column(bool, False),
    **_floats(
        "ratio",
        "production_kw",
        "max_production_kw",
        "offered_kw",
        "buffer_charge_kw",
        "buffer_offer_kw",
        "buffer_stored_kwh",
        "buffer_capacity_kwh",
        "co2_kg_per_h",
        "co2_total_kg",
    ),
    "marginal_cost_sek_per_kwh": Column(float, DEFAULT_PLANT_COST_SEK_PER_KWH),
    "updated_s": Column(float, NEVER),
    **_floats("accepted_kw", "buffer_accepted_kw", persist=False),
    "cleared": Column(bool, False, persist=False),
}
"""A plant's last pushed state (``contracts.PlantState``), its owner and the cell's answer."""


def fresh(table: MemberTable, wall_s: float, stale_after_s: float) -> np.ndarray:
    """Members whose last push is at most ``stale_after_s`` old (wall time)."""
    result: np.ndarray = wall_s - table["updated_s"] <= stale_after_s
    return result


# -- consumer clusters -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsumerConfig:
    """A consumer cluster as configured: its daily shape, size and location."""

    id: str
    timefn: tuple[float, ...] = field(default_factory=lambda: tuple(default_timefn().tolist()))
    profile: float = 1.0
    """Scale of the average household (1 = about 5,000 kWh a year)."""
    households: int = DEFAULT_HOUSEHOLDS
    lat: float | None = None
    lon: float | None = None

    def __post_init__(self) -> None:
        validate_timefn(np.asarray(self.timefn))
        if not (math.isfinite(self.profile) and self.profile >= 0):
            raise ValueError("profile must be a finite number >= 0")
        if self.households < 1:
            raise ValueError("households must be at least 1")


class ConsumerFleet:
    """Every consumer cluster of the cell, kept as ``ConsumerClusters`` arrays.

    The arrays are rebuilt whenever a cluster is added, changed or removed;
    each remaining cluster keeps its load noise and its last demand.
    """

    def __init__(self) -> None:
        self.configs: dict[str, ConsumerConfig] = {}
        self.ids: list[str] = []
        self._rows: dict[str, int] = {}
        self.clusters = ConsumerClusters.build(np.zeros(0))
        self.demand_kw = np.zeros(0)
        self.blackout = np.zeros(0, dtype=bool)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, consumer_id: object) -> bool:
        return consumer_id in self.configs

    def put(self, configs: Iterable[ConsumerConfig]) -> None:
        """Add clusters or replace the configuration of existing ones."""
        self.configs.update({config.id: config for config in configs})
        self._rebuild()

    def remove(self, consumer_id: str) -> bool:
        if self.configs.pop(consumer_id, None) is None:
            return False
        self._rebuild()
        return True

    def row(self, consumer_id: str) -> int | None:
        return self._rows.get(consumer_id)

    def step(
        self, when: datetime, temperature_c: float, rng: np.random.Generator, dt_s: float
    ) -> np.ndarray:
        """Every cluster's demand at ``when`` at one temperature for the cell, kW."""
        self.demand_kw = self.clusters.demand_kw(when, np.array([temperature_c]), rng, dt_s)
        return self.demand_kw

    def _rebuild(self) -> None:
        old_rows = self._rows
        old_noise, old_demand, old_blackout = self.clusters.noise, self.demand_kw, self.blackout
        configs = list(self.configs.values())
        self.ids = [config.id for config in configs]
        self._rows = {consumer_id: row for row, consumer_id in enumerate(self.ids)}
        self.clusters = ConsumerClusters.build(
            households=np.array([c.households for c in configs], dtype=float),
            profile=np.array([c.profile for c in configs], dtype=float),
            timefn=np.array([c.timefn for c in configs], dtype=float).reshape(len(configs), 24),
        )
        kept = np.array([old_rows.get(consumer_id, -1) for consumer_id in self.ids], np.intp)
        known = kept >= 0
        self.clusters.noise[known] = old_noise[kept[known]]
        self.demand_kw = np.zeros(len(configs))
        self.demand_kw[known] = old_demand[kept[known]]
        self.blackout = np.zeros(len(configs), dtype=bool)
        self.blackout[known] = old_blackout[kept[known]]


# -- one clearing ------------------------------------------------------------------------------


def rolling_priority(count: int, slot: int) -> np.ndarray:
    """Shedding order for ``count`` members in rolling-blackout ``slot``: rotated by one a slot."""
    return np.roll(np.arange(count, dtype=np.intp), -(slot % count) if count else 0)


def rolling_slot(when: datetime) -> int:
    """The rolling-blackout slot of a simulated time."""
    return int(when.timestamp() // ROLLING_SLOT_S)


@dataclass(frozen=True)
class CellClearing:
    """One tick of the cell: the market's answer for every member, and the totals."""

    clearing: market.Clearing
    tier_quantity_kw: np.ndarray
    tier_price_sek_per_kwh: np.ndarray
    sold_fraction: float
    """Share of every prosumer offer that was sold."""
    consumer_blackout: np.ndarray
    prosumer_blackout: np.ndarray
    prosumer_sold_kw: np.ndarray
    prosumer_bought_kw: np.ndarray
    plant_accepted_kw: np.ndarray
    buffer_accepted_kw: np.ndarray
    totals: dict[str, float]
    """Cell totals in kW (and kg CO2/h, SEK/kWh), named as in ``contracts.CellData``."""


def clear_cell(
    consumer_demand_kw: np.ndarray,
    prosumers: Mapping[str, np.ndarray],
    plants: Mapping[str, np.ndarray],
    slot: int,
) -> CellClearing:
    """Clear the cell: merit order over prosumers, plants and buffers; rolling blackouts.

    ``prosumers`` and ``plants`` hold the columns (``PROSUMER_COLUMNS``,
    ``PLANT_COLUMNS``) of the members that count this tick, i.e. the fresh
    ones. Supply tiers are the prosumers' total offer at
    ``PROSUMER_OFFER_SEK_PER_KWH``, then each plant's offer and each plant's
    buffer offer at the plant's marginal cost; demand is every cluster's
    demand plus every prosumer's request.
    """
    n_plants = plants["offered_kw"].size
    cost = plants["marginal_cost_sek_per_kwh"]
    offered_kw, requested_kw = prosumers["offered_kw"], prosumers["requested_kw"]
    tier_quantity_kw = np.concatenate(
        ([offered_kw.sum()], plants["offered_kw"], plants["buffer_offer_kw"])
    )
    tier_price = np.concatenate(([market.PROSUMER_OFFER_SEK_PER_KWH], cost, cost))
    clearing = market.clear(
        tier_quantity_kw,
        tier_price,
        consumer_demand_kw,
        requested_kw,
        consumer_priority=rolling_priority(consumer_demand_kw.size, slot),
        prosumer_priority=rolling_priority(requested_kw.size, slot),
    )
    sold_fraction = float(clearing.accepted_fraction[0])
    prosumer_blackout = clearing.prosumer_shed & (requested_kw > 0)
    sold_kw = offered_kw * sold_fraction
    bought_kw = np.where(prosumer_blackout, 0.0, requested_kw)
    plant_accepted_kw = clearing.accepted_kw[1 : 1 + n_plants]
    buffer_accepted_kw = clearing.accepted_kw[1 + n_plants :]

    consumer_kw = float(consumer_demand_kw.sum())
    prosumer_kw = float(prosumers["production_kw"].sum())
    plant_kw = float(plants["production_kw"].sum())
    load_kw = float(prosumers["load_kw"].sum())
    curtailed_kw = (
        prosumers["curtailed_kw"].sum()
        + (offered_kw - sold_kw).sum()
        + (plants["offered_kw"] - plant_accepted_kw).sum()
    )
    totals: dict[str, float] = {
        "totalProduction": prosumer_kw + plant_kw,
        "totalDemand": consumer_kw + load_kw,
        "prosumer_production_kw": prosumer_kw,
        "plant_production_kw": plant_kw,
        "battery_charge_kw": float(
            prosumers["battery_charge_kw"].sum() + plants["buffer_charge_kw"].sum()
        ),
        "battery_discharge_kw": float(
            prosumers["battery_discharge_kw"].sum() + buffer_accepted_kw.sum()
        ),
        "prosumer_load_kw": load_kw,
        "consumer_demand_kw": consumer_kw,
        "market_demand_kw": clearing.demand_kw,
        "unserved_kw": clearing.unserved_kw,
        "curtailed_kw": float(curtailed_kw),
        "co2_kg_per_h": float(plants["co2_kg_per_h"].sum()),
        "cell_price_sek_per_kwh": clearing.price_sek_per_kwh,
    }
    # Sums of differences can round to -1e-16; the totals are non-negative by definition.
    totals = {name: max(float(value), 0.0) for name, value in totals.items()}
    return CellClearing(
        clearing=clearing,
        tier_quantity_kw=tier_quantity_kw,
        tier_price_sek_per_kwh=tier_price,
        sold_fraction=sold_fraction,
        consumer_blackout=clearing.consumer_shed,
        prosumer_blackout=prosumer_blackout,
        prosumer_sold_kw=sold_kw,
        prosumer_bought_kw=bought_kw,
        plant_accepted_kw=plant_accepted_kw,
        buffer_accepted_kw=buffer_accepted_kw,
        totals=totals,
    )


def climatological_temperature_c(when: datetime, lon_deg: float) -> float:
    """Luleå's mean temperature for the date and solar hour, °C: the no-weather fallback."""
    day = climate.day_of_year(when)
    hour = climate.solar_hour(when, lon_deg)
    return float(climate.temperature_mean_c(day) + climate.diurnal_temperature_c(hour, day))
