"""The storage port on MongoDB, through pymongo's native async client."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from services.common.errors import ConflictError, UnavailableError
from services.common.storage.port import (
    Document,
    FilterValue,
    Point,
    check_filter,
    check_limit,
    check_name,
    check_points,
    document_id,
    unavailable_on,
)

# Port names start with a letter, so this prefix cannot meet a document collection.
_SERIES_PREFIX = "_series_"

_unavailable_when_unreachable = unavailable_on(ConnectionFailure, backend="mongodb")


class MongoStorage:
    """One MongoDB database: a collection per document collection and per series."""

    def __init__(self, client: AsyncMongoClient[Document], database: str) -> None:
        self._client = client
        self._db = client[database]
        self._indexed_series: set[str] = set()

    @classmethod
    async def open(cls, uri: str, database: str, *, timeout_s: float = 3.0) -> MongoStorage:
        """Connect to ``uri`` and check the server answers within ``timeout_s``."""
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri, serverSelectionTimeoutMS=int(timeout_s * 1000)
        )
        storage = cls(client, database)
        try:
            await storage.ping()
        except BaseException:
            await client.close()
            raise
        return storage

    @property
    def database_name(self) -> str:
        return self._db.name

    @_unavailable_when_unreachable
    async def get(self, collection: str, id: str) -> Document | None:
        raw = await self._documents(collection).find_one({"_id": id})
        return _from_mongo(raw) if raw is not None else None

    @_unavailable_when_unreachable
    async def list(
        self, collection: str, where: Mapping[str, Any] | None = None
    ) -> builtins.list[Document]:
        query = {
            "_id" if field == "id" else field: _equals(value)
            for field, value in check_filter(where).items()
        }
        raws = await self._documents(collection).find(query).sort("_id", ASCENDING).to_list(None)
        return [_from_mongo(raw) for raw in raws]

    @_unavailable_when_unreachable
    async def insert(self, collection: str, doc: Mapping[str, Any]) -> None:
        body = _to_mongo(doc)
        try:
            await self._documents(collection).insert_one(body)
        except DuplicateKeyError as exc:
            raise ConflictError(f"{collection}/{body['_id']} already exists") from exc

    async def upsert(self, collection: str, doc: Mapping[str, Any]) -> None:
        await self.upsert_many(collection, [doc])

    @_unavailable_when_unreachable
    async def upsert_many(self, collection: str, docs: Sequence[Mapping[str, Any]]) -> int:
        documents = self._documents(collection)
        bodies = [_to_mongo(doc) for doc in docs]
        if not bodies:
            return 0  # bulk_write refuses an empty batch
        # The replacement repeats "_id" because some servers otherwise upsert
        # under a fresh ObjectId instead of the filter's id.
        await documents.bulk_write(
            [ReplaceOne({"_id": body["_id"]}, body, upsert=True) for body in bodies]
        )
        return len(bodies)

    @_unavailable_when_unreachable
    async def delete(self, collection: str, id: str) -> bool:
        result = await self._documents(collection).delete_one({"_id": id})
        return result.deleted_count > 0

    @_unavailable_when_unreachable
    async def append(self, series: str, points: Sequence[tuple[float, Mapping[str, Any]]]) -> None:
        collection = self._series(series)
        rows = [{"t": t, "v": values} for t, values in check_points(points)]
        if not rows:
            return  # insert_many refuses an empty batch
        if series not in self._indexed_series:
            await collection.create_index("t")
            self._indexed_series.add(series)
        await collection.insert_many(rows)

    @_unavailable_when_unreachable
    async def range(
        self,
        series: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
    ) -> builtins.list[Point]:
        collection = self._series(series)
        if check_limit(limit) == 0:
            return []  # MongoDB reads limit 0 as "no limit"
        bounds: dict[str, float] = {}
        if start is not None:
            bounds["$gte"] = start
        if end is not None:
            bounds["$lt"] = end
        # Client-made ObjectIds grow, so _id breaks ties in insertion order.
        cursor = collection.find({"t": bounds} if bounds else {}, {"_id": False}).sort(
            [("t", ASCENDING), ("_id", ASCENDING)]
        )
        if limit is not None:
            cursor = cursor.limit(limit)
        return [(float(row["t"]), row["v"]) for row in await cursor.to_list(None)]

    async def ping(self) -> None:
        try:
            await self._client.admin.command("ping")
        except PyMongoError as exc:
            raise UnavailableError(f"mongodb unavailable: {exc}") from exc

    async def close(self) -> None:
        await self._client.close()

    def _documents(self, collection: str) -> AsyncCollection[Document]:
        return self._db[check_name(collection)]

    def _series(self, series: str) -> AsyncCollection[Document]:
        return self._db[_SERIES_PREFIX + check_name(series)]


def _to_mongo(doc: Mapping[str, Any]) -> Document:
    body = {"_id": document_id(doc)}
    body.update((key, value) for key, value in doc.items() if key != "id")
    return body


def _from_mongo(raw: Document) -> Document:
    doc = {"id": raw.pop("_id")}
    doc.update(raw)
    return doc


def _equals(value: FilterValue) -> Any:
    """A query on ``value`` that never lets booleans and numbers match each other.

    MongoDB keeps them apart already; the explicit ``$type`` holds servers that
    compare loosely (nx-27017 matches 1 against true) to the same rule.
    """
    if isinstance(value, bool):
        return {"$eq": value, "$type": "bool"}
    if isinstance(value, int | float):
        return {"$eq": value, "$type": "number"}
    return value
