"""Routes of the simulation cell: check input, hand off to ``SimulationService``.

Every route needs a bearer token (``services.common.security``); the checks
run as route dependencies, before the body is validated or used, so a refused
request changes nothing:

- member pushes (``.../bulk``): services granted ``grid.push``;
- legacy prosumer/plant registration, update and removal: managers or ``grid.push``;
- consumer cluster creation, update and removal: managers;
- every read (members, totals, history, stream): managers or ``grid.poll``, since
  the totals name the members of blacked-out households.

Create and legacy-update routes accept the original's payload forms (one
object, a list, or either as ``{"body": ...}``; ``_id`` for ``id``;
``maxProduciton`` for ``maxProduction``) and answer in the correct spellings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from services.common.compat import parse_many, parse_one
from services.common.contracts import (
    CellData,
    PlantPush,
    PlantPushAnswer,
    ProsumerPush,
    ProsumerPushAnswer,
)
from services.common.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
    error_responses,
)
from services.common.history import HistoryQuery
from services.common.security import (
    MANAGERS_ONLY,
    POLL_SCOPE,
    PUSH_SCOPE,
    PrincipalDep,
    require_manager_or_scope,
    require_scope,
)
from services.simulation.schemas import (
    Consumer,
    ConsumerCreate,
    ConsumerUpdate,
    History,
    Manager,
    ManagerLegacy,
    Members,
    Prosumer,
    ProsumerLegacy,
    legacy_body_schema,
)
from services.simulation.service import SimulationService


def get_service(request: Request) -> SimulationService:
    service: SimulationService = request.app.state.service
    return service


async def pusher_only(principal: PrincipalDep) -> None:
    """Route dependency: the caller is a service granted grid.push."""
    require_scope(principal, PUSH_SCOPE)


async def manager_or_pusher(principal: PrincipalDep) -> None:
    """Route dependency: a manager, or a service granted grid.push."""
    require_manager_or_scope(principal, PUSH_SCOPE)


async def manager_or_poller(principal: PrincipalDep) -> None:
    """Route dependency: a manager, or a service granted grid.poll."""
    require_manager_or_scope(principal, POLL_SCOPE)


ServiceDep = Annotated[SimulationService, Depends(get_service)]
LegacyPayload = Annotated[Any, Body()]

MANAGERS = [MANAGERS_ONLY]
PUSHERS = [Depends(pusher_only)]
MANAGERS_OR_PUSHERS = [Depends(manager_or_pusher)]
MANAGERS_OR_POLLERS = [Depends(manager_or_poller)]

router = APIRouter(prefix="/api")

ACCESS = (UnauthorizedError, ForbiddenError)
READ = error_responses(*ACCESS)
READ_ONE = error_responses(*ACCESS, NotFoundError)
CREATE = error_responses(*ACCESS, ConflictError, InvalidInputError, UnavailableError)
UPDATE = error_responses(*ACCESS, NotFoundError, InvalidInputError, UnavailableError)
LEGACY_UPDATE = error_responses(*ACCESS, NotFoundError, InvalidInputError)
DELETE = error_responses(*ACCESS, NotFoundError, UnavailableError)
PUSH = error_responses(*ACCESS, InvalidInputError)


# -- all members -------------------------------------------------------------------------------


@router.get(
    "/members",
    response_model=Members,
    tags=["members"],
    responses=READ,
    dependencies=MANAGERS_OR_POLLERS,
)
async def list_members(service: ServiceDep) -> Members:
    """Every consumer cluster, prosumer and manager (plant) of the cell.

    Managers or services with grid.poll.
    """
    return service.members()


# -- consumers ---------------------------------------------------------------------------------


@router.get(
    "/members/consumers",
    response_model=list[Consumer],
    tags=["consumers"],
    responses=READ,
    dependencies=MANAGERS_OR_POLLERS,
)
async def list_consumers(service: ServiceDep) -> list[Consumer]:
    """Every consumer cluster with its demand and blackout flag of the last tick.

    Managers or services with grid.poll.
    """
    return service.list_consumers()


@router.post(
    "/members/consumers",
    response_model=list[Consumer],
    status_code=status.HTTP_201_CREATED,
    responses=CREATE,
    tags=["consumers"],
    openapi_extra=legacy_body_schema(ConsumerCreate),
    dependencies=MANAGERS,
)
async def create_consumers(payload: LegacyPayload, service: ServiceDep) -> list[Consumer]:
    """Add consumer clusters, all or none (one object, a list, or {"body": [...]}).

    Managers only.
    """
    return await service.create_consumers(parse_many(ConsumerCreate, payload))


@router.get(
    "/members/consumers/{member_id}",
    response_model=Consumer,
    responses=READ_ONE,
    tags=["consumers"],
    dependencies=MANAGERS_OR_POLLERS,
)
async def get_consumer(member_id: str, service: ServiceDep) -> Consumer:
    """One consumer cluster.

    Managers or services with grid.poll.
    """
    return service.consumer(member_id)


@router.put(
    "/members/consumers/{member_id}",
    response_model=Consumer,
    responses=UPDATE,
    tags=["consumers"],
    openapi_extra=legacy_body_schema(ConsumerUpdate),
    dependencies=MANAGERS,
)
async def update_consumer(member_id: str, payload: LegacyPayload, service: ServiceDep) -> Consumer:
    """Replace a cluster's timefn, profile, households or location; left-out fields stay.

    Managers only.
    """
    return await service.update_consumer(member_id, parse_one(ConsumerUpdate, payload))


@router.delete(
    "/members/consumers/{member_id}",
    response_model=Consumer,
    responses=DELETE,
    tags=["consumers"],
    dependencies=MANAGERS,
)
async def delete_consumer(member_id: str, service: ServiceDep) -> Consumer:
    """Remove a consumer cluster; answers with what was removed.

    Managers only.
    """
    return await service.delete_consumer(member_id)


# -- prosumers ---------------------------------------------------------------------------------


@router.get(
    "/members/prosumers",
    response_model=list[Prosumer],
    tags=["prosumers"],
    responses=READ,
    dependencies=MANAGERS_OR_POLLERS,
)
async def list_prosumers(service: ServiceDep) -> list[Prosumer]:
    """Every prosumer's last state and what the last clearing decided for it.

    Managers or services with grid.poll.
    """
    return service.list_prosumers()


@router.post(
    "/members/prosumers/bulk",
    response_model=ProsumerPushAnswer,
    responses=PUSH,
    tags=["prosumers"],
    dependencies=PUSHERS,
)
async def push_prosumers(push: ProsumerPush, service: ServiceDep) -> ProsumerPushAnswer:
    """A prosumer service's tick: every member's state; unknown members are registered.

    Services with grid.push only.
    """
    return service.push_prosumers(push)


@router.post(
    "/members/prosumers",
    response_model=list[Prosumer],
    status_code=status.HTTP_201_CREATED,
    responses=CREATE,
    tags=["prosumers"],
    openapi_extra=legacy_body_schema(ProsumerLegacy),
    dependencies=MANAGERS_OR_PUSHERS,
)
async def register_prosumers(payload: LegacyPayload, service: ServiceDep) -> list[Prosumer]:
    """Register prosumers with the original's fields, all or none (also {"body": [...]}).

    Managers or services with grid.push.
    """
    return await service.register_prosumers(parse_many(ProsumerLegacy, payload))


@router.get(
    "/members/prosumers/{member_id}",
    response_model=Prosumer,
    responses=READ_ONE,
    tags=["prosumers"],
    dependencies=MANAGERS_OR_POLLERS,
)
async def get_prosumer(member_id: str, service: ServiceDep) -> Prosumer:
    """One prosumer.

    Managers or services with grid.poll.
    """
    return service.prosumer(member_id)


@router.put(
    "/members/prosumers/{member_id}",
    response_model=Prosumer,
    responses=LEGACY_UPDATE,
    tags=["prosumers"],
    openapi_extra=legacy_body_schema(ProsumerLegacy),
    dependencies=MANAGERS_OR_PUSHERS,
)
async def update_prosumer(member_id: str, payload: LegacyPayload, service: ServiceDep) -> Prosumer:
    """Replace one prosumer's state with the original's fields (legacy per-member update).

    Managers or services with grid.push.
    """
    return await service.update_prosumer(member_id, parse_one(ProsumerLegacy, payload))


@router.delete(
    "/members/prosumers/{member_id}",
    response_model=Prosumer,
    responses=DELETE,
    tags=["prosumers"],
    dependencies=MANAGERS_OR_PUSHERS,
)
async def delete_prosumer(member_id: str, service: ServiceDep) -> Prosumer:
    """Remove a prosumer (its next push registers it again); answers with what was removed.

    Managers or services with grid.push.
    """
    return await service.delete_prosumer(member_id)


# -- managers (plants) -------------------------------------------------------------------------


@router.get(
    "/members/managers",
    response_model=list[Manager],
    tags=["managers"],
    responses=READ,
    dependencies=MANAGERS_OR_POLLERS,
)
async def list_managers(service: ServiceDep) -> list[Manager]:
    """Every plant's last state and what the last clearing accepted of it.

    Managers or services with grid.poll.
    """
    return service.list_managers()


@router.post(
    "/members/managers/bulk",
    response_model=PlantPushAnswer,
    responses=PUSH,
    tags=["managers"],
    dependencies=PUSHERS,
)
async def push_plants(push: PlantPush, service: ServiceDep) -> PlantPushAnswer:
    """A manager service's tick: every plant's state; unknown plants are registered.

    Services with grid.push only.
    """
    return service.push_plants(push)


@router.post(
    "/members/managers",
    response_model=list[Manager],
    status_code=status.HTTP_201_CREATED,
    responses=CREATE,
    tags=["managers"],
    openapi_extra=legacy_body_schema(ManagerLegacy),
    dependencies=MANAGERS_OR_PUSHERS,
)
async def register_managers(payload: LegacyPayload, service: ServiceDep) -> list[Manager]:
    """Register plants with the original's fields, all or none (maxProduciton accepted).

    Managers or services with grid.push.
    """
    return await service.register_managers(parse_many(ManagerLegacy, payload))


@router.get(
    "/members/managers/{member_id}",
    response_model=Manager,
    responses=READ_ONE,
    tags=["managers"],
    dependencies=MANAGERS_OR_POLLERS,
)
async def get_manager(member_id: str, service: ServiceDep) -> Manager:
    """One plant.

    Managers or services with grid.poll.
    """
    return service.manager(member_id)


@router.put(
    "/members/managers/{member_id}",
    response_model=Manager,
    responses=LEGACY_UPDATE,
    tags=["managers"],
    openapi_extra=legacy_body_schema(ManagerLegacy),
    dependencies=MANAGERS_OR_PUSHERS,
)
async def update_manager(member_id: str, payload: LegacyPayload, service: ServiceDep) -> Manager:
    """Replace one plant's state with the original's fields (maxProduciton accepted).

    Managers or services with grid.push.
    """
    return await service.update_manager(member_id, parse_one(ManagerLegacy, payload))


@router.delete(
    "/members/managers/{member_id}",
    response_model=Manager,
    responses=DELETE,
    tags=["managers"],
    dependencies=MANAGERS_OR_PUSHERS,
)
async def delete_manager(member_id: str, service: ServiceDep) -> Manager:
    """Remove a plant (its next push registers it again); answers with what was removed.

    Managers or services with grid.push.
    """
    return await service.delete_manager(member_id)


# -- totals ------------------------------------------------------------------------------------


@router.get(
    "/data",
    response_model=CellData,
    tags=["totals"],
    responses=READ,
    dependencies=MANAGERS_OR_POLLERS,
)
async def cell_data(service: ServiceDep) -> CellData:
    """The cell's totals, offer curve and blackouts of the last tick (polled by the market).

    Managers or services with grid.poll.
    """
    return service.data


@router.get(
    "/history",
    response_model=History,
    responses=error_responses(*ACCESS, InvalidInputError, UnavailableError),
    tags=["totals"],
    dependencies=MANAGERS_OR_POLLERS,
)
async def history(query: Annotated[HistoryQuery, Query()], service: ServiceDep) -> History:
    """Totals per tick between from and to (default: the last simulated hour), by step seconds.

    Managers or services with grid.poll.
    """
    return await service.history(query)


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    tags=["totals"],
    responses=READ,
    dependencies=MANAGERS_OR_POLLERS,
)
async def stream(service: ServiceDep) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: a ``totals`` event (the CellData) every tick, the latest first.

    Managers or services with grid.poll.
    """
    async for event in service.broadcaster.listen():
        yield event
