"""Prosumer routes: check the input, hand off to ``ProsumerService``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

from services.common.compat import parse_many, parse_one
from services.common.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    error_responses,
)
from services.prosumer.schemas import (
    BlockRequest,
    Control,
    ControlUpdate,
    MemberCreate,
    MemberId,
    MemberPublic,
    MemberUpdate,
)
from services.prosumer.service import ProsumerService


def get_service(request: Request) -> ProsumerService:
    service: ProsumerService = request.app.state.service
    return service


ServiceDep = Annotated[ProsumerService, Depends(get_service)]

router = APIRouter(tags=["prosumers"])


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` written in place (OpenAPI cannot see them)."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def legacy_body(model: type[BaseModel], *, many: bool) -> dict[str, Any]:
    """``openapi_extra`` for a body read by ``parse_one``/``parse_many``.

    Documents the bare object, a list (if ``many``) and either wrapped in
    ``{"body": ...}``; ``_id`` is read as ``id``.
    """
    one = _inline(model.model_json_schema())
    shapes = [one, {"type": "array", "items": one}] if many else [one]
    wrapped = {"type": "object", "properties": {"body": {"anyOf": shapes}}, "required": ["body"]}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"anyOf": [*shapes, wrapped]}}},
        }
    }


def _is_list(payload: Any) -> bool:
    if isinstance(payload, Mapping) and set(payload) == {"body"}:
        payload = payload["body"]
    return isinstance(payload, list)


@router.get("/api/members", response_model=list[MemberPublic])
async def list_members(service: ServiceDep) -> list[MemberPublic]:
    """Every prosumer with its last tick's values; turbines are numbers (maximum power, kW)."""
    return service.list_members()


@router.post(
    "/api/members",
    status_code=201,
    response_model=MemberPublic | list[MemberPublic],
    responses=error_responses(InvalidInputError, ConflictError),
    openapi_extra=legacy_body(MemberCreate, many=True),
)
async def create_members(
    payload: Annotated[Any, Body()], service: ServiceDep
) -> MemberPublic | list[MemberPublic]:
    """Add one prosumer, or a list (also as ``{"body": [...]}``) all or none.

    Turbines go in and come out as numbers (each turbine's maximum power, kW);
    ``_id`` is accepted for ``id``. A list answers with a list.
    """
    created = await service.create(parse_many(MemberCreate, payload))
    return created if _is_list(payload) else created[0]


@router.get(
    "/api/members/{member_id}",
    response_model=MemberPublic,
    responses=error_responses(NotFoundError),
)
async def get_member(member_id: str, service: ServiceDep) -> MemberPublic:
    """One prosumer; turbines are numbers (maximum power, kW)."""
    return service.get_member(member_id)


@router.put(
    "/api/members/{member_id}",
    response_model=MemberPublic,
    responses=error_responses(NotFoundError, InvalidInputError),
    openapi_extra=legacy_body(MemberUpdate, many=False),
)
async def replace_member(
    member_id: str, payload: Annotated[Any, Body()], service: ServiceDep
) -> MemberPublic:
    """Replace a prosumer's turbines (numbers, kW) and batteries; stored energy kept if it fits."""
    return await service.replace(member_id, parse_one(MemberUpdate, payload))


@router.delete(
    "/api/members/{member_id}",
    response_model=MemberPublic,
    responses=error_responses(NotFoundError),
)
async def delete_member(member_id: str, service: ServiceDep) -> MemberPublic:
    """Remove a prosumer; answers with its last state."""
    return await service.delete(member_id)


@router.post(
    "/api/members/{member_id}/block",
    response_model=MemberPublic,
    responses=error_responses(NotFoundError, InvalidInputError),
)
async def block_member(member_id: str, body: BlockRequest, service: ServiceDep) -> MemberPublic:
    """Block a prosumer from selling for 10-100 wall-clock seconds; it stores or curtails."""
    return await service.block(member_id, body.seconds)


@router.delete(
    "/api/members/{member_id}/block",
    response_model=MemberPublic,
    responses=error_responses(NotFoundError),
)
async def unblock_member(member_id: str, service: ServiceDep) -> MemberPublic:
    """Lift a prosumer's sell block now."""
    return await service.unblock(member_id)


@router.get(
    "/api/control/{member_id}",
    response_model=Control,
    responses=error_responses(NotFoundError),
)
async def get_control(member_id: str, service: ServiceDep) -> Control:
    """A prosumer's controls: input_ratio, output_ratio, status."""
    return service.get_control(member_id)


@router.put(
    "/api/control/{member_id}",
    response_model=Control,
    responses=error_responses(NotFoundError, InvalidInputError),
)
async def put_control(member_id: str, update: ControlUpdate, service: ServiceDep) -> Control:
    """Change any of input_ratio, output_ratio (0..1) and status; the next tick uses them."""
    return await service.set_control(member_id, update)


@router.post(
    "/api/control/{member_id}",
    response_model=Control,
    responses=error_responses(NotFoundError, InvalidInputError),
)
async def post_control(member_id: str, update: ControlUpdate, service: ServiceDep) -> Control:
    """The same as PUT (the original README documented POST)."""
    return await service.set_control(member_id, update)


def stream_member(
    service: ServiceDep,
    member_id: Annotated[
        MemberId | None, Query(alias="id", description="one member; totals when absent")
    ] = None,
) -> str | None:
    """The member a stream is about, checked before the stream starts."""
    if member_id is not None:
        service.require(member_id)
    return member_id


@router.get(
    "/api/stream",
    response_class=EventSourceResponse,
    responses=error_responses(NotFoundError, InvalidInputError),
)
async def stream(
    service: ServiceDep, member_id: Annotated[str | None, Depends(stream_member)]
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events ``prosumers`` each tick: one member's state with ``id``, else totals."""
    async for event in service.stream(member_id):
        yield event
