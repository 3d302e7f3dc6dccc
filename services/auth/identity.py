"""Who is calling, and what the deployment lets them do.

Until tokens exist a caller names itself: ``?clientid=`` or the ``X-Client-Id``
header. When tokens arrive, ``current_clientid`` verifies the bearer token and
answers its subject instead; routes that depend on ``CallerDep`` do not change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query

from services.auth.schemas import ID_PATTERN
from services.common.errors import ForbiddenError, InvalidInputError, UnauthorizedError
from services.common.runtime import RuntimeDep

NO_CALLER = (
    "name the caller with the 'clientid' query parameter or the 'X-Client-Id' header "
    "(this will require a bearer token once tokens exist)"
)


async def current_clientid(
    clientid: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="the caller's clientid (until tokens exist)"),
    ] = None,
    x_client_id: Annotated[
        str | None,
        Header(pattern=ID_PATTERN, description="the caller's clientid (until tokens exist)"),
    ] = None,
) -> str:
    """The caller's clientid; 401 when the request names nobody."""
    if clientid and x_client_id and clientid != x_client_id:
        raise InvalidInputError(
            "the clientid parameter and the X-Client-Id header name different callers",
            detail=[{"field": "clientid", "message": "differs from the X-Client-Id header"}],
        )
    caller = clientid or x_client_id
    if not caller:
        raise UnauthorizedError(NO_CALLER)
    return caller


CallerDep = Annotated[str, Depends(current_clientid)]


async def development_only(runtime: RuntimeDep) -> None:
    """403 in production: profiles may not be written without an authenticated administrator."""
    if runtime.settings.environment == "production":
        raise ForbiddenError(
            "writing profiles directly is disabled in production; "
            "profiles will be managed by an authenticated administrator once tokens exist"
        )


DevelopmentOnly = Depends(development_only)
