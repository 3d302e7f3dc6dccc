"""Profile pictures: each user's own (a manager's is the one shown for them), kept by clientid.

Uploads are re-encoded by ``services.common.pictures`` in a worker thread and
stored in the ``pictures`` collection under the profile's clientid. A picture
is served only while its profile exists.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from services.auth.api import ClientIdPath
from services.auth.identity import CallerDep, ServiceDep, UserDep, may_manage
from services.common.errors import (
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
    error_responses,
)
from services.common.pictures import (
    PICTURE_CONTENT,
    UPLOAD_BODY,
    Picture,
    PictureInfo,
    delete_picture,
    load_picture,
    picture_response,
    read_upload,
    reencode,
    save_picture,
)
from services.common.runtime import RuntimeDep, ServiceRuntime

router = APIRouter(prefix="/api")

ACCESS_ERRORS = (UnauthorizedError, ForbiddenError)


async def _picture_of(clientid: str, service: ServiceDep, runtime: ServiceRuntime) -> Picture:
    """The picture of an existing profile; 404 without the profile or its picture."""
    await service.profiles.get(clientid)
    picture = await load_picture(runtime.storage, clientid)
    if picture is None:
        raise NotFoundError(f"profile {clientid!r} has no picture")
    return picture


@router.put(
    "/account/picture",
    tags=["account"],
    response_model=PictureInfo,
    responses=error_responses(
        *ACCESS_ERRORS, NotFoundError, PayloadTooLargeError, InvalidInputError
    ),
    openapi_extra=UPLOAD_BODY,
)
async def put_own_picture(
    caller: UserDep, request: Request, service: ServiceDep, runtime: RuntimeDep
) -> PictureInfo:
    """Set the caller's profile picture (raw image or multipart ``file``); any signed-in user."""
    await service.profiles.get(caller.subject)  # 404 before the upload is read
    picture = await asyncio.to_thread(reencode, await read_upload(request))
    # The account may have been deleted while the picture was re-encoded.
    await service.profiles.get(caller.subject)
    stored = await save_picture(
        runtime.storage, caller.subject, picture, updated=runtime.clock.now()
    )
    return PictureInfo.of(stored)


@router.get(
    "/account/picture",
    tags=["account"],
    response_class=Response,
    responses={**PICTURE_CONTENT, **error_responses(*ACCESS_ERRORS, NotFoundError)},
)
async def get_own_picture(caller: UserDep, service: ServiceDep, runtime: RuntimeDep) -> Response:
    """The caller's profile picture, as JPEG or PNG; any signed-in user."""
    return picture_response(await _picture_of(caller.subject, service, runtime))


@router.delete(
    "/account/picture",
    tags=["account"],
    status_code=204,
    response_class=Response,
    responses=error_responses(*ACCESS_ERRORS, NotFoundError),
)
async def delete_own_picture(caller: UserDep, runtime: RuntimeDep) -> Response:
    """Remove the caller's profile picture; any signed-in user."""
    if not await delete_picture(runtime.storage, caller.subject):
        raise NotFoundError("you have no picture")
    return Response(status_code=204)


@router.get(
    "/profiles/{clientid}/picture",
    tags=["profiles"],
    response_class=Response,
    responses={
        **PICTURE_CONTENT,
        **error_responses(*ACCESS_ERRORS, NotFoundError, InvalidInputError),
    },
)
async def get_profile_picture(
    clientid: ClientIdPath, caller: CallerDep, service: ServiceDep, runtime: RuntimeDep
) -> Response:
    """A profile's picture, as JPEG or PNG; managers, or the profile's own user."""
    if caller.subject != clientid and not await may_manage(caller, service):
        raise ForbiddenError("only a manager may see another user's picture")
    return picture_response(await _picture_of(clientid, service, runtime))
