"""Wire formats that two services share: pushes, polls and weather readings.

Every tick the prosumer and manager services push all their members' state to
each simulation cell in one request (``ProsumerPush`` / ``PlantPush``); the
cell answers with what its last clearing decided for them. The market polls
each cell's ``GET /api/data`` (``CellData``). Prosumer and simulation services
read the weather service's ``POST /api/weather/batch``.

Powers are kW, energies kWh, prices SEK/kWh, emissions kg CO2.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

MAX_QUANTITY = 1e9
"""Largest power (kW), energy (kWh), price or emission any service accepts: a terawatt is far
above any grid and far below the floating-point overflow that sums of many such values risk."""

NonNegative = Field(ge=0, le=MAX_QUANTITY, allow_inf_nan=False)


def quantity(description: str) -> Any:
    """A non-negative, finite, bounded number field with a description."""
    return Field(ge=0, le=MAX_QUANTITY, allow_inf_nan=False, description=description)


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


# -- weather ---------------------------------------------------------------------------------


class Location(Wire):
    lat: float = Field(ge=-90, le=90, description="latitude, degrees north")
    lon: float = Field(ge=-180, le=180, description="longitude, degrees east")


class WeatherReading(Wire):
    """The weather at one location, now."""

    lat: float
    lon: float
    wind_speed_ms: float = Field(ge=0, description="wind speed at 10 m, m/s")
    wind_direction_deg: float = Field(ge=0, le=360, description="where the wind comes from")
    temperature_c: float = Field(description="air temperature at 2 m, °C")
    time: datetime = Field(description="when the value was observed or modelled")
    source: Literal["openweathermap", "synthetic"]
    stale: bool = Field(description="true when a fresh value could not be had")


class WeatherBatchRequest(Wire):
    locations: list[Location] = Field(min_length=1, max_length=1000)


class WeatherBatch(Wire):
    readings: list[WeatherReading]


# -- prosumer -> simulation ------------------------------------------------------------------

Source = Literal["own", "battery", "market", "mix", "none"]


class ProsumerState(Wire):
    """One prosumer's tick, as pushed to a simulation cell."""

    id: str
    production_kw: float = NonNegative
    load_kw: float = NonNegative
    battery_charge_kw: float = NonNegative
    battery_discharge_kw: float = NonNegative
    offered_kw: float = quantity("surplus offered to sell")
    requested_kw: float = quantity("deficit asked to buy")
    curtailed_kw: float = quantity("surplus neither stored nor offered")
    stored_kwh: float = NonNegative
    capacity_kwh: float = NonNegative
    status: bool = Field(description="turbines switched on")
    broken: bool = False
    sell_blocked: bool = False
    source: Source = Field(description="where the household's power comes from now")
    lat: float | None = None
    lon: float | None = None


Kw = Annotated[float, Field(ge=0, le=MAX_QUANTITY, allow_inf_nan=False)]


