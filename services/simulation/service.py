"""The simulation cell's use cases: members, pushes, the tick, history.

A cell keeps its consumer clusters (configuration), the latest pushed state
of every prosumer and plant, and clears supply against demand once a tick.
It simulates neither prosumers nor plants: their services push state every
tick (``POST /api/members/{prosumers,managers}/bulk``) and read back what the
cell's last clearing decided for them.

Each tick:

1. dt is the simulated time since the previous tick (first tick:
   ``tick_seconds x speed``), capped at ten ticks' worth.
2. Temperature at the cell's location from the weather service
   (``GET {weather_url}/api/weather``, short timeout). When the service does
   not answer, the last reading is kept for up to ``WEATHER_MAX_AGE_S`` of
   simulated time; without a usable reading the cell uses Luleå's
   climatological temperature for the date and hour (``domain``), never 0 K
   as the original did. The tick never fails because of the weather.
3. Consumer demand of every cluster (``ConsumerClusters``, one vector step).
4. Members whose last state is older than ``stale_after_seconds`` of wall
   time are *stale*: listed in ``stale_members`` and left out of supply,
   demand and every total until they push again.
5. Merit-order clearing with rolling blackouts (``domain.clear_cell``).
6. Totals become ``CellData`` (``GET /api/data``), are published as the SSE
   event ``totals`` and kept for the history.

Persistence: consumer clusters and legacy registrations are written through
before the response. Pushed and PUT state and the history are written in
bulk every ``checkpoint_seconds`` and on shutdown, and reloaded on start.
Deleting a member that still pushes does not stop it: its next push
registers it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from services.common.clock import Clock
from services.common.contracts import (
    CellData,
    PlantAcceptance,
    PlantPush,
    PlantPushAnswer,
    PlantState,
    ProsumerPush,
    ProsumerPushAnswer,
    ProsumerState,
    SupplyTier,
    WeatherReading,
)
from services.common.errors import ConflictError, InvalidInputError, NotFoundError
from services.common.history import HistoryQuery, downsample
from services.common.runtime import Every, ServiceRuntime
from services.common.settings import SimulationSettings
from services.common.sse import Broadcaster
from services.common.storage import Point
from services.simulation import domain
from services.simulation.domain import (
    PLANT_COLUMNS,
    PROSUMER_COLUMNS,
    CellClearing,
    ConsumerConfig,
    ConsumerFleet,
    MemberTable,
)
from services.simulation.repository import Pushed, SimulationRepository
from services.simulation.schemas import (
    Consumer,
    ConsumerCreate,
    ConsumerUpdate,
    History,
    Manager,
    ManagerLegacy,
    MemberId,
    Members,
    Prosumer,
    ProsumerLegacy,
    TotalsPoint,
)

log = logging.getLogger(__name__)

WEATHER_MAX_AGE_S = 3 * 3600.0
"""Simulated seconds a temperature reading is used for while the weather service is down."""
HISTORY_WINDOW_S = 3600.0
"""Simulated seconds of history answered when ``from`` is not given."""
MAX_SCANNED_POINTS = 1_000_000
"""Most stored points one history request may read before downsampling."""
MAX_PENDING_POINTS = 100_000
"""Most unflushed history points kept in memory while storage is down."""

_PUSHED_IDS: TypeAdapter[list[str]] = TypeAdapter(list[MemberId])

PUSHED_PROSUMER_FIELDS = tuple(
    name for name in ProsumerState.model_fields if name not in ("id", "lat", "lon")
)
"""The pushed prosumer fields stored as they come (ids and locations are handled apart)."""
PUSHED_PLANT_FIELDS = tuple(name for name in PlantState.model_fields if name != "id")


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the last clearing decided, as the pushes' answers report it."""

    time: datetime | None = None
    sold_fraction: float = 0.0
    price_sek_per_kwh: float = 0.0


