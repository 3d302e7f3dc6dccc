"""Wire formats of the prosumer service.

The payload shapes are the original "Prosumer API"'s: turbines are plain
numbers (each turbine's maximum power, kW) and batteries are
``{capacity, maxOutput, maxCharge, current?}`` (kWh, kW, kW, kWh). Numbers
are strict: a string or a boolean where a number belongs is refused, not
coerced. Unknown fields are ignored so older clients keep working.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.common.contracts import Source
from services.physics import load, turbine

MAX_POWER_KW = 1_000_000.0
"""Bound of every power (kW) and energy (kWh) figure: far above a house, far below overflow."""

MAX_ANNUAL_KWH = 10_000_000.0

MemberId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="1-64 characters of A-Z a-z 0-9 _ . : -; generated when absent",
    ),
]
Kilowatts = Annotated[float, Field(ge=0, le=MAX_POWER_KW, allow_inf_nan=False)]
KilowattHours = Annotated[float, Field(ge=0, le=MAX_POWER_KW, allow_inf_nan=False)]
Ratio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
HubHeight = Annotated[
    float,
    Field(
        description="turbine tower height, m: one of "
        + ", ".join(f"{height:g}" for height in turbine.TOWER_HEIGHTS_M),
        json_schema_extra={"enum": list(turbine.TOWER_HEIGHTS_M)},
    ),
]
AnnualKwh = Annotated[
    float,
    Field(ge=0, le=MAX_ANNUAL_KWH, allow_inf_nan=False, description="household use, kWh/year"),
]
HeatingPerC = Annotated[
    float,
    Field(ge=0, le=1, allow_inf_nan=False, description="relative load per °C below 17 °C"),
]


class Payload(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class BatteryIn(Payload):
    """One battery as sent by clients."""

    capacity: KilowattHours = Field(description="energy it can hold, kWh")
    maxOutput: Kilowatts = Field(description="most power it can deliver, kW")
    maxCharge: Kilowatts = Field(description="most power it can take, kW")
    current: KilowattHours | None = Field(default=None, description="energy held now, kWh")

    @model_validator(mode="after")
    def _current_within_capacity(self) -> BatteryIn:
        if self.current is not None and self.current > self.capacity:
            raise ValueError("current must not exceed capacity")
        return self


def _tower_height(value: float | None) -> float | None:
    if value is not None and value not in turbine.TOWER_HEIGHTS_M:
        allowed = ", ".join(f"{height:g}" for height in turbine.TOWER_HEIGHTS_M)
        raise ValueError(f"must be one of {allowed}")
    return value


class MemberCreate(Payload):
    """A new prosumer (``_id`` is accepted for ``id``)."""

    id: MemberId | None = None
    turbines: list[Kilowatts] = Field(
        min_length=1, max_length=100, description="each turbine's maximum power, kW"
    )
    batteries: list[BatteryIn] = Field(default_factory=list, max_length=100)
    input_ratio: Ratio = Field(default=0.5, description="share of a surplus sent to the battery")
    output_ratio: Ratio = Field(
        default=0.5, description="share of a deficit taken from the battery"
    )
    status: bool = Field(default=True, description="turbines switched on")
    lat: Latitude | None = Field(default=None, description="the service's location when absent")
    lon: Longitude | None = None
    hub_height_m: HubHeight = turbine.TOWER_HEIGHTS_M[0]
    annual_kwh: AnnualKwh = load.HOUSEHOLD_ANNUAL_KWH
    heating_per_c: HeatingPerC = load.HEATING_COEFFICIENT_PER_C

    _tower = field_validator("hub_height_m")(_tower_height)


class MemberUpdate(Payload):
    """A prosumer's new equipment; optional fields left out keep their value.

    Stored energy is kept (clipped to the new capacity) unless a battery
    states ``current``; then the stated values are the new stored energy.
    """

    turbines: list[Kilowatts] = Field(
        min_length=1, max_length=100, description="each turbine's maximum power, kW"
    )
    batteries: list[BatteryIn] = Field(max_length=100)
    input_ratio: Ratio | None = None
    output_ratio: Ratio | None = None
    status: bool | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    hub_height_m: HubHeight | None = None
    annual_kwh: AnnualKwh | None = None
    heating_per_c: HeatingPerC | None = None

    _tower = field_validator("hub_height_m")(_tower_height)


class Control(BaseModel):
    """A prosumer's controls."""

    input_ratio: float = Field(description="share of a surplus sent to the battery, 0..1")
    output_ratio: float = Field(description="share of a deficit taken from the battery, 0..1")
    status: bool = Field(description="turbines switched on")


class ControlUpdate(Payload):
    """Any subset of the controls; at least one of them."""

    input_ratio: Ratio | None = None
    output_ratio: Ratio | None = None
    status: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: object) -> object:
        if isinstance(data, dict):
            nulls = [key for key in ("input_ratio", "output_ratio", "status") if key in data]
            if any(data[key] is None for key in nulls):
                raise ValueError("controls may not be null; leave a field out to keep it")
        return data

    @model_validator(mode="after")
    def _something_to_change(self) -> ControlUpdate:
        if self.input_ratio is None and self.output_ratio is None and self.status is None:
            raise ValueError("give at least one of input_ratio, output_ratio, status")
        return self


class BlockRequest(Payload):
    seconds: float = Field(
        ge=10, le=100, allow_inf_nan=False, description="wall-clock seconds without selling"
    )


class BatteryOut(BaseModel):
    capacity: float = Field(description="kWh")
    maxOutput: float = Field(description="kW")
    maxCharge: float = Field(description="kW")
    current: float = Field(description="energy held now, kWh (the bank's share by capacity)")


class MemberPublic(BaseModel):
    """A prosumer: its equipment, controls, and the values of the last tick."""

    id: str
    name: str = Field(description="NAME partition of the service that holds the member")
    turbines: list[float] = Field(description="each turbine's maximum power, kW")
    batteries: list[BatteryOut]
    input_ratio: float
    output_ratio: float
    status: bool
    lat: float
    lon: float
    hub_height_m: float
    annual_kwh: float
    heating_per_c: float
    blocked_until: datetime | None = Field(description="selling blocked until then (wall time)")
    wind_speed_ms: float = Field(description="wind at 10 m at the member's site, m/s")
    production_kw: float
    load_kw: float
    net_kw: float = Field(description="production minus load, kW")
    battery_charge_kw: float
    battery_discharge_kw: float
    sold_kw: float
    bought_kw: float
    curtailed_kw: float
    stored_kwh: float
    capacity_kwh: float
    source: Source = Field(description="where the household's power comes from now")
    blackout: bool
    broken: bool = Field(description="turbines broken down, awaiting repair")
    price_sek_per_kwh: float = Field(description="the market price in the last answer")


class ProsumerTotals(BaseModel):
    """The whole service's last tick (the ``prosumers`` stream event without ``id``)."""

    time: datetime | None
    members: int
    production_kw: float
    load_kw: float
    net_kw: float
    battery_charge_kw: float
    battery_discharge_kw: float
    stored_kwh: float
    capacity_kwh: float
    sold_kw: float
    bought_kw: float
    curtailed_kw: float
    blackouts: int
    broken: int
    blocked: int
    price_sek_per_kwh: float
    weather_stale: bool
