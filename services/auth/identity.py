"""Who is calling the auth service, and what they may do here.

The auth service checks bearer tokens with its own keys (no HTTP request to
itself). A *manager* here is a caller whose token has the ``admin`` scope (a
service client configured for it) or a user whose profile holds a manager
privilege at level 2 or more, looked up when the request arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.auth.domain import ADMIN_SCOPE, is_manager
from services.auth.keys import InvalidTokenError
from services.auth.service import AuthService
from services.common.errors import ForbiddenError, UnauthorizedError
from services.common.runtime import RuntimeDep


def get_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.service
    return service


ServiceDep = Annotated[AuthService, Depends(get_service)]


@dataclass(frozen=True)
class Caller:
    """The subject of a valid access token."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    is_service: bool


_bearer = HTTPBearer(auto_error=False, description="an access token of this issuer")


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    service: ServiceDep,
) -> Caller:
    """The caller named by the bearer token; 401 without one or when it is not valid."""
    if credentials is None:
        if "authorization" in request.headers:
            raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
        raise UnauthorizedError("a bearer token is required")
    try:
        claims = service.issuer.verify_access_token(credentials.credentials)
    except InvalidTokenError:
        raise UnauthorizedError(
            "the token is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None
    client_id = str(claims.get("client_id", ""))
    return Caller(
        subject=str(claims["sub"]),
        client_id=client_id,
        scopes=frozenset(str(claims.get("scope", "")).split()),
        is_service=service.issuer.is_service_client(client_id),
    )


CallerDep = Annotated[Caller, Depends(current_caller)]


async def current_user(caller: CallerDep) -> Caller:
    """The caller, who must be a user (not a service)."""
    if caller.is_service:
        raise ForbiddenError("a service client has no profile or account")
    return caller


UserDep = Annotated[Caller, Depends(current_user)]


async def may_manage(caller: Caller, service: AuthService) -> bool:
    if ADMIN_SCOPE in caller.scopes:
        return True
    if caller.is_service:
        return False
    profile = await service.profiles.find(caller.subject)
    return profile is not None and is_manager(p.level for p in profile.managers)


async def current_manager(caller: CallerDep, service: ServiceDep) -> Caller:
    """The caller, who must be an administrator or a manager (level 2 or more)."""
    if not await may_manage(caller, service):
        raise ForbiddenError(
            "only a manager (a manager privilege at level 2 or more) or an admin client may do this"
        )
    return caller


ManagerDep = Annotated[Caller, Depends(current_manager)]


async def development_only(runtime: RuntimeDep) -> None:
    """403 in production: a profile without an account is for development only."""
    if runtime.settings.environment == "production":
        raise ForbiddenError(
            "creating profiles directly is disabled in production; register an account instead"
        )


DevelopmentOnly = Depends(development_only)


def client_address(request: Request) -> str:
    """The caller's address, for login throttling (behind a proxy: run uvicorn --proxy-headers)."""
    return request.client.host if request.client else "unknown"
