"""The prosumer service's members as arrays, and the rules around them.

Configuration lives in one ``Member`` per prosumer; the tick works on a
``Roster``: one ``ProsumerFleet`` (all members as arrays) plus what the
service needs beside it (tower, weather site, sell block, last tick's
values). Several batteries of one member act as one bank: capacities and
power limits add up, and the stored energy is split back over the member's
batteries in proportion to capacity whenever it is shown or saved.

Rows are added, removed and replaced with ``concat_rows``, ``take_rows`` and
``put_rows``, which work on any dataclass of equally long arrays, so the
roster and everything in it change size together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

import numpy as np

from services.common.contracts import ProsumerPushAnswer
from services.physics import turbine
from services.physics.battery import BatteryBank
from services.physics.prosumer import ProsumerFleet, ProsumerFlows, source_name

HOURS_PER_YEAR = 8_760.0

SITE_STEP_DEG = 0.1
"""Members in one 0.1° cell (about 11 km by 5 km at 65° N) share one weather site.

The weather service caches OpenWeatherMap per 0.1° too, and its synthetic field
varies over tens of kilometres, so a finer grid would only add requests.
"""

_LAT_STEPS = round(180 / SITE_STEP_DEG) + 1
_LON_STEPS = round(360 / SITE_STEP_DEG) + 1

SOURCE_LABELS = np.array([source_name(bits) for bits in range(8)])
"""``source`` bit sets (0-7) as their names, for vectorised look-up."""

Rows = TypeVar("Rows")


@dataclass(frozen=True)
class Battery:
    capacity_kwh: float
    max_output_kw: float
    max_charge_kw: float


@dataclass(frozen=True)
class Member:
    """One prosumer's configuration (what its owner sets, not what the tick changes)."""

    id: str
    turbines_kw: tuple[float, ...]
    batteries: tuple[Battery, ...]
    input_ratio: float
    output_ratio: float
    status: bool
    lat: float | None
    lon: float | None
    """Where the member stands; the service's location when None."""
    hub_height_m: float
    annual_kwh: float
    heating_per_c: float
    blocked_until_s: float | None = None
    """Unix wall time until which the member may not sell."""

    @property
    def capacity_kwh(self) -> float:
        return sum(battery.capacity_kwh for battery in self.batteries)


@dataclass
class Live:
    """The last tick's values per member, for responses and streams."""

    wind_speed_ms: np.ndarray
    production_kw: np.ndarray
    load_kw: np.ndarray
    battery_charge_kw: np.ndarray
    battery_discharge_kw: np.ndarray
    sold_kw: np.ndarray
    bought_kw: np.ndarray
    curtailed_kw: np.ndarray
    source: np.ndarray
    blackout: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> Live:
        """Members that have not been through a tick yet."""
        return cls(
            **{field.name: np.zeros(n) for field in fields(cls)}
            | {"source": np.zeros(n, dtype=np.uint8), "blackout": np.zeros(n, dtype=bool)}
        )

    @classmethod
    def of(cls, flows: ProsumerFlows, wind_speed_ms: np.ndarray) -> Live:
        return cls(
            wind_speed_ms=wind_speed_ms,
            production_kw=flows.production_kw,
            load_kw=flows.load_kw,
            battery_charge_kw=flows.battery_charge_kw,
            battery_discharge_kw=flows.battery_discharge_kw,
            sold_kw=flows.sold_kw,
            bought_kw=flows.bought_kw,
            curtailed_kw=flows.curtailed_kw,
            source=flows.source,
            blackout=flows.blackout,
        )


@dataclass
class Roster:
    """Every member as arrays, in the service's member order."""

    fleet: ProsumerFleet
    tower: np.ndarray
    """Index into ``turbine.TOWER_HEIGHTS_M``."""
    site_code: np.ndarray
    """The member's location rounded to ``SITE_STEP_DEG`` (see ``site_code``)."""
    blocked_until_s: np.ndarray
    """Unix wall time until which selling is blocked; -inf when not blocked."""
    live: Live

    def __len__(self) -> int:
        return len(self.fleet)


