"""Prosumer use cases and the one tick that moves every member.

Each tick (see ``services.physics.grid.GridModel.tick`` for the reference
order):

1. one ``POST /api/weather/batch`` for the members' distinct sites (locations
   rounded to 0.01°); on failure the last readings stay in use, marked stale;
2. ``ProsumerFleet.step``: turbines (with breakdowns), household load, ratios,
   sell blocks and batteries, for all members at once;
3. ``settle`` with the cells' answer to the *previous* push: a cell clears
   after it has received a push, so the answer to this tick's push arrives
   one tick late. Sales, purchases and blackouts therefore lag by one tick;
4. one ``ProsumerPush`` with every member, posted concurrently to each cell
   with the service's ``grid.push`` token; each cell's answer is kept for the
   next tick (a silent cell keeps its last). A cell's 401 drops the token, so
   the next tick pushes with a new one;
5. now and then (``checkpoint_seconds``) one bulk write of every member.

Configuration changes are written to storage before they reach the arrays,
under one lock that the checkpoint also takes, so a checkpoint can never
bring back a member that was just deleted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import orjson
from fastapi.sse import ServerSentEvent

from services.common.contracts import (
    ProsumerPushAnswer,
    WeatherBatch,
    WeatherBatchRequest,
)
from services.common.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from services.common.pictures import Picture, reencode
from services.common.runtime import Every, ServiceRuntime
from services.common.security import PUSH_SCOPE, ServiceTokenClient
from services.common.settings import ProsumerSettings
from services.common.sse import Broadcaster
from services.physics.prosumer import Breakdowns, ProsumerFlows, settle
from services.prosumer import domain
from services.prosumer.domain import Battery, MarketAnswer, Member, Roster
from services.prosumer.repository import MemberRepository
from services.prosumer.schemas import (
    BatteryIn,
    BatteryOut,
    Control,
    ControlUpdate,
    MemberCreate,
    MemberPublic,
    MemberUpdate,
    ProsumerTotals,
)

log = logging.getLogger(__name__)

STREAM_EVENT = "prosumers"
WEATHER_BATCH_LIMIT = 1000
"""Most locations one weather batch may ask for (``WeatherBatchRequest``)."""
PEER_LOG_INTERVAL_S = 60.0
MAX_TICKS_PER_STEP = 10
"""A stalled loop catches up at most this many ticks' worth of simulated time in one step."""


class PeerLog:
    """Log a failing peer once, then at most every ``interval_s``, and its recovery."""

    def __init__(self, peer: str, interval_s: float = PEER_LOG_INTERVAL_S) -> None:
        self.peer = peer
        self.interval_s = interval_s
        self.failing = False
        self._last_logged = -np.inf

    def failed(self, reason: object) -> None:
        now = time.monotonic()
        if not self.failing or now - self._last_logged >= self.interval_s:
            log.warning("%s unavailable, keeping its last values: %s", self.peer, reason)
            self._last_logged = now
        self.failing = True

    def succeeded(self) -> None:
        if self.failing:
            log.info("%s answers again", self.peer)
        self.failing = False