class _Throttled:
    """Log a failure when it starts, then at most once a minute while it lasts."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing = False
        self._reminder = Every(60.0)

    def failed(self, exc: BaseException) -> None:
        if not self.failing:
            self._reminder = Every(60.0)
        if not self.failing or self._reminder.due():
            log.warning("%s failed: %s", self.what, str(exc) or type(exc).__name__)
        self.failing = True

    def recovered(self) -> None:
        if self.failing:
            log.info("%s works again", self.what)
        self.failing = False


class SimulationService:
    """One grid cell: its members, its clearing, its totals and history."""

    def __init__(
        self,
        settings: SimulationSettings,
        runtime: ServiceRuntime,
        repository: SimulationRepository,
        *,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.repository = repository
        self.wall_time = wall_time
        """Wall clock (unix seconds) for staleness; tests replace it."""
        self.consumers = ConsumerFleet()
        self.prosumers = MemberTable(PROSUMER_COLUMNS)
        self.plants = MemberTable(PLANT_COLUMNS)
        self.broadcaster = Broadcaster()
        self.data = CellData(
            totalProduction=0.0,
            totalDemand=0.0,
            cell=settings.name,
            time=None,
            prosumer_production_kw=0.0,
            plant_production_kw=0.0,
            battery_charge_kw=0.0,
            battery_discharge_kw=0.0,
            prosumer_load_kw=0.0,
            consumer_demand_kw=0.0,
            market_demand_kw=0.0,
            unserved_kw=0.0,
            curtailed_kw=0.0,
            co2_kg_per_h=0.0,
            supply=[],
            cell_price_sek_per_kwh=0.0,
            blackout_consumers=[],
            blackout_prosumers=[],
            stale_members=[],
        )
        self.decision = Decision()
        self._rng = np.random.default_rng(settings.seed)
        self._last_tick: datetime | None = None
        self._weather: tuple[float, datetime] | None = None
        self._weather_timeout_s = min(1.0, 0.5 * settings.tick_seconds)
        self._pending: list[Point] = []
        self._checkpoint_due = Every(settings.checkpoint_seconds)
        # Member writes and checkpoints take turns, so a checkpoint never re-stores a member
        # that a request has just deleted; history reads wait for a flush to finish.
        self._members_lock = asyncio.Lock()
        self._history_lock = asyncio.Lock()
        self._weather_log = _Throttled("weather request")
        self._checkpoint_log = _Throttled("checkpoint")

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def cell(self) -> str:
        return self.settings.name

    # -- start and stop ----------------------------------------------------------------------

    async def load(self) -> None:
        """Restore consumer clusters and registered members from storage."""
        configs = [
            ConsumerConfig(
                id=doc["id"],
                timefn=tuple(doc["timefn"]),
                profile=doc["profile"],
                households=doc["households"],
                lat=doc.get("lat"),
                lon=doc.get("lon"),
            )
            for doc in await self.repository.load("consumers")
        ]
        self.consumers.put(configs)
        self.prosumers.load_columns(await self.repository.load_table("prosumers"))
        self.plants.load_columns(await self.repository.load_table("managers"))
        log.info(
            "cell %s: loaded %d consumer clusters, %d prosumers, %d plants",
            self.cell,
            len(self.consumers),
            len(self.prosumers),
            len(self.plants),
        )

    async def close(self) -> None:
        """End every event stream and write the last checkpoint."""
        self.broadcaster.close()
        await self.checkpoint()

    # -- the tick ----------------------------------------------------------------------------

    async def tick(self) -> None:
        """One tick: weather, demand, clearing, totals, stream; a checkpoint now and then."""
        now = self.clock.now()
        dt_s = self._step_seconds(now)
        temperature_c = await self._temperature_c(now)
        # From here to the publication nothing awaits, so no push changes the members midway.
        result = self._clear(now, dt_s, temperature_c)
        self.broadcaster.publish("totals", self.data.model_dump(mode="json"))
        self._remember(now, temperature_c, result)
        if self._checkpoint_due.due():
            await self.checkpoint()

    def _step_seconds(self, now: datetime) -> float:
        nominal_s = self.settings.tick_seconds * self.settings.speed
        previous, self._last_tick = self._last_tick, now
        if previous is None:
            return nominal_s
        return min(max((now - previous).total_seconds(), 0.0), 10 * nominal_s)

    async def _temperature_c(self, now: datetime) -> float:
        """The cell's air temperature, °C: measured, else the last reading, else climatology."""
        try:
            response = await self.runtime.http.get(
                f"{self.settings.weather_url.rstrip('/')}/api/weather",
                params={"lat": self.settings.latitude, "lon": self.settings.longitude},
                timeout=self._weather_timeout_s,
            )
            response.raise_for_status()
            reading = WeatherReading.model_validate_json(response.content)
        except Exception as exc:  # any failure of a peer must leave the tick running
            self._weather_log.failed(exc)
        else:
            self._weather_log.recovered()
            self._weather = (reading.temperature_c, now)
            return reading.temperature_c
        if self._weather is not None:
            temperature_c, read_at = self._weather
            if abs((now - read_at).total_seconds()) <= WEATHER_MAX_AGE_S:
                return temperature_c
        return domain.climatological_temperature_c(now, self.settings.longitude)

    def _clear(self, now: datetime, dt_s: float, temperature_c: float) -> CellClearing:
        """Clear the cell and record each member's part of the result (no awaits)."""
        wall_s, stale_after_s = self.wall_time(), self.settings.stale_after_seconds
        demand_kw = self.consumers.step(now, temperature_c, self._rng, dt_s)
        prosumer_rows = np.flatnonzero(domain.fresh(self.prosumers, wall_s, stale_after_s))
        plant_rows = np.flatnonzero(domain.fresh(self.plants, wall_s, stale_after_s))
        result = domain.clear_cell(
            demand_kw,
            self.prosumers.numbers(prosumer_rows),
            self.plants.numbers(plant_rows),
            domain.rolling_slot(now),
        )

        self.consumers.blackout = result.consumer_blackout
        self.prosumers.write(slice(None), {"sold_kw": 0.0, "bought_kw": 0.0, "blackout": False})
        self.prosumers.write(
            prosumer_rows,
            {
                "sold_kw": result.prosumer_sold_kw,
                "bought_kw": result.prosumer_bought_kw,
                "blackout": result.prosumer_blackout,
            },
        )
        self.plants.write(
            slice(None), {"accepted_kw": 0.0, "buffer_accepted_kw": 0.0, "cleared": False}
        )
        self.plants.write(
            plant_rows,
            {
                "accepted_kw": result.plant_accepted_kw,
                "buffer_accepted_kw": result.buffer_accepted_kw,
                "cleared": True,
            },
        )
        self.decision = Decision(
            time=now,
            sold_fraction=min(max(result.sold_fraction, 0.0), 1.0),
            price_sek_per_kwh=result.clearing.price_sek_per_kwh,
        )
        self.data = self._cell_data(now, result, prosumer_rows, plant_rows)
        self.runtime.metrics.update(
            consumer_clusters=len(self.consumers),
            prosumers=len(self.prosumers),
            plants=len(self.plants),
            stale_members=len(self.data.stale_members),
            unserved_kw=result.totals["unserved_kw"],
        )
        return result

    def _cell_data(
        self,
        now: datetime,
        result: CellClearing,
        prosumer_rows: np.ndarray,
        plant_rows: np.ndarray,
    ) -> CellData:
        plant_ids = [self.plants.ids[row] for row in plant_rows]
        quantity, price = result.tier_quantity_kw, result.tier_price_sek_per_kwh
        n = len(plant_ids)
        supply = [
            SupplyTier(kind="prosumers", quantity_kw=quantity[0], price_sek_per_kwh=price[0]),
            *(
                SupplyTier(
                    kind=kind,
                    id=plant_id,
                    quantity_kw=quantity[offset + k],
                    price_sek_per_kwh=price[offset + k],
                )
                for kind, offset in (("plant", 1), ("buffer", 1 + n))
                for k, plant_id in enumerate(plant_ids)
            ),
        ]
        stale_prosumers = np.setdiff1d(np.arange(len(self.prosumers)), prosumer_rows)
        stale_plants = np.setdiff1d(np.arange(len(self.plants)), plant_rows)
        return CellData(
            **result.totals,
            cell=self.cell,
            time=now,
            supply=supply,
            blackout_consumers=[
                self.consumers.ids[row] for row in np.flatnonzero(result.consumer_blackout)
            ],
            blackout_prosumers=[
                self.prosumers.ids[row] for row in prosumer_rows[result.prosumer_blackout]
            ],
            stale_members=[
                *(self.prosumers.ids[row] for row in stale_prosumers),
                *(self.plants.ids[row] for row in stale_plants),
            ],
        )

    def _remember(self, now: datetime, temperature_c: float, result: CellClearing) -> None:
        """Keep the tick's totals for the history until the next checkpoint."""
        point = {
            **result.totals,
            "temperature_c": temperature_c,
            "blackout_consumer_count": len(self.data.blackout_consumers),
            "blackout_prosumer_count": len(self.data.blackout_prosumers),
            "stale_member_count": len(self.data.stale_members),
        }
        self._pending.append((now.timestamp(), point))
        if len(self._pending) > MAX_PENDING_POINTS:
            del self._pending[: len(self._pending) - MAX_PENDING_POINTS]

    async def checkpoint(self) -> None:
        """Store every pushed state (one bulk write per kind) and the unflushed history."""
        try:
            async with self._members_lock:
                await self._save_table(self.prosumers, "prosumers")
                await self._save_table(self.plants, "managers")
            async with self._history_lock:
                if self._pending:
                    await self.repository.append_totals(self._pending)
                    self._pending = []
        except Exception as exc:  # storage may be down: keep running, try again next time
            self._checkpoint_log.failed(exc)
        else:
            self._checkpoint_log.recovered()

    # -- consumers ---------------------------------------------------------------------------

    def consumer(self, consumer_id: str) -> Consumer:
        row = self.consumers.row(consumer_id)
        if row is None:
            raise NotFoundError(f"no consumer cluster {consumer_id!r} in cell {self.cell!r}")
        config = self.consumers.configs[consumer_id]
        return Consumer(
            id=config.id,
            timefn=list(config.timefn),
            profile=config.profile,
            households=config.households,
            demand=float(self.consumers.demand_kw[row]),
            blackout=bool(self.consumers.blackout[row]),
            name=self.cell,
            lat=config.lat,
            lon=config.lon,
        )

    def list_consumers(self) -> list[Consumer]:
        return [self.consumer(consumer_id) for consumer_id in self.consumers.ids]

    async def create_consumers(self, items: Sequence[ConsumerCreate]) -> list[Consumer]:
        """Add clusters, all or none; 409 if an id is taken."""
        configs = [
            ConsumerConfig(
                id=item.id or _new_id(),
                profile=item.profile,
                households=item.households,
                lat=item.lat,
                lon=item.lon,
                **({"timefn": tuple(item.timefn)} if item.timefn is not None else {}),
            )
            for item in items
        ]
        ids = [config.id for config in configs]
        async with self._members_lock:
            _refuse_taken(ids, self.consumers, "consumer cluster")
            await self.repository.save("consumers", [_consumer_doc(c) for c in configs])
            self.consumers.put(configs)
        return [self.consumer(consumer_id) for consumer_id in ids]

    async def update_consumer(self, consumer_id: str, change: ConsumerUpdate) -> Consumer:
        """Replace the given fields of a cluster."""
        _refuse_other_id(consumer_id, change.id)
        async with self._members_lock:
            current = self.consumers.configs.get(consumer_id)
            if current is None:
                raise NotFoundError(f"no consumer cluster {consumer_id!r} in cell {self.cell!r}")
            values = change.model_dump(exclude={"id"}, exclude_none=True)
            if "timefn" in values:
                values["timefn"] = tuple(values["timefn"])
            config = dataclasses.replace(current, **values)
            await self.repository.save("consumers", [_consumer_doc(config)])
            self.consumers.put([config])
        return self.consumer(consumer_id)

    async def delete_consumer(self, consumer_id: str) -> Consumer:
        async with self._members_lock:
            removed = self.consumer(consumer_id)
            await self.repository.delete("consumers", consumer_id)
            self.consumers.remove(consumer_id)
        return removed

    # -- prosumers ---------------------------------------------------------------------------

    def prosumer(self, prosumer_id: str) -> Prosumer:
        row = self.prosumers.row(prosumer_id)
        if row is None:
            raise NotFoundError(f"no prosumer {prosumer_id!r} in cell {self.cell!r}")
        return self._prosumer_at(row, self.wall_time())

    def list_prosumers(self) -> list[Prosumer]:
        wall_s = self.wall_time()
        return [self._prosumer_at(row, wall_s) for row in range(len(self.prosumers))]

    def _prosumer_at(self, row: int, wall_s: float) -> Prosumer:
        member = self.prosumers.record(row)
        return Prosumer(
            id=member["id"],
            totalProduction=member["production_kw"],
            totalCapacity=member["capacity_kwh"],
            currentCapacity=member["stored_kwh"],
            name=member["owner"],
            status=member["status"],
            load_kw=member["load_kw"],
            offered_kw=member["offered_kw"],
            requested_kw=member["requested_kw"],
            sold_kw=member["sold_kw"],
            bought_kw=member["bought_kw"],
            battery_charge_kw=member["battery_charge_kw"],
            battery_discharge_kw=member["battery_discharge_kw"],
            curtailed_kw=member["curtailed_kw"],
            broken=member["broken"],
            sell_blocked=member["sell_blocked"],
            source=member["source"],
            blackout=member["blackout"],
            stale=self._stale(member["updated_s"], wall_s),
            updated=_wall_datetime(member["updated_s"]),
            lat=member["lat"],
            lon=member["lon"],
        )

    async def register_prosumers(self, items: Sequence[ProsumerLegacy]) -> list[Prosumer]:
        """Register prosumers with a first state (the original's POST), all or none."""
        wall_s = self.wall_time()
        docs = [
            self.prosumers.document(item.id or _new_id(), _prosumer_values(item, wall_s))
            for item in items
        ]
        return await self._register(self.prosumers, "prosumers", docs, self.prosumer)

    async def update_prosumer(self, prosumer_id: str, item: ProsumerLegacy) -> Prosumer:
        """Replace a prosumer's state (the original's per-tick PUT); stored at the checkpoint."""
        _refuse_other_id(prosumer_id, item.id)
        row = self.prosumers.row(prosumer_id)
        if row is None:
            raise NotFoundError(f"no prosumer {prosumer_id!r} in cell {self.cell!r}")
        self.prosumers.write(row, _prosumer_values(item, self.wall_time()))
        return self.prosumer(prosumer_id)

    async def delete_prosumer(self, prosumer_id: str) -> Prosumer:
        removed = self.prosumer(prosumer_id)
        await self._delete(self.prosumers, "prosumers", prosumer_id)
        return removed

    def push_prosumers(self, push: ProsumerPush) -> ProsumerPushAnswer:
        """Take every pushed prosumer's state; answer with the last clearing's decision."""
        members = push.members
        ids = _checked_push_ids(members.id)
        rows = self.prosumers.rows(ids, add=True)
        values: dict[str, Any] = {name: getattr(members, name) for name in PUSHED_PROSUMER_FIELDS}
        values["lat"] = [math.nan if lat is None else lat for lat in members.lat]
        values["lon"] = [math.nan if lon is None else lon for lon in members.lon]
        values["owner"] = push.source
        values["updated_s"] = self.wall_time()
        self.prosumers.write(rows, values)
        self.runtime.metrics["last_prosumer_push_members"] = len(members)
        blackout = self.prosumers["blackout"][rows]
        return ProsumerPushAnswer(
            time=self.decision.time,
            sold_fraction=self.decision.sold_fraction,
            blackout=[member_id for member_id, out in zip(ids, blackout, strict=True) if out],
            price_sek_per_kwh=self.decision.price_sek_per_kwh,
        )

    # -- managers (plants) -------------------------------------------------------------------

    def manager(self, manager_id: str) -> Manager:
        row = self.plants.row(manager_id)
        if row is None:
            raise NotFoundError(f"no manager (plant) {manager_id!r} in cell {self.cell!r}")
        return self._manager_at(row, self.wall_time())

    def list_managers(self) -> list[Manager]:
        wall_s = self.wall_time()
        return [self._manager_at(row, wall_s) for row in range(len(self.plants))]

    def _manager_at(self, row: int, wall_s: float) -> Manager:
        plant = self.plants.record(row)
        return Manager(
            id=plant["id"],
            current=plant["production_kw"],
            maxProduction=plant["max_production_kw"],
            status=plant["status"],
            ratio=plant["ratio"],
            name=plant["owner"],
            state=plant["state"],
            offered_kw=plant["offered_kw"],
            buffer_charge_kw=plant["buffer_charge_kw"],
            buffer_offer_kw=plant["buffer_offer_kw"],
            buffer_stored_kwh=plant["buffer_stored_kwh"],
            buffer_capacity_kwh=plant["buffer_capacity_kwh"],
            marginal_cost_sek_per_kwh=plant["marginal_cost_sek_per_kwh"],
            co2_kg_per_h=plant["co2_kg_per_h"],
            co2_total_kg=plant["co2_total_kg"],
            accepted_kw=plant["accepted_kw"],
            buffer_accepted_kw=plant["buffer_accepted_kw"],
            stale=self._stale(plant["updated_s"], wall_s),
            updated=_wall_datetime(plant["updated_s"]),
        )

    async def register_managers(self, items: Sequence[ManagerLegacy]) -> list[Manager]:
        """Register plants with a first state (the original's POST), all or none."""
        wall_s = self.wall_time()
        docs = [
            self.plants.document(item.id or _new_id(), _plant_values(item, wall_s))
            for item in items
        ]
        return await self._register(self.plants, "managers", docs, self.manager)

    async def update_manager(self, manager_id: str, item: ManagerLegacy) -> Manager:
        """Replace a plant's state (the original's per-tick PUT); stored at the checkpoint."""
        _refuse_other_id(manager_id, item.id)
        row = self.plants.row(manager_id)
        if row is None:
            raise NotFoundError(f"no manager (plant) {manager_id!r} in cell {self.cell!r}")
        self.plants.write(row, _plant_values(item, self.wall_time()))
        return self.manager(manager_id)

    async def delete_manager(self, manager_id: str) -> Manager:
        removed = self.manager(manager_id)
        await self._delete(self.plants, "managers", manager_id)
        return removed

    def push_plants(self, push: PlantPush) -> PlantPushAnswer:
        """Take every pushed plant's state; answer with what the last clearing accepted.

        Plants that were not part of the last clearing (new, or stale then) are left out
        of ``accepted``.
        """
        members = push.members
        ids = _checked_push_ids([member.id for member in members])
        rows = self.plants.rows(ids, add=True)
        values: dict[str, Any] = {
            name: [getattr(member, name) for member in members] for name in PUSHED_PLANT_FIELDS
        }
        values["owner"] = push.source
        values["updated_s"] = self.wall_time()
        self.plants.write(rows, values)
        self.runtime.metrics["last_plant_push_members"] = len(members)
        cleared = self.plants["cleared"]
        accepted, buffer = self.plants["accepted_kw"], self.plants["buffer_accepted_kw"]
        return PlantPushAnswer(
            time=self.decision.time,
            accepted={
                plant_id: PlantAcceptance(plant_kw=accepted[row], buffer_kw=buffer[row])
                for plant_id, row in zip(ids, rows, strict=True)
                if cleared[row]
            },
            price_sek_per_kwh=self.decision.price_sek_per_kwh,
        )

    # -- shared member handling --------------------------------------------------------------

    async def _register(
        self,
        table: MemberTable,
        kind: Pushed,
        docs: list[dict[str, Any]],
        view: Callable[[str], Any],
    ) -> list[Any]:
        ids = [doc["id"] for doc in docs]
        async with self._members_lock:
            _refuse_taken(ids, table, kind.removesuffix("s"))
            table.load(docs)
            try:
                await self._save_table(table, kind)
            except Exception:
                for member_id in ids:
                    table.remove(member_id)
                raise
        return [view(member_id) for member_id in ids]

    async def _delete(self, table: MemberTable, kind: Pushed, member_id: str) -> None:
        async with self._members_lock:
            row = table.row(member_id)
            if row is None:
                return
            removed = table.record(row, persisted_only=True)
            table.remove(member_id)
            try:
                await self._save_table(table, kind)
            except Exception:
                table.load([removed])
                raise

    async def _save_table(self, table: MemberTable, kind: Pushed) -> None:
        """Write every member of ``table`` as columns (register, delete, checkpoint)."""
        await self.repository.save_table(kind, list(table.ids), table.persisted_columns())

    def members(self) -> Members:
        return Members(
            consumers=self.list_consumers(),
            prosumers=self.list_prosumers(),
            managers=self.list_managers(),
        )

    def _stale(self, updated_s: float | None, wall_s: float) -> bool:
        return updated_s is None or wall_s - updated_s > self.settings.stale_after_seconds

    # -- history -----------------------------------------------------------------------------

    async def history(self, query: HistoryQuery) -> History:
        """Totals per tick in a simulated-time range, averaged into ``step`` seconds if given."""
        end_s = self._unix(query.end) if query.end else None
        if query.start:
            start_s = self._unix(query.start)
        else:
            start_s = (end_s or self.clock.now().timestamp()) - HISTORY_WINDOW_S
        async with self._history_lock:
            points = await self.repository.totals(start_s, end_s, MAX_SCANNED_POINTS + 1)
            points += [
                (t, values)
                for t, values in self._pending
                if t >= start_s and (end_s is None or t < end_s)
            ]
        if len(points) > MAX_SCANNED_POINTS:
            raise InvalidInputError(
                f"more than {MAX_SCANNED_POINTS} ticks in range; ask for a shorter range"
            )
        points_out = downsample(points, query.step)
        return History(points=[TotalsPoint.model_validate(point) for point in points_out])

    def _unix(self, when: datetime) -> float:
        """Unix seconds of a query time; a time without a zone is read in the clock's zone."""
        return (when if when.tzinfo else when.replace(tzinfo=self.clock.tz)).timestamp()


