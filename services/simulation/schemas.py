"""Wire formats of the simulation cell's own routes.

Payloads that the original clients sent (``{"body": [...]}``, ``_id``,
``maxProduciton``) are read through ``services.common.compat`` into these
models; responses always use the spellings below. Numbers must be JSON
numbers (a string such as ``"0.5"`` or ``"NaN"`` is refused), finite, and
non-negative where they are powers (kW), energies (kWh) or prices.
The pushes every tick use ``services.common.contracts``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.contracts import MAX_QUANTITY, PlantStateName, Source

MemberId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="1-64 characters of A-Z a-z 0-9 _ . : -",
    ),
]
NonNegative = Annotated[float, Field(strict=True, ge=0, le=MAX_QUANTITY, allow_inf_nan=False)]
Share = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
Latitude = Annotated[float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False)]
Timefn = Annotated[
    list[Share],
    Field(min_length=24, max_length=24, description="24 values in [0, 1], one per hour"),
]
OwnerName = Annotated[str, Field(max_length=64)]


class Input(BaseModel):
    """A request item: unknown keys are ignored, as the original clients sent extra ones."""

    model_config = ConfigDict(extra="ignore")


# -- consumers ---------------------------------------------------------------------------------


class ConsumerCreate(Input):
    """One consumer cluster to add; everything but ``timefn``'s shape has a default."""

    id: MemberId | None = Field(default=None, description="generated when absent")
    timefn: Timefn | None = Field(default=None, description="default: the H0 household day")
    profile: NonNegative = Field(default=1.0, description="scale of the average household")
    households: int = Field(default=50, strict=True, ge=1)
    lat: Latitude | None = None
    lon: Longitude | None = None


class ConsumerUpdate(Input):
    """New values for a cluster; fields left out keep their values."""

    id: MemberId | None = Field(default=None, description="must match the path when given")
    timefn: Timefn | None = None
    profile: NonNegative | None = None
    households: int | None = Field(default=None, strict=True, ge=1)
    lat: Latitude | None = None
    lon: Longitude | None = None


class Consumer(BaseModel):
    """A consumer cluster and what it asked for in the last tick."""

    id: str
    timefn: list[float]
    profile: float
    households: int
    demand: float = Field(description="demand in the last tick, kW (served or not)")
    blackout: bool = Field(description="shed in the last tick")
    name: str = Field(description="the cell (NAME) the cluster belongs to")
    lat: float | None = None
    lon: float | None = None


# -- prosumers ---------------------------------------------------------------------------------


class ProsumerLegacy(Input):
    """A prosumer's state in the original's terms, with optional flows of the new contract.

    Without ``offered_kw`` / ``requested_kw`` the cell assumes no battery use:
    the prosumer offers ``totalProduction - load_kw`` or asks for the difference.
    """

    id: MemberId | None = Field(default=None, description="generated when absent")
    totalProduction: NonNegative = Field(default=0.0, description="production, kW")
    totalCapacity: NonNegative = Field(default=0.0, description="battery capacity, kWh")
    currentCapacity: NonNegative = Field(default=0.0, description="energy stored, kWh")
    name: OwnerName | None = Field(default=None, description="the owning prosumer service")
    status: bool = Field(default=True, strict=True, description="turbines switched on")
    load_kw: NonNegative = 0.0
    offered_kw: NonNegative | None = None
    requested_kw: NonNegative | None = None

    @model_validator(mode="after")
    def _stored_within_capacity(self) -> ProsumerLegacy:
        if self.currentCapacity > self.totalCapacity:
            raise ValueError("currentCapacity must not exceed totalCapacity")
        return self


class Prosumer(BaseModel):
    """A prosumer as the cell sees it: the original's keys, the pushed flows, the cell's answer."""

    id: str
    totalProduction: float = Field(description="production, kW")
    totalCapacity: float = Field(description="battery capacity, kWh")
    currentCapacity: float = Field(description="energy stored, kWh")
    name: str | None = Field(description="the prosumer service that owns the member")
    status: bool
    load_kw: float
    offered_kw: float
    requested_kw: float
    sold_kw: float = Field(description="sold in the cell's last clearing")
    bought_kw: float = Field(description="bought in the cell's last clearing")
    battery_charge_kw: float
    battery_discharge_kw: float
    curtailed_kw: float
    broken: bool
    sell_blocked: bool
    source: Source
    blackout: bool = Field(description="request not served in the cell's last clearing")
    stale: bool = Field(description="last state older than stale_after_seconds; not counted")
    updated: datetime | None = Field(description="wall time of the last state received")
    lat: float | None = None
    lon: float | None = None


