"""Use cases of the auth service: read, create, replace and delete user profiles.

Tokens come later: then ``GET /api/login`` will take the caller from a verified
token's subject instead of from the request, and a login will be recorded in
``last_login``. Today a caller only claims an identity, so reading a profile
records nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from services.auth.repository import ProfileRepository
from services.auth.schemas import ProfileCreate, ProfilePublic, ProfileUpdate
from services.common.errors import InvalidInputError, NotFoundError


class ProfileService:
    def __init__(self, repository: ProfileRepository, now: Callable[[], datetime]) -> None:
        self.repository = repository
        self._now = now
        # A replace reads then writes; one write at a time so a delete cannot slip between.
        self._writes = asyncio.Lock()

    async def get(self, clientid: str) -> ProfilePublic:
        profile = await self.repository.get(clientid)
        if profile is None:
            raise NotFoundError(f"no profile {clientid!r}")
        return profile

    async def list_profiles(self) -> list[ProfilePublic]:
        return await self.repository.list_all()

    async def create(self, request: ProfileCreate) -> ProfilePublic:
        """Store a new profile; its ``last_login`` is now, whatever the request said."""
        profile = ProfilePublic(
            **request.model_dump(exclude={"last_login"}), last_login=self._now()
        )
        async with self._writes:
            await self.repository.insert(profile)
        return profile

    async def replace(self, clientid: str, request: ProfileUpdate) -> ProfilePublic:
        """New username and privileges for an existing profile; ``last_login`` is kept."""
        if request.clientid is not None and request.clientid != clientid:
            raise InvalidInputError(
                "clientid in the body differs from the path",
                detail=[{"field": "clientid", "message": f"expected {clientid!r} or none"}],
            )
        async with self._writes:
            current = await self.get(clientid)
            profile = ProfilePublic(
                **request.model_dump(exclude={"clientid", "last_login"}),
                clientid=clientid,
                last_login=current.last_login,
            )
            await self.repository.replace(profile)
        return profile

    async def delete(self, clientid: str) -> ProfilePublic:
        async with self._writes:
            profile = await self.get(clientid)
            await self.repository.delete(clientid)
        return profile
