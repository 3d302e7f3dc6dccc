"""Every storage access of the manager: one document per plant in ``plants``.

A document holds the plant's configuration (written through on every change)
and its dynamic state (checkpointed in bulk), tagged with the instance's
``NAME`` so that each instance loads only its own plants.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.contracts import PlantStateName
from services.common.storage import Document, Storage
from services.manager.domain import STATE_NAMES, STATES_BY_NAME, PlantRecord

log = logging.getLogger(__name__)

COLLECTION = "plants"

NonNegative = Field(ge=0, allow_inf_nan=False)
Fraction = Field(ge=0, le=1, allow_inf_nan=False)


class StoredPlant(BaseModel):
    """A plant document as stored; checked on load so a damaged one is skipped, not run."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    max_production_kw: float = Field(gt=0, allow_inf_nan=False)
    ratio: float = Fraction
    on: bool
    buffer_capacity_kwh: float = NonNegative
    buffer_max_output_kw: float = NonNegative
    buffer_max_charge_kw: float = NonNegative
    buffer_ratio: float = Fraction
    startup_s: float = NonNegative
    ramp_fraction_per_s: float = Field(gt=0, le=1, allow_inf_nan=False)
    min_load_fraction: float = Fraction
    efficiency: float = Field(gt=0, le=1, allow_inf_nan=False)
    state: PlantStateName = "stopped"
    state_elapsed_s: float = NonNegative
    production_kw: float = NonNegative
    buffer_stored_kwh: float = NonNegative
    co2_total_kg: float = NonNegative

    def record(self) -> PlantRecord:
        fields = self.model_dump(exclude={"name", "state"})
        return PlantRecord(**fields, state=STATES_BY_NAME[self.state])


class PlantRepository:
    """The plants of one ``NAME`` partition."""

    def __init__(self, storage: Storage, name: str) -> None:
        self._storage = storage
        self._name = name

    def document(self, record: PlantRecord) -> Document:
        fields: dict[str, Any] = asdict(record)
        return {**fields, "state": STATE_NAMES[record.state], "name": self._name}

    async def load(self) -> list[PlantRecord]:
        """Every plant of this partition; damaged documents are logged and skipped."""
        records = []
        for doc in await self._storage.list(COLLECTION, where={"name": self._name}):
            try:
                records.append(StoredPlant.model_validate(doc).record())
            except ValidationError as exc:
                log.error("skipping damaged plant document %r: %s", doc.get("id"), exc)
        return records

    async def taken(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that already name a stored document (of any partition)."""
        return [plant_id for plant_id in ids if await self._storage.get(COLLECTION, plant_id)]

    async def save(self, records: Sequence[PlantRecord]) -> None:
        """Write plants in one bulk write (creation, checkpoints)."""
        if records:
            await self._storage.upsert_many(COLLECTION, [self.document(r) for r in records])

    async def delete(self, plant_id: str) -> None:
        await self._storage.delete(COLLECTION, plant_id)
