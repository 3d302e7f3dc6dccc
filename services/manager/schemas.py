"""Wire formats of the manager service: plant creation, the member view, controls.

Names follow the original Manager API where it had them (``maxProduction``,
``current``, ``status``, ``ratio``, the buffer's ``capacity``, ``maxOutput``,
``maxCharge``, ``current``); what is new is snake_case with its unit in the
name. Powers are kW, energies kWh, emissions kg CO2, costs SEK/kWh.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.contracts import PlantStateName
from services.physics import plant

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"

PlantId = Annotated[str, Field(pattern=ID_PATTERN, description="1-64 of A-Z a-z 0-9 _ . : -")]
Ratio = Annotated[float, Field(ge=0, le=1)]
# Upper bounds far above any real plant (the largest are a few GW) keep every
# derived figure (ramp, CO2, cost) finite.
MAX_PRODUCTION_KW = 1e8
Kilowatts = Annotated[float, Field(ge=0, le=1e9, description="kW")]
KilowattHours = Annotated[float, Field(ge=0, le=1e10, description="kWh")]


class Request(BaseModel):
    """A request body: unknown fields are ignored, NaN and infinities refused."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class Buffer(Request):
    """A plant's buffer battery, in the original's battery fields."""

    capacity: KilowattHours
    maxOutput: Kilowatts
    maxCharge: Kilowatts
    current: KilowattHours = Field(default=0.0, description="stored energy, kWh")

    @model_validator(mode="after")
    def _current_within_capacity(self) -> Buffer:
        if self.current > self.capacity:
            raise ValueError(f"current ({self.current} kWh) exceeds capacity ({self.capacity} kWh)")
        return self


class PlantCreate(Request):
    """A new coal plant; every field but ``maxProduction`` has a default.

    ``maxProduciton`` (the original's spelling) and ``_id`` are read as
    ``maxProduction`` and ``id``.
    """

    id: PlantId | None = Field(default=None, description="generated when absent")
    maxProduction: float = Field(
        gt=0, le=MAX_PRODUCTION_KW, description="rated electric output, kW"
    )
    ratio: Ratio = Field(default=0.5, description="set-point as a share of maxProduction")
    status: bool = Field(default=False, description="commanded to run; a new plant is stopped")
    buffer: Buffer | None = Field(
        default=None,
        description="default: 0.5 h of maxProduction, 0.25 x maxProduction each way, empty",
    )
    buffer_ratio: Ratio = Field(default=0.05, description="share of production sent to buffer")
    startup_seconds: float = Field(
        default=plant.STARTUP_S, ge=0, le=366 * 86_400, description="start-up time, s"
    )
    ramp_per_second: float = Field(
        default=plant.RAMP_FRACTION_PER_S,
        gt=0,
        le=1,
        description="largest change of production a second, as a share of maxProduction",
    )
    min_load: Ratio = Field(
        default=plant.MIN_LOAD_FRACTION, description="minimum stable load, share of maxProduction"
    )
    efficiency: float = Field(
        default=plant.EFFICIENCY,
        ge=0.01,
        le=1,
        description="electric output per fuel energy (real coal units: 0.3 to 0.47)",
    )


class BufferPublic(BaseModel):
    capacity: float = Field(description="kWh")
    maxOutput: float = Field(description="kW")
    maxCharge: float = Field(description="kW")
    current: float = Field(description="stored energy, kWh")


class PlantPublic(BaseModel):
    """One plant as the API shows it (``maxProduction``, not the original's ``maxProduciton``)."""

    id: str
    name: str = Field(description="NAME partition of the manager instance")
    current: float = Field(description="production now, kW")
    maxProduction: float = Field(description="kW")
    status: bool = Field(description="commanded to run")
    state: PlantStateName
    state_seconds: float = Field(description="time spent in the current state, s")
    ratio: float
    buffer: BufferPublic
    buffer_ratio: float
    startup_seconds: float
    ramp_per_second: float = Field(description="share of maxProduction a second")
    min_load: float
    efficiency: float
    offered_kw: float = Field(description="production offered to the market last tick")
    accepted_kw: float = Field(description="production the cells accepted (sold) last tick")
    buffer_charge_kw: float
    buffer_discharge_kw: float = Field(description="buffer power delivered to the market")
    buffer_offer_kw: float = Field(description="what the buffer offers the next clearing")
    co2_kg_per_h: float
    co2_total_kg: float
    marginal_cost_sek_per_kwh: float
    stale: bool = Field(description="no simulation cell answered the last push")


class PlantList(BaseModel):
    """Plants wrapped as ``{"body": [...]}``, the original's list shape."""

    body: list[PlantPublic]


class Control(BaseModel):
    """What an operator steers: set-point, run or stop, share of production to the buffer."""

    ratio: float
    status: bool
    buffer_ratio: float


class ControlUpdate(Request):
    """Any of the controls; at least one."""

    ratio: Ratio | None = None
    status: bool | None = None
    buffer_ratio: Ratio | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ControlUpdate:
        if self.ratio is None and self.status is None and self.buffer_ratio is None:
            raise ValueError("give at least one of ratio, status, buffer_ratio")
        return self


class PlantsEvent(BaseModel):
    """The ``plants`` event of ``/api/stream``: every plant after one tick."""

    time: str = Field(description="simulated time of the tick, ISO 8601")
    plants: list[PlantPublic]


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` substituted, for an OpenAPI body."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def legacy_body(model: type[BaseModel], *, many: bool) -> dict[str, Any]:
    """``openapi_extra`` describing a body read by ``compat.parse_one``/``parse_many``."""
    one = _inlined(model.model_json_schema())
    forms = [one, {"type": "object", "properties": {"body": one}, "required": ["body"]}]
    if many:
        array = {"type": "array", "items": one, "minItems": 1}
        forms += [array, {"type": "object", "properties": {"body": array}, "required": ["body"]}]
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"anyOf": forms}}},
        }
    }
