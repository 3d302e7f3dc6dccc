"""Prosumer routes: check access and the input, hand off to ``ProsumerService``.

Every route needs a bearer token. Managers may do everything; a household
(a user whose token lists the prosumer id) may read its own member, read
and change its own controls, and set, read and remove its own picture.
Access is checked in route dependencies, which run before the body is
validated, so a refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

from services.common.compat import parse_many, parse_one
from services.common.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    error_responses,
)
from services.common.pictures import (
    PICTURE_CONTENT,
    UPLOAD_BODY,
    PictureInfo,
    picture_response,
    read_upload,
)
from services.common.security import (
    ACCESS_ERRORS,
    MANAGERS_ONLY,
    PrincipalDep,
    require_manager,
    require_prosumer_access,
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


async def prosumer_caller(member_id: str, principal: PrincipalDep) -> None:
    """401 without a valid token; 403 unless the caller is a manager or this household."""
    require_prosumer_access(principal, member_id)


PROSUMER_ACCESS = Depends(prosumer_caller)

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


@router.get(
    "/api/members",
    response_model=list[MemberPublic],
    responses=error_responses(*ACCESS_ERRORS),
    dependencies=[MANAGERS_ONLY],
)
async def list_members(service: ServiceDep) -> list[MemberPublic]:
    """Every prosumer with its last tick's values (turbines: maximum power, kW). Managers only."""
    return service.list_members()


@router.post(
    "/api/members",
    status_code=201,
    response_model=MemberPublic | list[MemberPublic],
    responses=error_responses(*ACCESS_ERRORS, InvalidInputError, ConflictError),
    dependencies=[MANAGERS_ONLY],
    openapi_extra=legacy_body(MemberCreate, many=True),
)
async def create_members(
    payload: Annotated[Any, Body()], service: ServiceDep
) -> MemberPublic | list[MemberPublic]:
    """Add one prosumer, or a list (also as ``{"body": [...]}``) all or none. Managers only.

    Turbines go in and come out as numbers (each turbine's maximum power, kW);
    ``_id`` is accepted for ``id``. A list answers with a list.
    """
    created = await service.create(parse_many(MemberCreate, payload))
    return created if _is_list(payload) else created[0]


@router.get(
    "/api/members/{member_id}",
    response_model=MemberPublic,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError),
    dependencies=[PROSUMER_ACCESS],
)
async def get_member(member_id: str, service: ServiceDep) -> MemberPublic:
    """One prosumer; turbines are numbers (maximum power, kW). Managers or the household."""
    return service.get_member(member_id)


@router.put(
    "/api/members/{member_id}",
    response_model=MemberPublic,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError, InvalidInputError),
    dependencies=[MANAGERS_ONLY],
    openapi_extra=legacy_body(MemberUpdate, many=False),
)
async def replace_member(
    member_id: str, payload: Annotated[Any, Body()], service: ServiceDep
) -> MemberPublic:
    """Replace a prosumer's turbines (kW) and batteries, keeping stored energy. Managers only."""
    return await service.replace(member_id, parse_one(MemberUpdate, payload))


@router.delete(
    "/api/members/{member_id}",
    response_model=MemberPublic,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError),
    dependencies=[MANAGERS_ONLY],
)
async def delete_member(member_id: str, service: ServiceDep) -> MemberPublic:
    """Remove a prosumer; answers with its last state. Managers only."""
    return await service.delete(member_id)


@router.post(
    "/api/members/{member_id}/block",
    response_model=MemberPublic,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError, InvalidInputError),
    dependencies=[MANAGERS_ONLY],
)
async def block_member(member_id: str, body: BlockRequest, service: ServiceDep) -> MemberPublic:
    """Stop a prosumer selling for 10-100 wall seconds; it stores or curtails. Managers only."""
    return await service.block(member_id, body.seconds)


@router.delete(
    "/api/members/{member_id}/block",
    response_model=MemberPublic,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError),
    dependencies=[MANAGERS_ONLY],
)
async def unblock_member(member_id: str, service: ServiceDep) -> MemberPublic:
    """Lift a prosumer's sell block now. Managers only."""
    return await service.unblock(member_id)


@router.put(
    "/api/members/{member_id}/picture",
    response_model=PictureInfo,
    responses=error_responses(
        *ACCESS_ERRORS, NotFoundError, PayloadTooLargeError, InvalidInputError
    ),
    dependencies=[PROSUMER_ACCESS],
    openapi_extra=UPLOAD_BODY,
)
async def put_picture(member_id: str, request: Request, service: ServiceDep) -> PictureInfo:
    """Set the house's picture (raw image or multipart ``file``). Managers or the household."""
    service.require(member_id)  # 404 before the upload is read
    upload = await read_upload(request)
    return PictureInfo.of(await service.set_picture(member_id, upload))


@router.get(
    "/api/members/{member_id}/picture",
    response_class=Response,
    responses={**PICTURE_CONTENT, **error_responses(*ACCESS_ERRORS, NotFoundError)},
    dependencies=[PROSUMER_ACCESS],
)
async def get_picture(member_id: str, service: ServiceDep) -> Response:
    """The house's picture, as JPEG or PNG. Managers or the household."""
    return picture_response(await service.picture(member_id))


@router.delete(
    "/api/members/{member_id}/picture",
    status_code=204,
    response_class=Response,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError),
    dependencies=[PROSUMER_ACCESS],
)
async def delete_picture(member_id: str, service: ServiceDep) -> Response:
    """Remove the house's picture. Managers or the household."""
    await service.delete_picture(member_id)
    return Response(status_code=204)


@router.get(
    "/api/control/{member_id}",
    response_model=Control,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError),
    dependencies=[PROSUMER_ACCESS],
)
async def get_control(member_id: str, service: ServiceDep) -> Control:
    """A prosumer's controls: input_ratio, output_ratio, status. Managers or the household."""
    return service.get_control(member_id)


@router.put(
    "/api/control/{member_id}",
    response_model=Control,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError, InvalidInputError),
    dependencies=[PROSUMER_ACCESS],
)
async def put_control(member_id: str, update: ControlUpdate, service: ServiceDep) -> Control:
    """Change any of input_ratio, output_ratio (0..1), status. Managers or the household."""
    return await service.set_control(member_id, update)


@router.post(
    "/api/control/{member_id}",
    response_model=Control,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError, InvalidInputError),
    dependencies=[PROSUMER_ACCESS],
)
async def post_control(member_id: str, update: ControlUpdate, service: ServiceDep) -> Control:
    """The same as PUT (the original README documented POST). Managers or the household."""
    return await service.set_control(member_id, update)


async def stream_member(
    service: ServiceDep,
    principal: PrincipalDep,
    member_id: Annotated[
        MemberId | None, Query(alias="id", description="one member; totals when absent")
    ] = None,
) -> str | None:
    """The member a stream is about, access and existence checked before the stream starts."""
    if member_id is None:
        require_manager(principal)
        return None
    require_prosumer_access(principal, member_id)
    service.require(member_id)
    return member_id


@router.get(
    "/api/stream",
    response_class=EventSourceResponse,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError, InvalidInputError),
)
async def stream(
    service: ServiceDep, member_id: Annotated[str | None, Depends(stream_member)]
) -> AsyncIterator[ServerSentEvent]:
    """SSE ``prosumers`` per tick: member ``id`` (managers, its household) or totals (managers)."""
    async for event in service.stream(member_id):
        yield event
