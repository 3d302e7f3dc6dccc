"""The market's use cases: register cells, poll them every tick, price the whole market.

One tick polls every cell's ``GET /api/data`` at once, with the market's own
``grid.poll`` access token, clears the pooled supply and demand, records the
price and publishes it. Routes answer from the last tick, so a slow cell never
slows a request down (the original polled on every request and never answered).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from services.common.contracts import CellData
from services.common.errors import ConflictError, InvalidInputError, NotFoundError, UnavailableError
from services.common.history import HistoryQuery, downsample
from services.common.runtime import Every, ServiceRuntime
from services.common.security import ServiceTokenClient
from services.common.sse import Broadcaster
from services.market.domain import Cell, CellStatus, MarketClearing, clear_cells
from services.market.repository import MarketRepository
from services.market.schemas import CellCreate, CellPublic, PriceReport, PriceStats
from services.physics.market import price_in_force

log = logging.getLogger(__name__)

MAX_PENDING_POINTS = 100_000
"""History points kept in memory while storage cannot take them; older ones are dropped."""


@dataclass(frozen=True)
class TickResult:
    time: datetime
    clearing: MarketClearing


@dataclass(frozen=True)
class PollFailure:
    """Why a poll got no usable answer."""

    reason: str
    unauthorized: bool = False
    """The cell refused the market's token (HTTP 401)."""