class ProsumerService:
    """Every prosumer of one ``NAME`` partition, as one fleet."""

    def __init__(
        self,
        runtime: ServiceRuntime,
        settings: ProsumerSettings,
        *,
        wall_time: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.wall_time = wall_time
        """Unix seconds of the real world: sell blocks last wall-clock seconds."""
        self.repository = MemberRepository(runtime.storage, settings.name)
        self.broadcaster = Broadcaster()
        self.default_location = (settings.latitude, settings.longitude)
        self.members: dict[str, Member] = {}
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.roster = domain.roster_of([], self.default_location, [])
        self.site_codes = domain.assign_sites(self.roster)
        self.rng = np.random.default_rng(settings.seed)
        self.breakdowns = Breakdowns()
        self.weather: dict[int, tuple[float, float]] = {}
        """Last reading per site code: (wind at 10 m, m/s; temperature, °C)."""
        self.weather_stale = True
        self.answers: dict[str, ProsumerPushAnswer] = {}
        """Each cell's last answer, by cell URL."""
        self.last_tick: datetime | None = None
        self.peer_timeout_s = min(0.4 * settings.tick_seconds, 2.0)
        self.push_tokens = ServiceTokenClient.for_service(runtime.http, settings, [PUSH_SCOPE])
        """The service's own token for the cells (``grid.push``), fetched about every 10 min.

        Its requests may wait longer than a push: a slow issuer (it hashes the
        client secret) must not keep the service from ever getting a token.
        """
        self._lock = asyncio.Lock()
        self._checkpoint_due = Every(settings.checkpoint_seconds, monotonic=monotonic)
        self._weather_log = PeerLog("weather service")
        self._issuer_log = PeerLog("identity issuer (no push token)")
        self._cell_logs = {
            url: PeerLog(f"simulation cell {url}") for url in settings.simulation_urls
        }

    # -- start and stop ------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the partition's members and their stored energy from storage."""
        loaded = await self.repository.load()
        self._reset([member for member, _ in loaded], [stored for _, stored in loaded])
        log.info("loaded %d prosumers", len(self.ids))

    async def close(self) -> None:
        """Save every member's state and end the streams."""
        try:
            await self.checkpoint()
        except Exception:
            log.exception("final checkpoint failed")
        self.broadcaster.close()

    # -- reading -------------------------------------------------------------------------------

    def list_members(self) -> list[MemberPublic]:
        return [self._public(row) for row in range(len(self.ids))]

    def get_member(self, member_id: str) -> MemberPublic:
        return self._public(self._row(member_id))

    def get_control(self, member_id: str) -> Control:
        member = self.members[self.ids[self._row(member_id)]]
        return Control(
            input_ratio=member.input_ratio, output_ratio=member.output_ratio, status=member.status
        )

    def require(self, member_id: str) -> None:
        """NotFoundError unless the member exists."""
        self._row(member_id)

    # -- changing members ----------------------------------------------------------------------

    async def create(self, payloads: Sequence[MemberCreate]) -> list[MemberPublic]:
        """Add members, all or none; 409 if an id is taken (or repeated in the request)."""
        if not payloads:
            raise InvalidInputError(
                "no members given",
                detail=[{"field": "body", "message": "give at least one member"}],
            )
        members = [_member_of(payload, payload.id or uuid.uuid4().hex) for payload in payloads]
        stored = [sum(battery.current or 0.0 for battery in p.batteries) for p in payloads]
        async with self._lock:
            seen: set[str] = set()
            for member in members:
                if member.id in self.members or member.id in seen:
                    raise ConflictError(f"prosumer {member.id!r} already exists")
                seen.add(member.id)
            await self.repository.save(list(zip(members, stored, strict=True)))
            self._append(members, stored)
        return [self._public(self.index[member.id]) for member in members]

    async def replace(self, member_id: str, payload: MemberUpdate) -> MemberPublic:
        """New equipment (and any other given fields); stored energy kept where it fits."""
        async with self._lock:
            row = self._row(member_id)
            old = self.members[member_id]
            options = payload.model_dump(exclude={"turbines", "batteries"}, exclude_none=True)
            member = dataclasses.replace(
                old,
                turbines_kw=tuple(payload.turbines),
                batteries=_batteries(payload.batteries),
                **options,
            )
            stated = [battery.current for battery in payload.batteries]
            kept = all(current is None for current in stated)
            stored = (
                float(self.roster.fleet.battery.stored_kwh[row])
                if kept
                else sum(current or 0.0 for current in stated)
            )
            await self.repository.save([(member, min(stored, member.capacity_kwh))])
            self._put(member, None if kept else stored)
        return self._public(self.index[member_id])

    async def delete(self, member_id: str) -> MemberPublic:
        """Remove a member; returns it as it was."""
        async with self._lock:
            gone = self._public(self._row(member_id))
            await self.repository.delete(member_id)
            keep = np.ones(len(self.ids), dtype=bool)
            keep[self.index[member_id]] = False
            del self.members[member_id]
            ids = [other for other in self.ids if other != member_id]
            self._set_roster(ids, domain.take_rows(self.roster, keep))
        return gone

    # -- pictures ------------------------------------------------------------------------------

    async def picture(self, member_id: str) -> Picture:
        """The member's picture; 404 if the member or its picture does not exist."""
        self._row(member_id)
        picture = await self.repository.load_picture(member_id)
        if picture is None:
            raise NotFoundError(f"prosumer {member_id!r} has no picture")
        return picture

    async def set_picture(self, member_id: str, upload: bytes) -> Picture:
        """Re-encode an uploaded picture (off the event loop) and store it as the member's."""
        self._row(member_id)
        picture = await asyncio.to_thread(reencode, upload)
        async with self._lock:
            # The member may have been deleted while the picture was re-encoded.
            self._row(member_id)
            updated = datetime.fromtimestamp(self.wall_time(), UTC)
            return await self.repository.save_picture(member_id, picture, updated)

    async def delete_picture(self, member_id: str) -> None:
        """Remove the member's picture; 404 if it has none."""
        async with self._lock:
            self._row(member_id)
            if not await self.repository.delete_picture(member_id):
                raise NotFoundError(f"prosumer {member_id!r} has no picture")

    async def set_control(self, member_id: str, update: ControlUpdate) -> Control:
        """Change any of the controls; the next tick uses them."""
        changes = update.model_dump(exclude_none=True)
        await self._change(member_id, **changes)
        return self.get_control(member_id)

    async def block(self, member_id: str, seconds: float) -> MemberPublic:
        """Stop a member selling for ``seconds`` of wall time (it stores or curtails instead)."""
        await self._change(member_id, blocked_until_s=self.wall_time() + seconds)
        return self.get_member(member_id)

    async def unblock(self, member_id: str) -> MemberPublic:
        await self._change(member_id, blocked_until_s=None)
        return self.get_member(member_id)

    async def _change(self, member_id: str, **changes: Any) -> None:
        async with self._lock:
            row = self._row(member_id)
            member = dataclasses.replace(self.members[member_id], **changes)
            stored = float(self.roster.fleet.battery.stored_kwh[row])
            await self.repository.save([(member, stored)])
            self._put(member)

    # -- the tick ------------------------------------------------------------------------------

    async def tick(self) -> None:
        """One step of every member; see the module docstring for the order."""
        await self._refresh_weather()
        now = self.runtime.clock.now()
        dt_s = self._time_step(now)
        if dt_s is None:
            return
        # From here to the push body nothing awaits, so the roster cannot change underneath.
        roster, fleet = self.roster, self.roster.fleet
        wind_by_site, temperature_by_site = self._site_weather()
        fleet.sell_blocked = roster.blocked_until_s > self.wall_time()
        now_s = now.timestamp()
        flows = fleet.step(
            now, now_s, dt_s, wind_by_site, temperature_by_site, self.rng, self.breakdowns
        )
        offered_curtailed_kw = flows.curtailed_kw  # before unsold offers are added to it
        answer = self.market_answer()
        shed = np.zeros(len(fleet), dtype=bool)
        shed[[self.index[i] for i in answer.blackout_ids if i in self.index]] = True
        settle(flows, answer.sold_fraction, shed)
        roster.live = domain.Live.of(flows, wind_by_site[fleet.site])
        body = self._push_body(now, now_s, flows, offered_curtailed_kw)
        self.runtime.metrics["push_bytes"] = len(body)
        self.broadcaster.publish(STREAM_EVENT, self.totals().model_dump(mode="json"))
        await self._push(body)
        if self._checkpoint_due.due():
            await self.checkpoint()

    def _time_step(self, now: datetime) -> float | None:
        """Simulated seconds since the last tick (capped), or None if time has not moved."""
        settings = self.settings
        tick_s = settings.tick_seconds * settings.speed
        previous, self.last_tick = self.last_tick, now
        if previous is None:
            return tick_s
        dt_s = (now - previous).total_seconds()
        if dt_s <= 0:
            self.last_tick = previous
            return None
        return min(dt_s, MAX_TICKS_PER_STEP * tick_s)

    async def _refresh_weather(self) -> None:
        codes = self.site_codes
        if codes.size == 0:
            return
        lat, lon = domain.site_location(codes)
        chunks = [
            slice(start, start + WEATHER_BATCH_LIMIT)
            for start in range(0, codes.size, WEATHER_BATCH_LIMIT)
        ]
        url = f"{self.settings.weather_url}/api/weather/batch"
        try:
            # One request per tick; only more than WEATHER_BATCH_LIMIT distinct sites need more.
            batches = await asyncio.gather(
                *(self._weather_batch(url, lat[chunk], lon[chunk]) for chunk in chunks)
            )
        except (httpx.HTTPError, ValueError) as exc:
            self._weather_log.failed(exc)
            self.weather_stale = True
            return
        self._weather_log.succeeded()
        readings = [reading for batch in batches for reading in batch.readings]
        for code, reading in zip(codes.tolist(), readings, strict=True):
            self.weather[code] = (reading.wind_speed_ms, reading.temperature_c)
        self.weather_stale = any(reading.stale for reading in readings)

    async def _weather_batch(self, url: str, lat: np.ndarray, lon: np.ndarray) -> WeatherBatch:
        request = WeatherBatchRequest.model_validate(
            {
                "locations": [
                    {"lat": la, "lon": lo}
                    for la, lo in zip(lat.tolist(), lon.tolist(), strict=True)
                ]
            }
        )
        response = await self.runtime.http.post(
            url, content=request.model_dump_json(), headers=_JSON, timeout=self.peer_timeout_s
        )
        response.raise_for_status()
        batch = WeatherBatch.model_validate_json(response.content)
        if len(batch.readings) != lat.size:
            raise ValueError(f"asked for {lat.size} locations, got {len(batch.readings)} readings")
        return batch

    def _site_weather(self) -> tuple[np.ndarray, np.ndarray]:
        """Wind (m/s at 10 m) and temperature (°C) per site; calm and 0 °C where never read."""
        readings = [self.weather.get(code, (0.0, 0.0)) for code in self.site_codes.tolist()]
        table = np.array(readings, dtype=float).reshape(len(readings), 2)
        return table[:, 0], table[:, 1]

    def market_answer(self) -> MarketAnswer:
        """The cells' last answers, combined (see ``domain.combine_answers``)."""
        return domain.combine_answers(self.answers.values())

    def _push_body(
        self, now: datetime, now_s: float, flows: ProsumerFlows, offered_curtailed_kw: np.ndarray
    ) -> bytes:
        """The ``ProsumerPush`` of every member, as JSON bytes, in columns.

        orjson writes the numpy columns directly: about 4 ms for 10,000 members,
        against some 60 ms for ``json.dumps`` over per-member objects.
        """
        fleet = self.roster.fleet
        lat, lon = domain.site_location(self.site_codes[fleet.site])

        def kw(values: np.ndarray) -> np.ndarray:
            # Clip the -1e-17 that floating point leaves where a flow is zero; a mW (or
            # mWh) is precise enough for the market and halves the JSON.
            return np.round(np.maximum(values, 0.0), 6)

        members = {
            "id": self.ids,
            "production_kw": kw(flows.production_kw),
            "load_kw": kw(flows.load_kw),
            "battery_charge_kw": kw(flows.battery_charge_kw),
            "battery_discharge_kw": kw(flows.battery_discharge_kw),
            "offered_kw": kw(flows.offered_kw),
            "requested_kw": kw(flows.requested_kw),
            "curtailed_kw": kw(offered_curtailed_kw),
            "stored_kwh": kw(fleet.battery.stored_kwh),
            "capacity_kwh": kw(fleet.battery.capacity_kwh),
            "status": fleet.turbine_on,
            "broken": fleet.repair_at_s > now_s,
            "sell_blocked": fleet.sell_blocked,
            "source": domain.SOURCE_LABELS[flows.source].tolist(),
            "lat": lat,
            "lon": lon,
        }
        push = {"source": self.settings.name, "time": now.isoformat(), "members": members}
        return orjson.dumps(push, option=orjson.OPT_SERIALIZE_NUMPY)

    async def _push(self, body: bytes) -> None:
        """Post the push to every cell at once; keep each answer for the next tick.

        Without a token nothing is pushed this tick: the cells keep their last answers.
        """
        urls = self.settings.simulation_urls
        try:
            headers = _JSON | await self.push_tokens.headers()
        except UnavailableError as exc:
            self._issuer_log.failed(exc)
            return
        self._issuer_log.succeeded()
        results = await asyncio.gather(
            *(self._push_to(url, body, headers) for url in urls), return_exceptions=True
        )
        for url, result in zip(urls, results, strict=True):
            cell_log = self._cell_logs[url]
            if isinstance(result, ProsumerPushAnswer):
                self.answers[url] = result
                cell_log.succeeded()
            elif isinstance(result, Exception):
                cell_log.failed(result)
            else:
                raise result

    async def _push_to(self, url: str, body: bytes, headers: dict[str, str]) -> ProsumerPushAnswer:
        response = await self.runtime.http.post(
            f"{url}/api/members/prosumers/bulk",
            content=body,
            headers=headers,
            timeout=self.peer_timeout_s,
        )
        if response.status_code == 401:
            # Revoked, or signed with a key the cell no longer trusts: the next tick gets a new one.
            self.push_tokens.invalidate()
        response.raise_for_status()
        return ProsumerPushAnswer.model_validate_json(response.content)

    async def checkpoint(self) -> None:
        """Save every member's stored energy, as columns in one bulk write.

        Configuration and sell blocks are written when they change; only the
        batteries move every tick.
        """
        async with self._lock:
            stored = self.roster.fleet.battery.stored_kwh.tolist()
            await self.repository.save_stored(list(self.ids), stored)

    # -- totals and streams --------------------------------------------------------------------

    def totals(self) -> ProsumerTotals:
        """The whole partition's last tick."""
        live, fleet = self.roster.live, self.roster.fleet
        production_kw = float(live.production_kw.sum())
        load_kw = float(live.load_kw.sum())
        return ProsumerTotals(
            time=self.last_tick,
            members=len(self.ids),
            production_kw=production_kw,
            load_kw=load_kw,
            net_kw=production_kw - load_kw,
            battery_charge_kw=float(live.battery_charge_kw.sum()),
            battery_discharge_kw=float(live.battery_discharge_kw.sum()),
            stored_kwh=float(fleet.battery.stored_kwh.sum()),
            capacity_kwh=float(fleet.battery.capacity_kwh.sum()),
            sold_kw=float(live.sold_kw.sum()),
            bought_kw=float(live.bought_kw.sum()),
            curtailed_kw=float(live.curtailed_kw.sum()),
            blackouts=int(live.blackout.sum()),
            broken=int(np.count_nonzero(fleet.repair_at_s > self._now_s())),
            blocked=int(np.count_nonzero(self.roster.blocked_until_s > self.wall_time())),
            price_sek_per_kwh=self.market_answer().price_sek_per_kwh,
            weather_stale=self.weather_stale,
        )

    async def stream(self, member_id: str | None) -> AsyncIterator[ServerSentEvent]:
        """``prosumers`` events, one per tick: the totals, or one member's state.

        A member's stream ends when the member is deleted.
        """
        async for event in self.broadcaster.listen():
            if member_id is None:
                yield event
                continue
            if member_id not in self.index:
                return
            state = self.get_member(member_id).model_dump(mode="json")
            yield ServerSentEvent(event=STREAM_EVENT, id=event.id, data=state)

    # -- the arrays ----------------------------------------------------------------------------

    def _row(self, member_id: str) -> int:
        row = self.index.get(member_id)
        if row is None:
            raise NotFoundError(f"no prosumer {member_id!r}")
        return row

    def _reset(self, members: Sequence[Member], stored: Sequence[float]) -> None:
        self.members = {member.id: member for member in members}
        roster = domain.roster_of(members, self.default_location, stored)
        self._set_roster([member.id for member in members], roster)

    def _append(self, members: Sequence[Member], stored: Sequence[float]) -> None:
        self.members.update((member.id, member) for member in members)
        rows = domain.roster_of(members, self.default_location, stored)
        self._set_roster(
            self.ids + [member.id for member in members], domain.concat_rows(self.roster, rows)
        )

    def _put(self, member: Member, stored_kwh: float | None = None) -> None:
        """Replace a member's row, keeping what the tick has built up for it.

        Stored energy is the bank's as it is now (a tick may have run while the
        change was being saved) unless ``stored_kwh`` says otherwise; either way
        it is clipped to the member's capacity.
        """
        row = self.index[member.id]
        carried = domain.take_rows(self.roster, [row])
        stored = carried.fleet.battery.stored_kwh if stored_kwh is None else [stored_kwh]
        domain.put_rows(
            self.roster,
            [row],
            domain.roster_of([member], self.default_location, stored, carried=carried),
        )
        self.members[member.id] = member
        self.site_codes = domain.assign_sites(self.roster)

    def _set_roster(self, ids: list[str], roster: Roster) -> None:
        self.ids = ids
        self.index = {member_id: row for row, member_id in enumerate(ids)}
        self.roster = roster
        self.site_codes = domain.assign_sites(roster)

    def _now_s(self) -> float:
        return self.runtime.clock.now().timestamp()

    def _public(self, row: int) -> MemberPublic:
        member = self.members[self.ids[row]]
        fleet, live = self.roster.fleet, self.roster.live
        stored_kwh = float(fleet.battery.stored_kwh[row])
        currents = domain.split_stored(
            stored_kwh, [battery.capacity_kwh for battery in member.batteries]
        )
        default_lat, default_lon = self.default_location
        blocked = member.blocked_until_s is not None and member.blocked_until_s > self.wall_time()
        production_kw = float(live.production_kw[row])
        load_kw = float(live.load_kw[row])
        return MemberPublic(
            id=member.id,
            name=self.settings.name,
            turbines=list(member.turbines_kw),
            batteries=[
                BatteryOut(
                    capacity=battery.capacity_kwh,
                    maxOutput=battery.max_output_kw,
                    maxCharge=battery.max_charge_kw,
                    current=current,
                )
                for battery, current in zip(member.batteries, currents, strict=True)
            ],
            input_ratio=member.input_ratio,
            output_ratio=member.output_ratio,
            status=member.status,
            lat=default_lat if member.lat is None else member.lat,
            lon=default_lon if member.lon is None else member.lon,
            hub_height_m=member.hub_height_m,
            annual_kwh=member.annual_kwh,
            heating_per_c=member.heating_per_c,
            blocked_until=(
                datetime.fromtimestamp(member.blocked_until_s, UTC)
                if blocked and member.blocked_until_s is not None
                else None
            ),
            wind_speed_ms=float(live.wind_speed_ms[row]),
            production_kw=production_kw,
            load_kw=load_kw,
            net_kw=production_kw - load_kw,
            battery_charge_kw=float(live.battery_charge_kw[row]),
            battery_discharge_kw=float(live.battery_discharge_kw[row]),
            sold_kw=float(live.sold_kw[row]),
            bought_kw=float(live.bought_kw[row]),
            curtailed_kw=float(live.curtailed_kw[row]),
            stored_kwh=stored_kwh,
            capacity_kwh=float(fleet.battery.capacity_kwh[row]),
            source=domain.SOURCE_LABELS[int(live.source[row])],
            blackout=bool(live.blackout[row]),
            broken=bool(fleet.repair_at_s[row] > self._now_s()),
            price_sek_per_kwh=self.market_answer().price_sek_per_kwh,
        )


_JSON = {"content-type": "application/json"}


def _batteries(payloads: Sequence[BatteryIn]) -> tuple[Battery, ...]:
    return tuple(
        Battery(
            capacity_kwh=battery.capacity,
            max_output_kw=battery.maxOutput,
            max_charge_kw=battery.maxCharge,
        )
        for battery in payloads
    )


def _member_of(payload: MemberCreate, member_id: str) -> Member:
    return Member(
        id=member_id,
        turbines_kw=tuple(payload.turbines),
        batteries=_batteries(payload.batteries),
        input_ratio=payload.input_ratio,
        output_ratio=payload.output_ratio,
        status=payload.status,
        lat=payload.lat,
        lon=payload.lon,
        hub_height_m=payload.hub_height_m,
        annual_kwh=payload.annual_kwh,
        heating_per_c=payload.heating_per_c,
    )
