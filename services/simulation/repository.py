"""Every storage access of the simulation cell, through the storage port.

Consumer clusters are configuration: one document each in ``consumers``,
written when they change. Prosumers and plants are state that their own
services push every tick: each kind is saved whole, as columns in a few
documents (``services.common.storage.columns``) in ``prosumers`` and
``managers``. Everything is tagged with the cell's ``NAME`` so that instances
sharing a database load only their own. The totals of every tick go to the
series ``totals``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from services.common.storage import Document, Point, Storage
from services.common.storage.columns import load_columns, save_columns

Kind = Literal["consumers", "prosumers", "managers"]
Pushed = Literal["prosumers", "managers"]
TOTALS = "totals"


class SimulationRepository:
    """The cell's members and history in one storage, partitioned by the cell's name."""

    def __init__(self, storage: Storage, cell: str) -> None:
        self._storage = storage
        self._cell = cell

    async def load(self, kind: Kind) -> list[Document]:
        """Every stored member of ``kind`` that belongs to this cell."""
        return await self._storage.list(kind, where={"name": self._cell})

    async def save(self, kind: Kind, docs: Sequence[Mapping[str, Any]]) -> None:
        """Store members of ``kind`` in one bulk write, tagged with the cell's name."""
        if docs:
            await self._storage.upsert_many(kind, [{**doc, "name": self._cell} for doc in docs])

    async def load_table(self, kind: Pushed) -> dict[str, list[Any]]:
        """The last saved columns of prosumers or plants (``"id"`` and their fields)."""
        return await load_columns(self._storage, kind, self._cell)

    async def save_table(
        self, kind: Pushed, ids: Sequence[str], columns: Mapping[str, Sequence[Any]]
    ) -> None:
        """Save every prosumer or plant at once, as columns."""
        await save_columns(self._storage, kind, self._cell, ids, columns)

    async def delete(self, kind: Kind, member_id: str) -> None:
        await self._storage.delete(kind, member_id)

    async def append_totals(self, points: Sequence[Point]) -> None:
        """Add ticks' totals (simulated unix seconds, values) to the history in one write."""
        await self._storage.append(TOTALS, points)

    async def totals(self, start: float | None, end: float | None, limit: int) -> list[Point]:
        """Stored totals with ``start <= t < end``, oldest first, at most ``limit``."""
        return await self._storage.range(TOTALS, start, end, limit)