class ProsumerColumns(Wire):
    """Every pushed prosumer's state as columns: one list per field, one element per member.

    Columns keep a push of 10,000 members small and quick to encode and check; the
    fields mean what ``ProsumerState``'s do. A list of ``ProsumerState`` objects is
    read into columns too.
    """

    id: list[str]
    production_kw: list[Kw]
    load_kw: list[Kw]
    battery_charge_kw: list[Kw]
    battery_discharge_kw: list[Kw]
    offered_kw: list[Kw]
    requested_kw: list[Kw]
    curtailed_kw: list[Kw]
    stored_kwh: list[Kw]
    capacity_kwh: list[Kw]
    status: list[bool]
    broken: list[bool]
    sell_blocked: list[bool]
    source: list[Source]
    lat: list[float | None]
    lon: list[float | None]

    @model_validator(mode="before")
    @classmethod
    def _rows_to_columns(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        rows = _STATE_ROWS.validate_python(value)
        return {name: [getattr(row, name) for row in rows] for name in ProsumerState.model_fields}

    @model_validator(mode="after")
    def _same_length(self) -> ProsumerColumns:
        count = len(self.id)
        uneven = [name for name in type(self).model_fields if len(getattr(self, name)) != count]
        if uneven:
            raise ValueError(f"every column needs {count} values (one per id): {', '.join(uneven)}")
        return self

    def __len__(self) -> int:
        return len(self.id)

    def rows(self) -> list[ProsumerState]:
        """The members one by one (for reading, not for the hot path)."""
        names = list(ProsumerState.model_fields)
        return [
            ProsumerState.model_validate(dict(zip(names, values, strict=True)))
            for values in zip(*(getattr(self, name) for name in names), strict=True)
        ]


_STATE_ROWS: TypeAdapter[list[ProsumerState]] = TypeAdapter(list[ProsumerState])


class ProsumerPush(Wire):
    source: str = Field(description="NAME of the pushing prosumer service")
    time: datetime
    members: ProsumerColumns


class ProsumerPushAnswer(Wire):
    """What the cell's latest clearing decided for the pushed prosumers."""

    time: datetime | None
    sold_fraction: float = Field(ge=0, le=1, description="share of every offer that was sold")
    blackout: list[str] = Field(description="ids of prosumers whose purchase was not served")
    price_sek_per_kwh: float = NonNegative


# -- manager -> simulation -------------------------------------------------------------------

PlantStateName = Literal["stopped", "starting", "running", "stopping"]


class PlantState(Wire):
    """One coal plant's tick, as pushed to a simulation cell."""

    id: str
    state: PlantStateName
    status: bool = Field(description="commanded to run")
    ratio: float = Field(ge=0, le=1)
    production_kw: float = NonNegative
    max_production_kw: float = NonNegative
    offered_kw: float = quantity("production less buffer")
    buffer_charge_kw: float = NonNegative
    buffer_offer_kw: float = quantity("what the buffer can deliver now")
    buffer_stored_kwh: float = NonNegative
    buffer_capacity_kwh: float = NonNegative
    marginal_cost_sek_per_kwh: float = NonNegative
    co2_kg_per_h: float = NonNegative
    co2_total_kg: float = NonNegative


class PlantPush(Wire):
    source: str
    time: datetime
    members: list[PlantState]


class PlantAcceptance(Wire):
    plant_kw: float = NonNegative
    buffer_kw: float = NonNegative


class PlantPushAnswer(Wire):
    """Accepted power per plant in the cell's latest clearing."""

    time: datetime | None
    accepted: dict[str, PlantAcceptance]
    price_sek_per_kwh: float = NonNegative


# -- simulation -> market --------------------------------------------------------------------


class SupplyTier(Wire):
    """Power offered at one price."""

    kind: Literal["prosumers", "plant", "buffer"]
    id: str | None = None
    quantity_kw: float = NonNegative
    price_sek_per_kwh: float = NonNegative


class CellData(Wire):
    """A simulation cell's totals and offer curve (``GET /api/data``).

    ``totalProduction`` and ``totalDemand`` keep the original's names: production
    of prosumers and plants, and demand of consumers and prosumers' own load.
    """

    totalProduction: float = NonNegative
    totalDemand: float = NonNegative
    cell: str
    time: datetime | None
    prosumer_production_kw: float = NonNegative
    plant_production_kw: float = NonNegative
    battery_charge_kw: float = NonNegative
    battery_discharge_kw: float = NonNegative
    prosumer_load_kw: float = NonNegative
    consumer_demand_kw: float = NonNegative
    market_demand_kw: float = quantity("what consumers and prosumers ask of the market")
    unserved_kw: float = NonNegative
    curtailed_kw: float = NonNegative
    co2_kg_per_h: float = NonNegative
    supply: list[SupplyTier]
    cell_price_sek_per_kwh: float = NonNegative
    blackout_consumers: list[str]
    blackout_prosumers: list[str]
    stale_members: list[str] = Field(description="members whose last push is too old")
