"""Everything the market keeps in storage: its cells, the price override, the price history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.common.storage import Point, Storage
from services.market.domain import Cell

CELLS = "cells"
OVERRIDES = "price_overrides"
HISTORY = "price_history"


class MarketRepository:
    """Storage access of one market instance; documents are tagged with its NAME partition."""

    def __init__(self, storage: Storage, partition: str) -> None:
        self._storage = storage
        self._partition = partition

    async def cells(self) -> list[Cell]:
        docs = await self._storage.list(CELLS, where={"name": self._partition})
        return [Cell(id=doc["id"], destination=doc["destination"]) for doc in docs]

    async def add_cells(self, cells: Sequence[Cell]) -> None:
        """Store new cells in one write, so a batch is stored whole or not at all."""
        await self._storage.upsert_many(
            CELLS,
            [{"id": c.id, "destination": c.destination, "name": self._partition} for c in cells],
        )

    async def delete_cell(self, cell_id: str) -> None:
        await self._storage.delete(CELLS, cell_id)

    async def override(self) -> float | None:
        doc = await self._storage.get(OVERRIDES, self._partition)
        return None if doc is None else float(doc["price"])

    async def save_override(self, price_sek_per_kwh: float | None) -> None:
        if price_sek_per_kwh is None:
            await self._storage.delete(OVERRIDES, self._partition)
            return
        await self._storage.upsert(
            OVERRIDES,
            {"id": self._partition, "name": self._partition, "price": price_sek_per_kwh},
        )

    async def append_history(self, points: Sequence[tuple[float, dict[str, Any]]]) -> None:
        await self._storage.append(HISTORY, points)

    async def history(self, start: float | None, end: float | None) -> list[Point]:
        return await self._storage.range(HISTORY, start, end)
