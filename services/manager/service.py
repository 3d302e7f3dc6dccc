"""Use cases of the manager: plants created, steered, shown and deleted; the tick.

The tick (one loop for every plant): advance the plants by the simulated time
since the last tick (``Plants.advance``); push every plant's state in one
``PlantPush`` to each simulation cell at once, with the service's
``grid.push`` token (a cell's 401 drops the token, so the next tick gets a new
one); keep what each cell answers (``PlantPushAnswer.accepted``) for the next
tick, whose buffer discharge is the buffer power the cells accepted; publish
the plants on ``/api/stream``; now and then checkpoint the dynamic state in one
bulk write.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import uuid4

import httpx
import numpy as np

from services.common import contracts
from services.common.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from services.common.runtime import Every, ServiceRuntime
from services.common.security import PUSH_SCOPE, ServiceTokenClient
from services.common.settings import ManagerSettings
from services.common.sse import Broadcaster
from services.manager.domain import (
    DEFAULT_BUFFER_HOURS,
    DEFAULT_BUFFER_POWER_FRACTION,
    STATE_NAMES,
    PlantRecord,
    Plants,
)
from services.manager.repository import PlantRepository
from services.manager.schemas import (
    BufferPublic,
    Control,
    ControlUpdate,
    PlantCreate,
    PlantPublic,
    PlantsEvent,
)
from services.physics.plant import PlantState

log = logging.getLogger(__name__)

PUSH_PATH = "/api/members/managers/bulk"
MAX_TICKS_PER_STEP = 10
"""A tick never advances more than this many nominal ticks, so a stall is not one giant step."""
PUSH_TIMEOUT_S = 2.0
LOG_FAILURES_EVERY_S = 60.0


@dataclass
class Cell:
    """A simulation cell the plants are pushed to, and its answer to the latest push."""

    url: str
    answer: contracts.PlantPushAnswer | None = None
    """None when the latest push failed: nothing it sold is delivered."""
    failures: int = 0
    logged_at: float = -math.inf


def new_record(item: PlantCreate) -> PlantRecord:
    """A stopped plant from its creation payload; an omitted buffer gets the default size."""
    max_kw = item.maxProduction
    buffer = item.buffer
    return PlantRecord(
        id=item.id or uuid4().hex,
        max_production_kw=max_kw,
        ratio=item.ratio,
        on=item.status,
        buffer_capacity_kwh=buffer.capacity if buffer else max_kw * DEFAULT_BUFFER_HOURS,
        buffer_max_output_kw=buffer.maxOutput if buffer else max_kw * DEFAULT_BUFFER_POWER_FRACTION,
        buffer_max_charge_kw=buffer.maxCharge if buffer else max_kw * DEFAULT_BUFFER_POWER_FRACTION,
        buffer_stored_kwh=buffer.current if buffer else 0.0,
        buffer_ratio=item.buffer_ratio,
        startup_s=item.startup_seconds,
        ramp_fraction_per_s=item.ramp_per_second,
        min_load_fraction=item.min_load,
        efficiency=item.efficiency,
    )


class ManagerService:
    """The plants of one manager instance and everything done to them."""

    def __init__(
        self,
        runtime: ServiceRuntime,
        settings: ManagerSettings,
        repository: PlantRepository,
        plants: Plants,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.repository = repository
        self.plants = plants
        self.broadcaster = Broadcaster()
        self.cells = [Cell(url) for url in settings.simulation_urls]
        self.checkpoint_gate = Every(settings.checkpoint_seconds)
        # Configuration writes, deletes and checkpoints take turns, so that a checkpoint
        # in flight cannot write back a plant that was just deleted or steered.
        self._write_lock = asyncio.Lock()
        self._tick_lock = asyncio.Lock()
        # The first tick advances by the simulated time since start-up, so a restart does
        # not add a step (and its emission) that never happened.
        self._last_tick_at = runtime.clock.now()
        self._max_step_s = MAX_TICKS_PER_STEP * settings.tick_seconds * settings.speed
        self._push_timeout_s = min(settings.tick_seconds, PUSH_TIMEOUT_S)
        self.push_tokens = ServiceTokenClient.for_service(runtime.http, settings, [PUSH_SCOPE])
        """The service's own token for the cells (``grid.push``), fetched about every 10 min.

        Its requests may wait longer than a push: a slow issuer (it hashes the
        client secret) must not keep the service from ever getting a token.
        """

    @classmethod
    async def open(cls, runtime: ServiceRuntime, settings: ManagerSettings) -> ManagerService:
        """The service with the plants of ``settings.name`` loaded from storage."""
        repository = PlantRepository(runtime.storage, settings.name)
        records = await repository.load()
        log.info("manager %s: loaded %d plant(s)", settings.name, len(records))
        return cls(runtime, settings, repository, Plants(records))

    async def close(self) -> None:
        """End the event streams and checkpoint (after the tick loop has stopped)."""
        self.broadcaster.close()
        try:
            await self.checkpoint()
        except Exception:
            log.exception("manager %s: final checkpoint failed", self.settings.name)

    # -- members ------------------------------------------------------------------------------

    def members(self) -> list[PlantPublic]:
        return [self._public(index) for index in range(len(self.plants))]

    def member(self, plant_id: str) -> PlantPublic:
        return self._public(self._index(plant_id))

    async def create(self, items: Sequence[PlantCreate]) -> list[PlantPublic]:
        """Create every plant or none; 409 if an id exists or is given twice."""
        if not items:
            raise InvalidInputError(
                "expected at least one plant",
                detail=[{"field": "body", "message": "expected at least one plant"}],
            )
        records = [new_record(item) for item in items]
        ids = [record.id for record in records]
        repeated = sorted({plant_id for plant_id in ids if ids.count(plant_id) > 1})
        if repeated:
            raise ConflictError(f"plant id given more than once: {', '.join(repeated)}")
        async with self._write_lock:
            taken = [plant_id for plant_id in ids if plant_id in self.plants]
            taken = taken or await self.repository.taken(ids)
            if taken:
                raise ConflictError(f"plant already exists: {', '.join(taken)}")
            await self.repository.save(records)
            self.plants.add(records)
        return [self.member(plant_id) for plant_id in ids]

    async def delete(self, plant_id: str) -> None:
        async with self._write_lock:
            self._index(plant_id)
            await self.repository.delete(plant_id)
            self.plants.remove(plant_id)

    def control(self, plant_id: str) -> Control:
        record = self.plants.record(self._index(plant_id))
        return Control(ratio=record.ratio, status=record.on, buffer_ratio=record.buffer_ratio)

    async def steer(self, plant_id: str, update: ControlUpdate) -> Control:
        """Change a plant's controls, stored before they apply (at the next tick)."""
        async with self._write_lock:
            index = self._index(plant_id)
            record = self.plants.record(index)
            steered = replace(
                record,
                ratio=record.ratio if update.ratio is None else update.ratio,
                on=record.on if update.status is None else update.status,
                buffer_ratio=record.buffer_ratio
                if update.buffer_ratio is None
                else update.buffer_ratio,
            )
            await self.repository.save([steered])
            self.plants.steer(
                index, ratio=steered.ratio, on=steered.on, buffer_ratio=steered.buffer_ratio
            )
        return self.control(plant_id)

    def _index(self, plant_id: str) -> int:
        try:
            return self.plants.index(plant_id)
        except KeyError:
            raise NotFoundError(f"no plant {plant_id!r}") from None

    # -- the tick -----------------------------------------------------------------------------

    async def tick(self) -> None:
        """Advance every plant, push them to every cell, publish, checkpoint now and then."""
        async with self._tick_lock:
            now = self.runtime.clock.now()
            dt_s = min((now - self._last_tick_at).total_seconds(), self._max_step_s)
            if dt_s <= 0:
                return
            self._last_tick_at = now
            _, buffer_sold_kw = self._accepted_kw()
            self.plants.advance(dt_s, buffer_sold_kw)
            push = self._push(now)
            self.runtime.metrics["push_bytes"] = len(push)
            await self._push_to_cells(push)
            self.plants.flows.accepted_kw, _ = self._accepted_kw()
            event = PlantsEvent(time=now.isoformat(), plants=self.members())
            self.broadcaster.publish("plants", event.model_dump(mode="json"))
            if self.checkpoint_gate.due():
                await self.checkpoint()

    async def checkpoint(self) -> None:
        """Every plant's state in one bulk write."""
        async with self._write_lock:
            await self.repository.save(self.plants.records())

    @property
    def stale(self) -> bool:
        """True when no cell answered the latest push."""
        return all(cell.answer is None for cell in self.cells)

    def _accepted_kw(self) -> tuple[np.ndarray, np.ndarray]:
        """Plant and buffer power the cells accepted in their latest answers, summed, kW."""
        n = len(self.plants)
        plant_kw, buffer_kw = np.zeros(n), np.zeros(n)
        position = {plant_id: index for index, plant_id in enumerate(self.plants.ids)}
        for cell in self.cells:
            if cell.answer is None:
                continue
            for plant_id, accepted in cell.answer.accepted.items():
                index = position.get(plant_id)
                if index is not None:
                    plant_kw[index] += accepted.plant_kw
                    buffer_kw[index] += accepted.buffer_kw
        return plant_kw, buffer_kw

    def _push(self, now: datetime) -> bytes:
        """Every plant's state as one ``PlantPush`` body, JSON encoded once for every cell."""
        plants, fleet, flows = self.plants, self.plants.fleet, self.plants.flows
        co2_kg_per_h = fleet.co2_kg_per_h()
        members = [
            contracts.PlantState(
                id=plant_id,
                state=STATE_NAMES[PlantState(int(fleet.state[i]))],
                status=bool(fleet.on[i]),
                ratio=float(fleet.ratio[i]),
                production_kw=float(fleet.production_kw[i]),
                max_production_kw=float(fleet.max_production_kw[i]),
                offered_kw=float(flows.offered_kw[i]),
                buffer_charge_kw=float(flows.buffer_charge_kw[i]),
                buffer_offer_kw=float(flows.buffer_offer_kw[i]),
                buffer_stored_kwh=float(fleet.buffer.stored_kwh[i]),
                buffer_capacity_kwh=float(fleet.buffer.capacity_kwh[i]),
                marginal_cost_sek_per_kwh=float(fleet.marginal_cost_sek_per_kwh[i]),
                co2_kg_per_h=float(co2_kg_per_h[i]),
                co2_total_kg=float(fleet.co2_total_kg[i]),
            )
            for i, plant_id in enumerate(plants.ids)
        ]
        push = contracts.PlantPush(source=self.settings.name, time=now, members=members)
        return push.model_dump_json().encode()

    async def _push_to_cells(self, push: bytes) -> None:
        """The push to every cell at once; without a token, a failure at every cell."""
        try:
            token = await self.push_tokens.headers()
        except UnavailableError as exc:
            for cell in self.cells:
                self._failed(cell, exc)
            return
        await asyncio.gather(*(self._send(cell, push, token) for cell in self.cells))

    async def _send(self, cell: Cell, push: bytes, token: dict[str, str]) -> None:
        """One push to one cell; a failure is logged now and then and leaves no answer."""
        try:
            response = await self.runtime.http.post(
                f"{cell.url}{PUSH_PATH}",
                content=push,
                headers={"content-type": "application/json", **token},
                timeout=self._push_timeout_s,
            )
            if response.status_code == 401:
                self.push_tokens.invalidate()  # the next tick pushes with a new token
            response.raise_for_status()
            answer = contracts.PlantPushAnswer.model_validate(response.json())
        except (httpx.HTTPError, ValueError) as exc:  # ValueError: bad JSON or bad answer
            self._failed(cell, exc)
            return
        if cell.failures:
            log.info("simulation cell %s answers again (%d failures)", cell.url, cell.failures)
        cell.answer, cell.failures, cell.logged_at = answer, 0, -math.inf

    def _failed(self, cell: Cell, exc: Exception) -> None:
        """No answer from ``cell`` this tick; logged once a minute at most."""
        cell.answer = None
        cell.failures += 1
        now = time.monotonic()
        if now - cell.logged_at >= LOG_FAILURES_EVERY_S:
            cell.logged_at = now
            log.warning(
                "simulation cell %s: push failed (%d in a row; logged at most every %.0f s): %s",
                cell.url,
                cell.failures,
                LOG_FAILURES_EVERY_S,
                f"{type(exc).__name__}: {exc}",
            )

    # -- views --------------------------------------------------------------------------------

    def _public(self, index: int) -> PlantPublic:
        record, flows, fleet = self.plants.record(index), self.plants.flows, self.plants.fleet
        return PlantPublic(
            id=record.id,
            name=self.settings.name,
            current=record.production_kw,
            maxProduction=record.max_production_kw,
            status=record.on,
            state=STATE_NAMES[record.state],
            state_seconds=record.state_elapsed_s,
            ratio=record.ratio,
            buffer=BufferPublic(
                capacity=record.buffer_capacity_kwh,
                maxOutput=record.buffer_max_output_kw,
                maxCharge=record.buffer_max_charge_kw,
                current=record.buffer_stored_kwh,
            ),
            buffer_ratio=record.buffer_ratio,
            startup_seconds=record.startup_s,
            ramp_per_second=record.ramp_fraction_per_s,
            min_load=record.min_load_fraction,
            efficiency=record.efficiency,
            offered_kw=float(flows.offered_kw[index]),
            accepted_kw=float(flows.accepted_kw[index]),
            buffer_charge_kw=float(flows.buffer_charge_kw[index]),
            buffer_discharge_kw=float(flows.buffer_discharge_kw[index]),
            buffer_offer_kw=float(flows.buffer_offer_kw[index]),
            co2_kg_per_h=record.production_kw * float(fleet.emission_kg_per_kwh[index]),
            co2_total_kg=record.co2_total_kg,
            marginal_cost_sek_per_kwh=float(fleet.marginal_cost_sek_per_kwh[index]),
            stale=self.stale,
        )
