"""The market's rules: what a registered cell is, and one price for all cells together.

Each simulation cell offers its supply tiers and asks the market for what its
consumers and prosumers cannot cover themselves (``CellData``). The market
pools every cell's tiers and demand and clears them with the physics merit
order, so a cheap offer in one cell serves demand in another. Plain Python
and numpy: no framework, storage or HTTP here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from services.common.contracts import CellData
from services.physics import market

WARN_AGAIN_AFTER_S = 60.0
"""While a cell keeps failing, repeat the warning at most this often (wall seconds)."""


def normalise_destination(url: str) -> str:
    """``url`` as an absolute http(s) base URL without a trailing slash; ValueError if not one."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # reading it is what validates the port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL, e.g. http://127.0.0.1:8005")
    if parts.query or parts.fragment:
        raise ValueError("must be a base URL without a query or fragment")
    # Scheme and host are case-insensitive; lower them so one cell is not registered twice.
    netloc = parts.netloc if "@" in parts.netloc else parts.netloc.lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class Cell:
    """A registered simulation cell: the base URL the market polls."""

    id: str
    destination: str

    @property
    def data_url(self) -> str:
        return f"{self.destination}/api/data"


@dataclass
class CellStatus:
    """What the market knows of one cell: its last answer and whether it is current."""

    cell: Cell
    data: CellData | None = None
    last_seen: datetime | None = None
    """Simulated time of the last poll the cell answered."""
    stale: bool = True
    """True until the cell answers, and again whenever its latest poll failed."""
    failures: int = 0
    """Polls failed in a row."""
    warned_at: float | None = None

    def answered(self, data: CellData, now: datetime) -> bool:
        """Record a good answer; True if the cell was failing until now."""
        recovered = self.failures > 0
        self.data, self.last_seen, self.stale = data, now, False
        self.failures, self.warned_at = 0, None
        return recovered

    def missed(self, *, monotonic: Callable[[], float] = time.monotonic) -> bool:
        """Record a failed poll, keeping the last data; True if it is time to warn about it."""
        self.stale = True
        self.failures += 1
        now = monotonic()
        if self.warned_at is None or now - self.warned_at >= WARN_AGAIN_AFTER_S:
            self.warned_at = now
            return True
        return False


@dataclass(frozen=True)
class MarketClearing:
    """One clearing of the pooled market: the modelled price and the totals behind it."""

    modelled_price_sek_per_kwh: float
    scarcity: bool
    total_production_kw: float
    """Sum of the cells' ``totalProduction``."""
    total_demand_kw: float
    """Sum of the cells' ``totalDemand``."""
    market_demand_kw: float
    """What the cells ask of the market, kW."""
    offered_kw: float
    """Supply offered to the market by every tier of every cell, kW."""
    unserved_kw: float
    answering_cells: int


def clear_cells(readings: Sequence[CellData]) -> MarketClearing:
    """Clear every cell's tiers against every cell's market demand, merit order, pay-as-clear."""
    tiers = [tier for reading in readings for tier in reading.supply]
    quantity_kw = np.fromiter((tier.quantity_kw for tier in tiers), float, len(tiers))
    price = np.fromiter((tier.price_sek_per_kwh for tier in tiers), float, len(tiers))
    market_demand_kw = math.fsum(reading.market_demand_kw for reading in readings)
    clearing = market.clear(quantity_kw, price, np.array([market_demand_kw]), np.zeros(0))
    return MarketClearing(
        modelled_price_sek_per_kwh=clearing.price_sek_per_kwh,
        scarcity=clearing.scarcity,
        total_production_kw=math.fsum(reading.totalProduction for reading in readings),
        total_demand_kw=math.fsum(reading.totalDemand for reading in readings),
        market_demand_kw=market_demand_kw,
        offered_kw=float(quantity_kw.sum()),
        unserved_kw=clearing.unserved_kw,
        answering_cells=len(readings),
    )
