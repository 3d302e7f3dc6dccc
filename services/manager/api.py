"""Routes of the manager: check access and the input, hand off to ``ManagerService``.

Plants are public grid information: every ``GET`` is open. Creating a plant
needs a manager's token; deleting or steering one needs a privilege over that
plant (or an administrator's token). Access is checked in route
dependencies, which run before the body is read, so a refused request
changes nothing.

The original Manager API is the compatibility surface: ``GET /api/members``
answers ``{"body": [...]}``, creation accepts one object, a list or either
inside ``{"body": ...}``, ids as ``id`` or ``_id`` and the maximum as
``maxProduction`` or the original's ``maxProduciton``; responses spell it
``maxProduction``. Control takes POST (the original README) and PUT (the
original code).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from services.common.compat import parse_many, parse_one
from services.common.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    error_responses,
)
from services.common.security import (
    ACCESS_ERRORS,
    MANAGERS_ONLY,
    PrincipalDep,
    require_plant_access,
)
from services.manager.schemas import (
    Control,
    ControlUpdate,
    PlantCreate,
    PlantList,
    PlantPublic,
    PlantsEvent,
    legacy_body,
)
from services.manager.service import ManagerService

router = APIRouter(prefix="/api")


def get_service(request: Request) -> ManagerService:
    service: ManagerService = request.app.state.service
    return service


ServiceDep = Annotated[ManagerService, Depends(get_service)]
LegacyPayload = Annotated[Any, Body()]


async def plant_caller(plant_id: str, principal: PrincipalDep) -> None:
    """401 without a valid token; 403 unless the caller holds a privilege over this plant."""
    require_plant_access(principal, plant_id)


PLANT_ACCESS = Depends(plant_caller)


@router.get("/members", response_model=PlantList, tags=["members"])
async def list_members(service: ServiceDep) -> PlantList:
    """Every plant, as ``{"body": [...]}`` like the original (``maxProduction``). Public."""
    return PlantList(body=service.members())


@router.post(
    "/members",
    status_code=201,
    response_model=PlantPublic | PlantList,
    responses=error_responses(*ACCESS_ERRORS, ConflictError, InvalidInputError),
    dependencies=[MANAGERS_ONLY],
    openapi_extra=legacy_body(PlantCreate, many=True),
    tags=["members"],
)
async def create_members(payload: LegacyPayload, service: ServiceDep) -> PlantPublic | PlantList:
    """Create plants (one or a list, all or none; legacy spellings accepted). Managers only."""
    created = await service.create(parse_many(PlantCreate, payload))
    one_object = isinstance(payload, Mapping) and set(payload) != {"body"}
    return created[0] if one_object else PlantList(body=created)


@router.get(
    "/members/{plant_id}",
    response_model=PlantPublic,
    responses=error_responses(NotFoundError),
    tags=["members"],
)
async def get_member(plant_id: str, service: ServiceDep) -> PlantPublic:
    """One plant (``maxProduction``, not the original's ``maxProduciton``). Public."""
    return service.member(plant_id)


@router.delete(
    "/members/{plant_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError),
    dependencies=[PLANT_ACCESS],
    tags=["members"],
)
async def delete_member(plant_id: str, service: ServiceDep) -> Response:
    """Remove a plant; it is no longer pushed to the cells. This plant's managers only."""
    await service.delete(plant_id)
    return Response(status_code=204)


@router.get(
    "/control/{plant_id}",
    response_model=Control,
    responses=error_responses(NotFoundError),
    tags=["control"],
)
async def get_control(plant_id: str, service: ServiceDep) -> Control:
    """A plant's controls: ``ratio`` (set-point), ``status`` (run), ``buffer_ratio``. Public."""
    return service.control(plant_id)


@router.post(
    "/control/{plant_id}",
    response_model=Control,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError, InvalidInputError),
    dependencies=[PLANT_ACCESS],
    openapi_extra=legacy_body(ControlUpdate, many=False),
    tags=["control"],
)
@router.put(
    "/control/{plant_id}",
    response_model=Control,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError, InvalidInputError),
    dependencies=[PLANT_ACCESS],
    openapi_extra=legacy_body(ControlUpdate, many=False),
    tags=["control"],
)
async def update_control(plant_id: str, payload: LegacyPayload, service: ServiceDep) -> Control:
    """Change ``ratio``, ``status``, ``buffer_ratio`` (POST or PUT). This plant's managers only."""
    return await service.steer(plant_id, parse_one(ControlUpdate, payload))


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={200: {"model": PlantsEvent, "description": "a `plants` event after every tick"}},
    tags=["stream"],
)
async def stream(service: ServiceDep) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: a ``plants`` event with every plant after each tick. Public."""
    async for event in service.broadcaster.listen():
        yield event
