"""Wire formats of the market service. Powers are kW, prices SEK/kWh."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.market.domain import normalise_destination
from services.physics.market import SCARCITY_CAP_SEK_PER_KWH

MemberId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class CellCreate(BaseModel):
    """A cell to register: the base URL of a simulation service instance."""

    # The original clients sent database documents; unknown keys are ignored.
    model_config = ConfigDict(extra="ignore")

    id: MemberId | None = Field(default=None, description="generated (uuid4 hex) when absent")
    destination: str = Field(
        max_length=2048,
        description="absolute http(s) base URL of the cell, e.g. http://127.0.0.1:8005",
        examples=["http://127.0.0.1:8005"],
    )

    @field_validator("destination")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        return normalise_destination(value)


class CellPublic(BaseModel):
    """A registered cell and whether its data is current."""

    id: str
    destination: str
    stale: bool = Field(description="its latest poll failed, or it has never answered")
    last_seen: datetime | None = Field(description="simulated time of its last answer")
    name: str = Field(description="NAME partition of the market instance that polls it")


def legacy_body_schema(item: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI request body for a route that reads ``compat.parse_many`` payloads."""
    many = {"type": "array", "items": item, "minItems": 1}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            item,
                            many,
                            {
                                "type": "object",
                                "properties": {"body": {"oneOf": [item, many]}},
                                "required": ["body"],
                            },
                        ]
                    }
                }
            },
        }
    }


CELLS_BODY = legacy_body_schema(CellCreate.model_json_schema())


class PriceStats(BaseModel):
    """The original's aggregate of every cell (names kept), kW."""

    totalDemand: float = Field(description="sum of the cells' totalDemand, kW")
    totalProduction: float = Field(description="sum of the cells' totalProduction, kW")


class PriceReport(BaseModel):
    """The price in force and what it was modelled from, as of the last tick."""

    price: float = Field(description="price in force, SEK/kWh: the override if set")
    stats: PriceStats
    modelled_price: float = Field(description="merit-order clearing price, SEK/kWh")
    override: float | None = Field(description="the manager's price, SEK/kWh, or null")
    time: datetime | None = Field(description="simulated time of the last tick; null before it")
    scarcity: bool = Field(description="supply could not meet demand: price at the cap")
    stale: bool = Field(description="some cell did not answer its latest poll")
    stale_cells: list[str]
    cells: int = Field(description="registered cells")
    market_demand_kw: float = Field(description="what the cells ask of the market, kW")
    offered_kw: float = Field(description="supply the cells offer to the market, kW")
    note: str | None = Field(
        default=None, description="why the price says little, e.g. no cell registered"
    )


class PriceOverride(BaseModel):
    """The manager's price, which replaces the modelled one until cleared."""

    model_config = ConfigDict(extra="forbid")

    price: float = Field(
        ge=0,
        le=SCARCITY_CAP_SEK_PER_KWH,
        strict=True,
        allow_inf_nan=False,
        description=f"SEK/kWh, 0 to the scarcity cap ({SCARCITY_CAP_SEK_PER_KWH})",
    )


class OverridePublic(BaseModel):
    price: float | None = Field(description="the override in SEK/kWh, or null when none is set")


class HistoryPoint(BaseModel):
    time: datetime
    price: float
    modelled_price: float
    totalDemand: float
    totalProduction: float


class History(BaseModel):
    points: list[HistoryPoint]