# -- managers (coal plants) --------------------------------------------------------------------


class ManagerLegacy(Input):
    """A plant's state in the original's terms (``maxProduciton`` is accepted too).

    Only ``maxProduction`` is required. Defaults: ``offered_kw`` = ``current`` less
    ``buffer_charge_kw``; ``marginal_cost_sek_per_kwh`` = the default coal plant's;
    ``co2_kg_per_h`` = ``current`` x the default plant's emission per kWh;
    ``ratio`` = ``current / maxProduction``; ``state`` = running when ``status``.
    """

    id: MemberId | None = Field(default=None, description="generated when absent")
    current: NonNegative = Field(default=0.0, description="production, kW")
    maxProduction: NonNegative = Field(description="rated production, kW")
    status: bool = Field(default=True, strict=True, description="commanded to run")
    name: OwnerName | None = Field(default=None, description="the owning manager service")
    ratio: Share | None = None
    state: PlantStateName | None = None
    offered_kw: NonNegative | None = None
    buffer_charge_kw: NonNegative = 0.0
    buffer_offer_kw: NonNegative = 0.0
    buffer_stored_kwh: NonNegative = 0.0
    buffer_capacity_kwh: NonNegative = 0.0
    marginal_cost_sek_per_kwh: NonNegative | None = None
    co2_kg_per_h: NonNegative | None = None
    co2_total_kg: NonNegative = 0.0

    @model_validator(mode="after")
    def _consistent(self) -> ManagerLegacy:
        if self.current > self.maxProduction:
            raise ValueError("current must not exceed maxProduction")
        if self.buffer_charge_kw > self.current:
            raise ValueError("buffer_charge_kw must not exceed current")
        if self.offered_kw is not None and self.offered_kw > self.current:
            raise ValueError("offered_kw must not exceed current")
        if self.buffer_stored_kwh > self.buffer_capacity_kwh:
            raise ValueError("buffer_stored_kwh must not exceed buffer_capacity_kwh")
        return self


class Manager(BaseModel):
    """A coal plant as the cell sees it, and what the cell's last clearing accepted of it."""

    id: str
    current: float = Field(description="production, kW")
    maxProduction: float = Field(description="rated production, kW")
    status: bool
    ratio: float
    name: str | None = Field(description="the manager service that owns the plant")
    state: PlantStateName
    offered_kw: float
    buffer_charge_kw: float
    buffer_offer_kw: float
    buffer_stored_kwh: float
    buffer_capacity_kwh: float
    marginal_cost_sek_per_kwh: float
    co2_kg_per_h: float
    co2_total_kg: float
    accepted_kw: float = Field(description="plant power accepted in the last clearing")
    buffer_accepted_kw: float = Field(description="buffer power accepted in the last clearing")
    stale: bool
    updated: datetime | None


class Members(BaseModel):
    consumers: list[Consumer]
    prosumers: list[Prosumer]
    managers: list[Manager]


# -- history -----------------------------------------------------------------------------------


class TotalsPoint(BaseModel):
    """The cell's totals at one tick, or their mean over one ``step``."""

    model_config = ConfigDict(extra="allow")

    time: float = Field(description="simulated time, unix seconds (the bucket's start)")
    totalProduction: float
    totalDemand: float
    prosumer_production_kw: float
    plant_production_kw: float
    consumer_demand_kw: float
    prosumer_load_kw: float
    market_demand_kw: float
    unserved_kw: float
    curtailed_kw: float
    battery_charge_kw: float
    battery_discharge_kw: float
    co2_kg_per_h: float
    cell_price_sek_per_kwh: float
    temperature_c: float
    blackout_consumer_count: float
    blackout_prosumer_count: float
    stale_member_count: float


class History(BaseModel):
    points: list[TotalsPoint]


def legacy_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that takes ``model`` in every legacy form."""
    item = model.model_json_schema()
    forms = [item, {"type": "array", "items": item}]
    wrapped = {"type": "object", "properties": {"body": {"anyOf": forms}}, "required": ["body"]}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"anyOf": [*forms, wrapped]}}},
        }
    }