class MarketService:
    """The cells of one market instance and the price computed from them."""

    def __init__(
        self,
        runtime: ServiceRuntime,
        repository: MarketRepository,
        broadcaster: Broadcaster,
        tokens: ServiceTokenClient,
        *,
        poll_timeout_s: float,
    ) -> None:
        self.runtime = runtime
        self.tokens = tokens
        """The market's client-credentials token (scope grid.poll) for its polls."""
        self.poll_timeout_s = poll_timeout_s
        self.repository = repository
        self.broadcaster = broadcaster
        self._cells: dict[str, CellStatus] = {}
        self._override: float | None = None
        self._last: TickResult | None = None
        self._pending: list[tuple[float, dict[str, Any]]] = []
        self.checkpoint = Every(runtime.settings.checkpoint_seconds)
        """When the history gathered in memory is written to storage."""
        # Create and delete check, then write: one at a time, so two requests cannot
        # both pass the check for the same id.
        self._members_lock = asyncio.Lock()

    async def load(self) -> None:
        """Read cells and the override of this instance's partition from storage."""
        self._cells = {cell.id: CellStatus(cell) for cell in await self.repository.cells()}
        self._override = await self.repository.override()

    # -- cells ---------------------------------------------------------------------------------

    def _public(self, status: CellStatus) -> CellPublic:
        return CellPublic(
            id=status.cell.id,
            destination=status.cell.destination,
            stale=status.stale,
            last_seen=status.last_seen,
            name=self.runtime.settings.name,
        )

    def list_cells(self) -> list[CellPublic]:
        return [self._public(status) for status in self._cells.values()]

    def get_cell(self, cell_id: str) -> CellPublic:
        status = self._cells.get(cell_id)
        if status is None:
            raise NotFoundError(f"no cell {cell_id!r}")
        return self._public(status)

    async def add_cells(self, requests: Sequence[CellCreate]) -> list[CellPublic]:
        """Register every cell or none: 422 on a repeat inside the batch, 409 if already known."""
        if not requests:
            raise InvalidInputError(
                "expected at least one cell",
                detail=[{"field": "body", "message": "expected at least one cell"}],
            )
        cells = [Cell(request.id or uuid.uuid4().hex, request.destination) for request in requests]
        for field in ("id", "destination"):
            values = [getattr(cell, field) for cell in cells]
            repeated = sorted({value for value in values if values.count(value) > 1})
            if repeated:
                raise InvalidInputError(
                    f"{field} repeated in the request: {', '.join(repeated)}",
                    detail=[{"field": field, "message": f"repeated: {v}"} for v in repeated],
                )
        async with self._members_lock:
            known_destinations = {s.cell.destination: s.cell.id for s in self._cells.values()}
            for cell in cells:
                if cell.id in self._cells:
                    raise ConflictError(f"cell {cell.id!r} exists")
                if cell.destination in known_destinations:
                    raise ConflictError(
                        f"{cell.destination} is already registered as cell "
                        f"{known_destinations[cell.destination]!r}"
                    )
            await self.repository.add_cells(cells)
            for cell in cells:
                self._cells[cell.id] = CellStatus(cell)
        return [self._public(self._cells[cell.id]) for cell in cells]

    async def remove_cell(self, cell_id: str) -> CellPublic:
        async with self._members_lock:
            removed = self.get_cell(cell_id)
            await self.repository.delete_cell(cell_id)
            del self._cells[cell_id]
        return removed

    # -- price and override --------------------------------------------------------------------

    def price(self) -> PriceReport:
        """The price as of the last tick, with the override and staleness as they are now."""
        clearing = self._last.clearing if self._last else clear_cells([])
        stale_cells = [status.cell.id for status in self._cells.values() if status.stale]
        return PriceReport(
            price=price_in_force(clearing.modelled_price_sek_per_kwh, self._override),
            stats=PriceStats(
                totalDemand=clearing.total_demand_kw,
                totalProduction=clearing.total_production_kw,
            ),
            modelled_price=clearing.modelled_price_sek_per_kwh,
            override=self._override,
            time=self._last.time if self._last else None,
            scarcity=clearing.scarcity,
            stale=bool(stale_cells),
            stale_cells=stale_cells,
            cells=len(self._cells),
            market_demand_kw=clearing.market_demand_kw,
            offered_kw=clearing.offered_kw,
            note=self._note(clearing),
        )

    def _note(self, clearing: MarketClearing) -> str | None:
        if self._last is None:
            return "no tick yet: the price is computed every tick"
        if not self._cells:
            return "no cell registered: price from no supply and no demand"
        if clearing.answering_cells == 0:
            return "no cell has answered yet: price from no supply and no demand"
        return None

    @property
    def override(self) -> float | None:
        return self._override

    async def set_override(self, price_sek_per_kwh: float | None) -> float | None:
        """Set (or, with None, clear) the manager's price; stored before it applies."""
        await self.repository.save_override(price_sek_per_kwh)
        self._override = price_sek_per_kwh
        return self._override

    # -- history -------------------------------------------------------------------------------

    def _seconds(self, when: datetime | None) -> float | None:
        if when is None:
            return None
        aware = when if when.tzinfo else when.replace(tzinfo=self.runtime.clock.tz)
        return aware.timestamp()

    async def history(self, query: HistoryQuery) -> list[dict[str, Any]]:
        """Stored points in the range plus those not yet flushed, averaged into ``step``."""
        start, end = self._seconds(query.start), self._seconds(query.end)
        stored = await self.repository.history(start, end)
        pending = [
            (t, values)
            for t, values in self._pending
            if (start is None or t >= start) and (end is None or t < end)
        ]
        points = downsample([*stored, *pending], query.step)
        tz = self.runtime.clock.tz
        return [{**point, "time": datetime.fromtimestamp(point["time"], tz)} for point in points]

    async def flush(self) -> None:
        """Write the history points gathered since the last flush, in one append."""
        if not self._pending:
            return
        # Only the tick adds points, and it waits for this, so none arrive meanwhile.
        count = len(self._pending)
        try:
            await self.repository.append_history(self._pending[:count])
        except Exception:
            # Kept for the next checkpoint; storage may be back by then.
            log.exception("market: could not store %d history points", count)
            return
        del self._pending[:count]

    async def close(self) -> None:
        await self.flush()

    # -- the tick ------------------------------------------------------------------------------

    async def _poll(self, cell: Cell, headers: dict[str, str]) -> CellData | PollFailure:
        timeout_s = self.poll_timeout_s
        try:
            # The overall deadline covers a peer that accepts but trickles its answer.
            async with asyncio.timeout(timeout_s):
                response = await self.runtime.http.get(
                    cell.data_url, headers=headers, timeout=timeout_s
                )
            response.raise_for_status()
            return CellData.model_validate_json(response.content)
        except TimeoutError:
            return PollFailure(f"no answer within {timeout_s} s")
        except httpx.HTTPStatusError as exc:
            status_code = exc.response.status_code
            return PollFailure(f"answered HTTP {status_code}", unauthorized=status_code == 401)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return PollFailure(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        except ValidationError as exc:
            return PollFailure(f"invalid CellData ({exc.error_count()} errors)")

    def _record(self, status: CellStatus, outcome: CellData | PollFailure, now: datetime) -> None:
        if isinstance(outcome, CellData):
            failures = status.failures
            if status.answered(outcome, now):
                log.info(
                    "market: cell %s answers again after %d failed polls", status.cell.id, failures
                )
            return
        if status.missed():
            kept = "keeping its last data" if status.data else "it has never answered"
            log.warning(
                "market: cell %s (%s): %s; %d failed polls in a row, %s",
                status.cell.id,
                status.cell.data_url,
                outcome.reason,
                status.failures,
                kept,
            )

    async def _poll_all(self, statuses: Sequence[CellStatus]) -> list[CellData | PollFailure]:
        """Every cell's answer, polled at once with the market's token."""
        if not statuses:
            return []
        try:
            headers = await self.tokens.headers()
        except UnavailableError:
            # Logged per cell like any failed poll; the next tick asks the issuer again.
            return [PollFailure("no access token from the identity issuer")] * len(statuses)
        outcomes = await asyncio.gather(*(self._poll(s.cell, headers) for s in statuses))
        if any(isinstance(o, PollFailure) and o.unauthorized for o in outcomes):
            # Expired or issued under keys a cell no longer trusts: get a new one next tick.
            self.tokens.invalidate()
        return list(outcomes)

    async def tick(self) -> None:
        """Poll every cell at once, clear the pooled market, record and publish the price."""
        now = self.runtime.clock.now()
        statuses = list(self._cells.values())
        outcomes = await self._poll_all(statuses)
        for status, outcome in zip(statuses, outcomes, strict=True):
            # A cell deleted while the polls were out is not brought back.
            if self._cells.get(status.cell.id) is status:
                self._record(status, outcome, now)
        readings = [status.data for status in self._cells.values() if status.data is not None]
        self._last = TickResult(now, clear_cells(readings))
        report = self.price()
        self._pending.append(
            (
                now.timestamp(),
                {
                    "price": report.price,
                    "modelled_price": report.modelled_price,
                    "totalDemand": report.stats.totalDemand,
                    "totalProduction": report.stats.totalProduction,
                },
            )
        )
        del self._pending[:-MAX_PENDING_POINTS]
        self.broadcaster.publish("price", report.model_dump(mode="json"))
        self.runtime.metrics.update(
            cells=len(self._cells),
            stale_cells=len(report.stale_cells),
            unflushed_history_points=len(self._pending),
        )
        if self.checkpoint.due():
            await self.flush()
