"""Routes of the auth service: the caller's profile, and profile management."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from services.auth.identity import CallerDep, DevelopmentOnly
from services.auth.schemas import ID_PATTERN, ProfileCreate, ProfilePublic, ProfileUpdate
from services.auth.service import ProfileService
from services.common.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
    error_responses,
)


def get_service(request: Request) -> ProfileService:
    service: ProfileService = request.app.state.service
    return service


ServiceDep = Annotated[ProfileService, Depends(get_service)]
ClientIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="the profile's clientid")]

login = APIRouter(prefix="/api", tags=["login"])
profiles = APIRouter(prefix="/api", tags=["profiles"])


@login.get(
    "/login",
    response_model=ProfilePublic,
    responses=error_responses(UnauthorizedError, NotFoundError, InvalidInputError),
)
async def get_own_profile(caller: CallerDep, service: ServiceDep) -> ProfilePublic:
    """The caller's profile; caller named by ?clientid= or X-Client-Id (will require a token)."""
    return await service.get(caller)


@login.post(
    "/login",
    response_model=ProfilePublic,
    status_code=201,
    dependencies=[DevelopmentOnly],
    responses=error_responses(ForbiddenError, ConflictError, InvalidInputError),
)
async def create_profile(body: ProfileCreate, service: ServiceDep) -> ProfilePublic:
    """Create a profile directly, as the original did; refused (403) in production."""
    return await service.create(body)


@profiles.get("/profiles", response_model=list[ProfilePublic])
async def list_profiles(service: ServiceDep) -> list[ProfilePublic]:
    """Every profile of this instance."""
    return await service.list_profiles()


@profiles.get(
    "/profiles/{clientid}",
    response_model=ProfilePublic,
    responses=error_responses(NotFoundError, InvalidInputError),
)
async def get_profile(clientid: ClientIdPath, service: ServiceDep) -> ProfilePublic:
    """One profile by clientid."""
    return await service.get(clientid)


@profiles.put(
    "/profiles/{clientid}",
    response_model=ProfilePublic,
    dependencies=[DevelopmentOnly],
    responses=error_responses(ForbiddenError, NotFoundError, InvalidInputError),
)
async def replace_profile(
    clientid: ClientIdPath, body: ProfileUpdate, service: ServiceDep
) -> ProfilePublic:
    """Replace a profile's username and privileges; refused (403) in production."""
    return await service.replace(clientid, body)


@profiles.delete(
    "/profiles/{clientid}",
    response_model=ProfilePublic,
    dependencies=[DevelopmentOnly],
    responses=error_responses(ForbiddenError, NotFoundError, InvalidInputError),
)
async def delete_profile(clientid: ClientIdPath, service: ServiceDep) -> ProfilePublic:
    """Delete a profile; answers the deleted one; refused (403) in production."""
    return await service.delete(clientid)
