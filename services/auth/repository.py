"""Profiles in storage: one document per clientid, tagged with the instance's NAME partition."""

from __future__ import annotations

from typing import Any

from services.auth.schemas import ProfilePublic
from services.common.errors import ConflictError
from services.common.storage import Document, Storage

PROFILES = "profiles"


class ProfileRepository:
    def __init__(self, storage: Storage, partition: str) -> None:
        self._storage = storage
        self._partition = partition

    def _document(self, profile: ProfilePublic) -> dict[str, Any]:
        return {
            "id": profile.clientid,
            "name": self._partition,
            **profile.model_dump(mode="json"),
        }

    @staticmethod
    def _profile(doc: Document) -> ProfilePublic:
        return ProfilePublic.model_validate(doc)

    async def get(self, clientid: str) -> ProfilePublic | None:
        doc = await self._storage.get(PROFILES, clientid)
        if doc is None or doc.get("name") != self._partition:
            return None
        return self._profile(doc)

    async def list_all(self) -> list[ProfilePublic]:
        docs = await self._storage.list(PROFILES, where={"name": self._partition})
        return [self._profile(doc) for doc in docs]

    async def insert(self, profile: ProfilePublic) -> None:
        """Store a new profile; ConflictError if its clientid is taken."""
        try:
            await self._storage.insert(PROFILES, self._document(profile))
        except ConflictError:
            raise ConflictError(f"profile {profile.clientid!r} exists") from None

    async def replace(self, profile: ProfilePublic) -> None:
        await self._storage.upsert(PROFILES, self._document(profile))

    async def delete(self, clientid: str) -> None:
        await self._storage.delete(PROFILES, clientid)