def roster_of(
    members: Sequence[Member],
    default_location: tuple[float, float],
    stored_kwh: Sequence[float] | np.ndarray,
    carried: Roster | None = None,
) -> Roster:
    """Rows for ``members``; stored energy is clipped to each bank's capacity.

    ``carried`` (rows of the same members) hands over what the tick has built
    up: repair times, load noise and the last tick's values. Weather sites are
    left unassigned: call ``assign_sites`` on the whole roster afterwards.
    """
    n = len(members)
    default_lat, default_lon = default_location

    def column(value: Callable[[Member], Any], dtype: type = float) -> np.ndarray:
        return np.array([value(member) for member in members], dtype=dtype)

    def bank_sum(value: Callable[[Battery], float]) -> np.ndarray:
        return column(lambda member: sum(value(battery) for battery in member.batteries))

    lat = column(lambda member: default_lat if member.lat is None else member.lat)
    lon = column(lambda member: default_lon if member.lon is None else member.lon)
    fleet = ProsumerFleet(
        rated_kw=column(lambda member: sum(member.turbines_kw)),
        site=np.zeros(n, dtype=np.intp),
        site_tower=np.zeros(n, dtype=np.intp),
        base_load_kw=column(lambda member: member.annual_kwh / HOURS_PER_YEAR),
        heating_coefficient_per_c=column(lambda member: member.heating_per_c),
        battery=BatteryBank.build(
            capacity_kwh=bank_sum(lambda battery: battery.capacity_kwh),
            max_charge_kw=bank_sum(lambda battery: battery.max_charge_kw),
            max_output_kw=bank_sum(lambda battery: battery.max_output_kw),
            stored_kwh=np.asarray(stored_kwh, dtype=float).reshape(n),
        ),
        input_ratio=column(lambda member: member.input_ratio),
        output_ratio=column(lambda member: member.output_ratio),
        turbine_on=column(lambda member: member.status, bool),
        sell_blocked=np.zeros(n, dtype=bool),
        repair_at_s=np.full(n, -np.inf) if carried is None else carried.fleet.repair_at_s.copy(),
        load_noise=np.zeros(n) if carried is None else carried.fleet.load_noise.copy(),
    )
    return Roster(
        fleet=fleet,
        tower=column(lambda member: turbine.TOWER_HEIGHTS_M.index(member.hub_height_m), np.intp),
        site_code=site_code(lat, lon),
        blocked_until_s=column(
            lambda member: -np.inf if member.blocked_until_s is None else member.blocked_until_s
        ),
        live=Live.zeros(n) if carried is None else take_rows(carried.live, slice(None)),
    )


def site_code(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """One integer per location rounded to ``SITE_STEP_DEG``: equal codes share a site."""
    lat_steps = np.rint((np.asarray(lat_deg, float) + 90.0) / SITE_STEP_DEG).astype(np.int64)
    lon_steps = np.rint((np.asarray(lon_deg, float) + 180.0) / SITE_STEP_DEG).astype(np.int64)
    return lat_steps * _LON_STEPS + lon_steps


def site_location(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes (degrees) of ``site_code`` values."""
    lat_steps, lon_steps = np.divmod(np.asarray(codes, dtype=np.int64), _LON_STEPS)
    lat = np.round(lat_steps * SITE_STEP_DEG - 90.0, 1)
    lon = np.round(lon_steps * SITE_STEP_DEG - 180.0, 1)
    return lat, lon


def assign_sites(roster: Roster) -> np.ndarray:
    """Point every member at its weather site, in place; returns the sites' codes."""
    codes, site = np.unique(roster.site_code, return_inverse=True)
    roster.fleet.site = site.astype(np.intp).reshape(len(roster))
    roster.fleet.site_tower = turbine.site_tower_index(
        roster.fleet.site, roster.tower, len(turbine.TOWER_HEIGHTS_M)
    )
    return codes


def split_stored(stored_kwh: float, capacities_kwh: Sequence[float]) -> list[float]:
    """A bank's stored energy shared over its batteries in proportion to capacity, kWh."""
    total = sum(capacities_kwh)
    if total <= 0:
        return [0.0 for _ in capacities_kwh]
    fill = min(max(stored_kwh / total, 0.0), 1.0)
    return [capacity * fill for capacity in capacities_kwh]


@dataclass(frozen=True)
class MarketAnswer:
    """What the cells decided for the last push, combined."""

    sold_fraction: float = 0.0
    blackout_ids: frozenset[str] = frozenset()
    price_sek_per_kwh: float = 0.0


def combine_answers(answers: Iterable[ProsumerPushAnswer]) -> MarketAnswer:
    """One answer from every cell's: the least sold, every blackout, the highest price.

    Every cell receives the whole push, so a member sells only what the
    strictest cell accepted and is dark if any cell shed it. Before any cell
    has answered nothing counts as sold.
    """
    answers = list(answers)
    if not answers:
        return MarketAnswer()
    return MarketAnswer(
        sold_fraction=min(answer.sold_fraction for answer in answers),
        blackout_ids=frozenset(member for answer in answers for member in answer.blackout),
        price_sek_per_kwh=max(answer.price_sek_per_kwh for answer in answers),
    )


# -- rows of dataclasses of arrays -----------------------------------------------------------


def _rebuild(rows: Any, change: Callable[..., np.ndarray], *others: Any) -> Any:
    values = {}
    for field in fields(rows):
        value = getattr(rows, field.name)
        other_values = [getattr(other, field.name) for other in others]
        values[field.name] = (
            _rebuild(value, change, *other_values)
            if is_dataclass(value)
            else change(value, *other_values)
        )
    return type(rows)(**values)


def take_rows(rows: Rows, index: Any) -> Rows:
    """A copy of the rows at ``index`` (an index array, a mask or a slice)."""
    result: Rows = _rebuild(rows, lambda array: np.array(array[index]))
    return result


def concat_rows(first: Rows, second: Rows) -> Rows:
    """``first``'s rows followed by ``second``'s."""
    result: Rows = _rebuild(first, lambda a, b: np.concatenate((a, b)), second)
    return result


def put_rows(target: Any, index: Any, source: Any) -> None:
    """Overwrite ``target``'s rows at ``index`` with ``source``'s, in place."""
    for field in fields(target):
        value, other = getattr(target, field.name), getattr(source, field.name)
        if is_dataclass(value):
            put_rows(value, index, other)
        else:
            value[index] = other