# -- helpers -----------------------------------------------------------------------------------


def _new_id() -> str:
    return uuid.uuid4().hex


def _refuse_taken(ids: Sequence[str], existing: Any, what: str) -> None:
    """409 if an id is already a member; 422 if the request names one twice."""
    repeated = sorted(member_id for member_id, count in Counter(ids).items() if count > 1)
    if repeated:
        raise InvalidInputError(f"id given more than once: {', '.join(repeated)}")
    taken = [member_id for member_id in ids if member_id in existing]
    if taken:
        raise ConflictError(f"{what} already exists: {', '.join(taken[:20])}")


def _refuse_other_id(path_id: str, body_id: str | None) -> None:
    if body_id is not None and body_id != path_id:
        raise InvalidInputError(
            f"id in the body ({body_id!r}) differs from the id in the path ({path_id!r})",
            detail=[{"field": "id", "message": "must match the id in the path"}],
        )


def _checked_push_ids(ids: list[str]) -> list[str]:
    """The pushed ids if every one is well-formed and given once; else 422 naming the first."""
    try:
        _PUSHED_IDS.validate_python(ids)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidInputError(
            "invalid member id",
            detail=[{"field": f"members.{error['loc'][0]}.id", "message": error["msg"]}],
        ) from None
    if len(set(ids)) != len(ids):
        raise InvalidInputError("a member appears more than once in the push")
    return ids


