"""Routes of the market service: cells, the price, its override, history and the live stream.

Reads are public (the price is public grid information). Registering and removing
cells and setting or clearing the price override need a manager's bearer token;
the check runs as a route dependency, before the body is validated or used, so a
refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from services.common.compat import parse_many
from services.common.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    error_responses,
)
from services.common.history import HistoryQuery
from services.common.security import ACCESS_ERRORS, MANAGERS_ONLY
from services.market.schemas import (
    CELLS_BODY,
    CellCreate,
    CellPublic,
    History,
    HistoryPoint,
    OverridePublic,
    PriceOverride,
    PriceReport,
)
from services.market.service import MarketService


def get_service(request: Request) -> MarketService:
    service: MarketService = request.app.state.service
    return service


ServiceDep = Annotated[MarketService, Depends(get_service)]
MANAGERS = [MANAGERS_ONLY]

members = APIRouter(prefix="/api", tags=["members"])
price = APIRouter(prefix="/api", tags=["price"])


@members.get("/members", response_model=list[CellPublic])
async def list_cells(service: ServiceDep) -> list[CellPublic]:
    """Every registered cell, with whether its data is current. Public."""
    return service.list_cells()


@members.post(
    "/members",
    response_model=list[CellPublic],
    status_code=201,
    responses=error_responses(*ACCESS_ERRORS, InvalidInputError, ConflictError),
    openapi_extra=CELLS_BODY,
    dependencies=MANAGERS,
)
async def add_cells(payload: Annotated[Any, Body()], service: ServiceDep) -> list[CellPublic]:
    """Register cells, all or none: one object, a list, or the original's {"body": [...]}.

    Managers only.
    """
    return await service.add_cells(parse_many(CellCreate, payload))


@members.get(
    "/members/{cell_id}", response_model=CellPublic, responses=error_responses(NotFoundError)
)
async def get_cell(cell_id: str, service: ServiceDep) -> CellPublic:
    """One cell by id. Public."""
    return service.get_cell(cell_id)


@members.get(
    "/member/{cell_id}",
    response_model=CellPublic,
    responses=error_responses(NotFoundError),
    deprecated=True,
)
async def get_cell_legacy(cell_id: str, service: ServiceDep) -> CellPublic:
    """One cell by id, at the original's as-built path; use /api/members/{id}. Public."""
    return service.get_cell(cell_id)


@members.delete(
    "/members/{cell_id}",
    response_model=CellPublic,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError),
    dependencies=MANAGERS,
)
async def delete_cell(cell_id: str, service: ServiceDep) -> CellPublic:
    """Stop polling a cell and forget it; answers the removed cell. Managers only."""
    return await service.remove_cell(cell_id)


@price.get("/price", response_model=PriceReport)
async def get_price(service: ServiceDep) -> PriceReport:
    """The price in force and the pooled totals (totalDemand, totalProduction). Public."""
    return service.price()


@price.get("/price/override", response_model=OverridePublic)
async def get_override(service: ServiceDep) -> OverridePublic:
    """The manager's price override, or null when the modelled price applies. Public."""
    return OverridePublic(price=service.override)


@price.put(
    "/price/override",
    response_model=OverridePublic,
    responses=error_responses(*ACCESS_ERRORS, InvalidInputError),
    dependencies=MANAGERS,
)
async def set_override(body: PriceOverride, service: ServiceDep) -> OverridePublic:
    """Set the manager's price (SEK/kWh, 0 to the scarcity cap); it applies until cleared.

    Managers only.
    """
    return OverridePublic(price=await service.set_override(body.price))


@price.delete(
    "/price/override",
    response_model=OverridePublic,
    responses=error_responses(*ACCESS_ERRORS),
    dependencies=MANAGERS,
)
async def clear_override(service: ServiceDep) -> OverridePublic:
    """Clear the manager's price: the modelled price applies again. Managers only."""
    return OverridePublic(price=await service.set_override(None))


@price.get("/history", response_model=History, responses=error_responses(InvalidInputError))
async def history(query: Annotated[HistoryQuery, Query()], service: ServiceDep) -> History:
    """Price and totals per tick from/to (ISO 8601 or unix s), averaged over step s. Public."""
    points = await service.history(query)
    return History(points=[HistoryPoint.model_validate(point) for point in points])


@price.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={200: {"description": "event `price` every tick, data as GET /api/price"}},
)
async def stream(service: ServiceDep) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: the latest price at once, then event `price` every tick. Public."""
    async for event in service.broadcaster.listen():
        yield event
