"""JSON routes of the auth service: the caller's profile and account, profiles, keys,
and the prosumers' online status for the managers' dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.auth.identity import (
    CallerDep,
    DevelopmentOnly,
    ManagerDep,
    ServiceDep,
    UserDep,
    client_address,
    may_manage,
)
from services.auth.schemas import (
    ID_PATTERN,
    Done,
    KeyRotation,
    PasswordChange,
    ProfileCreate,
    ProfilePublic,
    ProfileUpdate,
    ProsumerStatus,
    Registration,
)
from services.auth.service import TooManyAttemptsError
from services.common.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
    error_responses,
)

ClientIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="the profile's clientid")]
AddressDep = Annotated[str, Depends(client_address)]

login = APIRouter(prefix="/api", tags=["login"])
profiles = APIRouter(prefix="/api", tags=["profiles"])
account = APIRouter(prefix="/api", tags=["account"])
keys = APIRouter(prefix="/api", tags=["keys"])

TOKEN_ERRORS = (UnauthorizedError, ForbiddenError)


@login.get(
    "/login",
    response_model=ProfilePublic,
    responses=error_responses(*TOKEN_ERRORS, NotFoundError),
)
async def get_own_profile(caller: UserDep, service: ServiceDep) -> ProfilePublic:
    """The caller's own profile, from the bearer token's subject."""
    return await service.profiles.get(caller.subject)


@login.post(
    "/login",
    response_model=ProfilePublic,
    status_code=201,
    dependencies=[DevelopmentOnly],
    responses=error_responses(ForbiddenError, ConflictError, InvalidInputError),
)
async def create_profile(body: ProfileCreate, service: ServiceDep) -> ProfilePublic:
    """Create a profile directly, as the original did (no account); refused (403) in production."""
    return await service.profiles.create(body)


# -- profiles ------------------------------------------------------------------------------------


@profiles.get(
    "/profiles",
    response_model=list[ProfilePublic],
    responses=error_responses(*TOKEN_ERRORS),
)
async def list_profiles(_: ManagerDep, service: ServiceDep) -> list[ProfilePublic]:
    """Every profile of this instance; for managers."""
    return await service.profiles.list_profiles()


@profiles.get(
    "/profiles/{clientid}",
    response_model=ProfilePublic,
    responses=error_responses(*TOKEN_ERRORS, NotFoundError, InvalidInputError),
)
async def get_profile(
    clientid: ClientIdPath, caller: CallerDep, service: ServiceDep
) -> ProfilePublic:
    """One profile by clientid; a user may read their own, a manager any."""
    if caller.subject != clientid and not await may_manage(caller, service):
        raise ForbiddenError("only a manager may read another user's profile")
    return await service.profiles.get(clientid)


@profiles.put(
    "/profiles/{clientid}",
    response_model=ProfilePublic,
    responses=error_responses(*TOKEN_ERRORS, NotFoundError, InvalidInputError),
)
async def replace_profile(
    clientid: ClientIdPath, body: ProfileUpdate, _: ManagerDep, service: ServiceDep
) -> ProfilePublic:
    """Replace a profile's username and privileges; for managers (takes effect at next token)."""
    return await service.profiles.replace(clientid, body)


@profiles.delete(
    "/profiles/{clientid}",
    response_model=ProfilePublic,
    responses=error_responses(*TOKEN_ERRORS, NotFoundError, InvalidInputError),
)
async def delete_profile(
    clientid: ClientIdPath, _: ManagerDep, service: ServiceDep
) -> ProfilePublic:
    """Delete a user (profile, account, tokens); answers the deleted profile; for managers."""
    return await service.accounts.delete_user(clientid)


@profiles.get(
    "/prosumers/status",
    response_model=list[ProsumerStatus],
    responses=error_responses(*TOKEN_ERRORS),
)
async def prosumer_status(_: ManagerDep, service: ServiceDep) -> list[ProsumerStatus]:
    """Who holds each prosumer privilege and whether they are online now; for managers."""
    return await service.online.prosumers()


# -- accounts ------------------------------------------------------------------------------------


@account.post(
    "/register",
    response_model=ProfilePublic,
    status_code=201,
    responses=error_responses(ConflictError, InvalidInputError, ForbiddenError),
)
async def register(body: Registration, service: ServiceDep) -> ProfilePublic:
    """Create an account (username + password) and its profile, without privileges.

    Refused (403) when users sign in only with the external issuer (``oidc_only``).
    """
    return await service.accounts.register(body.username, body.password)


@account.post(
    "/account/password",
    response_model=Done,
    responses=error_responses(*TOKEN_ERRORS, TooManyAttemptsError, InvalidInputError),
)
async def change_password(
    body: PasswordChange, caller: UserDep, address: AddressDep, service: ServiceDep
) -> Done:
    """Change the caller's password; ends every session and refresh token of the account."""
    await service.accounts.change_password(
        caller.subject, body.old_password, body.new_password, address
    )
    return Done(detail="password changed; sign in again on every device")


@account.delete(
    "/account",
    response_model=ProfilePublic,
    responses=error_responses(*TOKEN_ERRORS, NotFoundError),
)
async def delete_account(caller: UserDep, service: ServiceDep) -> ProfilePublic:
    """Delete the caller's account and profile, and revoke its tokens; answers the profile."""
    return await service.accounts.delete_user(caller.subject)


# -- keys ----------------------------------------------------------------------------------------


@keys.post("/keys/rotate", response_model=KeyRotation, responses=error_responses(*TOKEN_ERRORS))
async def rotate_keys(_: ManagerDep, service: ServiceDep) -> KeyRotation:
    """A new signing key; previous keys stay in the JWKS while their tokens live; for managers."""
    return await service.issuer.rotate_keys()
