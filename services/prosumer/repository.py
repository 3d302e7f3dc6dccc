"""Every read and write of prosumer documents.

One document per member in the ``prosumers`` collection, tagged with the
service's ``NAME`` partition, written whenever a member changes: its
configuration, ``blocked_until`` (unix wall seconds) and each battery's
``current`` (the bank's stored energy split by capacity) at that moment.
Checkpoints save every member's stored energy as columns in
``battery_state`` (``services.common.storage.columns``), which override the
documents' ``current`` on load. A member's picture is a document of
``pictures`` (``services.common.pictures``) under the member's id, deleted
with the member.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.common import pictures
from services.common.pictures import Picture
from services.common.storage import Document, Storage
from services.common.storage.columns import load_columns, save_columns
from services.physics import load, turbine
from services.prosumer.domain import Battery, Member, split_stored

log = logging.getLogger(__name__)

COLLECTION = "prosumers"
STATE = "battery_state"


def document_of(member: Member, stored_kwh: float, name: str) -> Document:
    """The stored form of a member holding ``stored_kwh`` in its bank."""
    currents = split_stored(stored_kwh, [battery.capacity_kwh for battery in member.batteries])
    return {
        "id": member.id,
        "name": name,
        "turbines": list(member.turbines_kw),
        "batteries": [
            {
                "capacity": battery.capacity_kwh,
                "maxOutput": battery.max_output_kw,
                "maxCharge": battery.max_charge_kw,
                "current": current,
            }
            for battery, current in zip(member.batteries, currents, strict=True)
        ],
        "input_ratio": member.input_ratio,
        "output_ratio": member.output_ratio,
        "status": member.status,
        "lat": member.lat,
        "lon": member.lon,
        "hub_height_m": member.hub_height_m,
        "annual_kwh": member.annual_kwh,
        "heating_per_c": member.heating_per_c,
        "blocked_until": member.blocked_until_s,
    }


def member_of(document: Document) -> tuple[Member, float]:
    """A member and its stored energy (kWh) from its document; KeyError/TypeError if broken."""
    batteries = document.get("batteries") or []
    hub_height_m = float(document.get("hub_height_m") or turbine.TOWER_HEIGHTS_M[0])
    if hub_height_m not in turbine.TOWER_HEIGHTS_M:
        hub_height_m = turbine.TOWER_HEIGHTS_M[0]
    member = Member(
        id=str(document["id"]),
        turbines_kw=tuple(float(value) for value in document["turbines"]),
        batteries=tuple(
            Battery(
                capacity_kwh=float(battery["capacity"]),
                max_output_kw=float(battery["maxOutput"]),
                max_charge_kw=float(battery["maxCharge"]),
            )
            for battery in batteries
        ),
        input_ratio=float(document.get("input_ratio", 0.5)),
        output_ratio=float(document.get("output_ratio", 0.5)),
        status=bool(document.get("status", True)),
        lat=_optional_float(document.get("lat")),
        lon=_optional_float(document.get("lon")),
        hub_height_m=hub_height_m,
        annual_kwh=float(document.get("annual_kwh", load.HOUSEHOLD_ANNUAL_KWH)),
        heating_per_c=float(document.get("heating_per_c", load.HEATING_COEFFICIENT_PER_C)),
        blocked_until_s=_optional_float(document.get("blocked_until")),
    )
    stored_kwh = sum(float(battery.get("current") or 0.0) for battery in batteries)
    return member, stored_kwh


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


class MemberRepository:
    """The members of one ``NAME`` partition."""

    def __init__(self, storage: Storage, name: str) -> None:
        self.storage = storage
        self.name = name

    async def load(self) -> list[tuple[Member, float]]:
        """Every member of the partition with its stored energy; broken documents are skipped."""
        loaded = []
        for document in await self.storage.list(COLLECTION, where={"name": self.name}):
            try:
                loaded.append(member_of(document))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("skipping unreadable prosumer %r: %s", document.get("id"), exc)
        state = await load_columns(self.storage, STATE, self.name)
        stored_by_id = dict(zip(state["id"], state.get("stored_kwh", []), strict=False))
        return [(member, float(stored_by_id.get(member.id, stored))) for member, stored in loaded]

    async def save_stored(self, ids: Sequence[str], stored_kwh: Sequence[float]) -> None:
        """Checkpoint every member's stored energy (kWh) in one bulk write of columns."""
        await save_columns(self.storage, STATE, self.name, ids, {"stored_kwh": stored_kwh})

    async def save(self, members: Sequence[tuple[Member, float]]) -> None:
        """Write members with their stored energy, all in one bulk write."""
        await self.storage.upsert_many(
            COLLECTION, [document_of(member, stored, self.name) for member, stored in members]
        )

    async def delete(self, member_id: str) -> None:
        """Remove a member and its picture."""
        await self.storage.delete(COLLECTION, member_id)
        await pictures.delete_picture(self.storage, member_id)

    async def load_picture(self, member_id: str) -> Picture | None:
        return await pictures.load_picture(self.storage, member_id)

    async def save_picture(self, member_id: str, picture: Picture, updated: datetime) -> Picture:
        return await pictures.save_picture(self.storage, member_id, picture, updated=updated)

    async def delete_picture(self, member_id: str) -> bool:
        return await pictures.delete_picture(self.storage, member_id)