def _consumer_doc(config: ConsumerConfig) -> dict[str, Any]:
    return {**dataclasses.asdict(config), "timefn": list(config.timefn)}


def _prosumer_values(item: ProsumerLegacy, wall_s: float) -> dict[str, Any]:
    """Table fields from the original's prosumer state; no battery use unless flows are given."""
    net_kw = item.totalProduction - item.load_kw
    offered_kw = item.offered_kw if item.offered_kw is not None else max(net_kw, 0.0)
    requested_kw = item.requested_kw if item.requested_kw is not None else max(-net_kw, 0.0)
    return {
        "owner": item.name,
        "production_kw": item.totalProduction,
        "load_kw": item.load_kw,
        "offered_kw": offered_kw,
        "requested_kw": requested_kw,
        "battery_charge_kw": 0.0,
        "battery_discharge_kw": 0.0,
        "curtailed_kw": 0.0,
        "stored_kwh": item.currentCapacity,
        "capacity_kwh": item.totalCapacity,
        "status": item.status,
        "source": "market" if requested_kw > 0 else "own" if item.load_kw > 0 else "none",
        "updated_s": wall_s,
    }


def _plant_values(item: ManagerLegacy, wall_s: float) -> dict[str, Any]:
    """Table fields from the original's manager state, with the documented defaults."""
    producing = item.current > 0
    state = item.state or (
        ("running" if producing else "starting")
        if item.status
        else ("stopping" if producing else "stopped")
    )
    return {
        "owner": item.name,
        "state": state,
        "status": item.status,
        "ratio": item.ratio
        if item.ratio is not None
        else (item.current / item.maxProduction if item.maxProduction > 0 else 0.0),
        "production_kw": item.current,
        "max_production_kw": item.maxProduction,
        "offered_kw": item.offered_kw
        if item.offered_kw is not None
        else item.current - item.buffer_charge_kw,
        "buffer_charge_kw": item.buffer_charge_kw,
        "buffer_offer_kw": item.buffer_offer_kw,
        "buffer_stored_kwh": item.buffer_stored_kwh,
        "buffer_capacity_kwh": item.buffer_capacity_kwh,
        "marginal_cost_sek_per_kwh": item.marginal_cost_sek_per_kwh
        if item.marginal_cost_sek_per_kwh is not None
        else domain.DEFAULT_PLANT_COST_SEK_PER_KWH,
        "co2_kg_per_h": item.co2_kg_per_h
        if item.co2_kg_per_h is not None
        else item.current * domain.DEFAULT_PLANT_EMISSION_KG_PER_KWH,
        "co2_total_kg": item.co2_total_kg,
        "updated_s": wall_s,
    }


def _wall_datetime(unix_s: float | None) -> datetime | None:
    if unix_s is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=unix_s)
